"""The paper experiments: their Hydra configs, default paths and smoke overrides, and the training command.

Each experiment is one model of ``memattn_fairseq/model_list.py`` (at the task's sizes: WMT's ``_base`` and
``_big``) that has a primary config, ``configs/<task>/<experiment>.yaml``; its header states the GPU count it assumes
(``# GPUs: N x ...``). ``--smoke`` runs the same config on the CPU with only sizes and step counts overridden: a
tiny model of the entry's kind, every memory option at 8 slots.

``scripts/train_wikitext103.sh`` and ``scripts/train_wmt_en_de.sh`` run this file by path (standard library only,
so it answers before fairseq would have imported) to build the fairseq-hydra-train command:

    python memattn_fairseq/recipes/experiments.py train-command TASK PROG MODEL [--smoke] [--data DIR]
        [--save-dir DIR] [--nproc N] [-- HYDRA_OVERRIDES...]

prints the number of processes to start, then the command, one argument per line (exit status 2 and one
``PROG: error:`` line for bad input). With --nproc N the command is one CPU rank of fairseq's own distributed
training; the script starts N of them, adding each one's ``RANK_KEY`` and a shared ``RENDEZVOUS_KEY``.
"""
import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = os.path.join(REPO, "configs")

# ---- smoke overrides: a tiny model and a few updates (the CPU settings are added by train_command) ----------------
_TINY_DECODER = ("model.decoder_layers=2", "model.decoder_embed_dim=32", "model.decoder_input_dim=32",
                 "model.decoder_output_dim=32", "model.decoder_ffn_embed_dim=64", "model.decoder_attention_heads=4")
_TINY_ADAPTIVE = ("model.adaptive_input_cutoff='50,100'", "model.adaptive_softmax_cutoff='50,100'")
_FEW_LM_UPDATES = ("task.tokens_per_sample=64", "dataset.max_tokens=512", "optimization.update_freq=[1]",
                   "optimization.max_update=8", "lr_scheduler.warmup_updates=2", "lr_scheduler.lr_period_updates=6")
_SMOKE_ADAPTIVE_LM = _TINY_DECODER + _TINY_ADAPTIVE + _FEW_LM_UPDATES
_SMOKE_MEMFORMER = ("model.encoder_layers=1", "model.decoder_layers=2", "model.encoder_embed_dim=32",
                    "model.decoder_embed_dim=32", "model.encoder_ffn_embed_dim=64", "model.decoder_ffn_embed_dim=64",
                    "model.encoder_attention_heads=4", "model.decoder_attention_heads=4",
                    "model.memformer_segment_length=8", "model.adaptive_softmax_cutoff='50,100'",
                    "task.tokens_per_sample=32", "dataset.batch_size=4", "optimization.update_freq=[1]",
                    "optimization.max_update=8")
# Two epochs, so that averaging finds two epoch checkpoints; no update limit (the smoke corpus is small).
_SMOKE_MT = ("model.encoder_layers=2", "model.decoder_layers=2", "model.encoder_embed_dim=32",
             "model.decoder_embed_dim=32", "model.encoder_ffn_embed_dim=64", "model.decoder_ffn_embed_dim=64",
             "model.encoder_attention_heads=4", "model.decoder_attention_heads=4", "dataset.max_tokens=1024",
             "optimization.update_freq=[1]", "optimization.max_update=0", "optimization.max_epoch=2",
             "lr_scheduler.warmup_updates=4")
SMOKE_SLOTS = 8


def _load_model_list():
    """``memattn_fairseq/model_list.py``, loaded by path: this file answers before the package (and fairseq) would
    have been imported."""
    spec = importlib.util.spec_from_file_location("memattn_fairseq_model_list", os.path.join(REPO, "memattn_fairseq",
                                                                                             "model_list.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


model_list = _load_model_list()


@dataclass(frozen=True)
class Task:
    """One benchmark: where its data and checkpoints go, and which of the model list's kinds and sizes it trains."""
    name: str
    script: str
    data: str
    smoke_data: str
    prepare: str
    kind: str  # the model list's "lm" or "mt"
    sizes: Tuple[str, ...]  # experiment name = model name + size
    smoke: Tuple[str, ...]  # overrides of a tiny model and a few updates
    smoke_stream: Tuple[str, ...] = ()  # the same for models trained as streams (Memformer)

    @property
    def experiments(self) -> Dict[str, object]:
        """Experiment name -> its model list entry, for every entry with a config of this task."""
        found = {}
        for entry in model_list.models(self.kind):
            for size in self.sizes:
                if os.path.exists(config_path(self.name, entry.name + size)):
                    found[entry.name + size] = entry
        return found


TASKS = {
    "wikitext103": Task(
        name="wikitext103", script="scripts/train_wikitext103.sh", data="data-bin/wikitext-103",
        smoke_data="runs/smoke/data-bin/wikitext-103", prepare="scripts/prepare_wikitext103.sh", kind="lm",
        sizes=("",), smoke=_SMOKE_ADAPTIVE_LM, smoke_stream=_SMOKE_MEMFORMER,
    ),
    "wmt_en_de": Task(
        name="wmt_en_de", script="scripts/train_wmt_en_de.sh", data="data-bin/wmt16_en_de",
        smoke_data="runs/smoke/data-bin/wmt16_en_de", prepare="scripts/prepare_wmt_en_de.sh", kind="mt",
        sizes=("_base", "_big"), smoke=_SMOKE_MT,
    ),
}


class UsageError(ValueError):
    """Bad input to a training script: printed as one ``PROG: error:`` line, exit status 2."""


def config_name(task: str, model: str) -> str:
    """The Hydra config name of an experiment (``--config-name`` under ``--config-dir configs``)."""
    return f"{task}/{model}"


def config_path(task: str, model: str) -> str:
    return os.path.join(CONFIGS, task, f"{model}.yaml")


def check_model(task: str, model: Optional[str]) -> None:
    names = ", ".join(TASKS[task].experiments)
    if not model:
        raise UsageError(f"missing MODEL; choose one of: {names}")
    if model not in TASKS[task].experiments:
        raise UsageError(f"unknown model {model!r}; choose one of: {names}")


def smoke_overrides(task: str, model: str) -> List[str]:
    """Hydra overrides that shrink the experiment to a tiny model and a few updates."""
    check_model(task, model)
    spec = TASKS[task]
    entry = spec.experiments[model]
    overrides = spec.smoke_stream if entry.stream else spec.smoke
    return [*overrides, *(f"model.{name}={SMOKE_SLOTS}" for name in entry.memory_options)]


# ---- the training command ------------------------------------------------------------------------------------------
# CPU runs (--smoke, --nproc) train in fp32.
FP32 = ("common.fp16=false",)
ONE_CPU_PROCESS = ("common.cpu=true", "distributed_training.distributed_world_size=1")
RANK_KEY = "distributed_training.distributed_rank"
RENDEZVOUS_KEY = "distributed_training.distributed_init_method"
# Keys that --nproc sets (a user value would fight the ranks' rendezvous), and the DDP wrappers that accept CPU
# modules (torch's DDP refuses them once fairseq hands it a device id).
NPROC_KEYS = ("distributed_training.distributed_world_size", "distributed_training.distributed_no_spawn",
              "distributed_training.distributed_backend", RANK_KEY, RENDEZVOUS_KEY, "distributed_training.device_id")
CPU_DDP_BACKENDS = ("legacy_ddp", "no_c10d")


def cpu_rank_overrides(nproc: int) -> List[str]:
    """What makes fairseq-hydra-train one of ``nproc`` CPU processes, short of its rank and rendezvous."""
    return ["common.cpu=true", f"distributed_training.distributed_world_size={nproc}",
            "distributed_training.distributed_no_spawn=true", "distributed_training.distributed_backend=gloo",
            "distributed_training.ddp_backend=legacy_ddp"]


def _check_nproc_overrides(overrides: List[str]) -> None:
    for arg in overrides:
        key, _, value = arg.partition("=")
        key, value = key.lstrip("+~"), value.strip("'\"")
        if key in NPROC_KEYS:
            raise UsageError(f"{key} is set by --nproc; leave it out")
        if key == "distributed_training.ddp_backend" and value not in CPU_DDP_BACKENDS:
            raise UsageError(f"{key}={value} cannot train CPU processes (torch's DDP is given a device id); "
                             f"leave it out (--nproc uses legacy_ddp)")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def _parse(prog: str, argv: List[str]) -> Tuple[argparse.Namespace, List[str]]:
    """Split ``argv`` at ``--``: the script's own options before, Hydra overrides after."""
    own, overrides = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    parser.add_argument("model", nargs="?")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--data")
    parser.add_argument("--save-dir")
    parser.add_argument("--nproc")
    args = parser.parse_args(own)
    return args, overrides


def _nproc(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--nproc must be an integer >= 1, got {value!r}")
    return int(value)


def _data_dir(task: Task, given: Optional[str], smoke: bool) -> str:
    data = os.path.abspath(given) if given else os.path.join(REPO, task.smoke_data if smoke else task.data)
    if not os.path.isdir(data) or not any(n.startswith("dict") and n.endswith(".txt") for n in os.listdir(data)):
        hint = f"bash {task.prepare}{' --smoke' if smoke else ''}"
        raise UsageError(f"--data {data}: no binarised data there (make it with: {hint})")
    return data


def _path_override(key: str, path: str) -> str:
    """``key='path'``: quoted, so that Hydra reads commas, spaces or '=' in a path as part of it."""
    return f"{key}='" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def processes(prog: str, argv: List[str]) -> int:
    """How many fairseq-hydra-train processes a training script starts: --nproc, else 1."""
    return _nproc(_parse(prog, argv)[0].nproc) or 1


def train_command(task_name: str, prog: str, argv: List[str]) -> List[str]:
    """The fairseq-hydra-train command for a training script's arguments (with --nproc N: that of each rank)."""
    task = TASKS[task_name]
    args, overrides = _parse(prog, argv)
    check_model(task_name, args.model)
    nproc = _nproc(args.nproc)
    for arg in overrides:
        if "\n" in arg:
            raise UsageError(f"override {arg!r} holds a line break")
    if nproc is not None and nproc > 1:
        _check_nproc_overrides(overrides)
    default_save = os.path.join("runs/smoke/checkpoints" if args.smoke else "checkpoints", task_name, args.model)
    save_dir = os.path.abspath(args.save_dir) if args.save_dir else os.path.join(REPO, default_save)
    hydra_args = [
        "--config-dir", CONFIGS, "--config-name", config_name(task_name, args.model),
        _path_override("task.data", _data_dir(task, args.data, args.smoke)),
        _path_override("checkpoint.save_dir", save_dir),
        _path_override("common.user_dir", os.path.join(REPO, "memattn_fairseq")),
    ]
    if args.smoke or nproc is not None:
        hydra_args += FP32 + (ONE_CPU_PROCESS if (nproc or 1) == 1 else tuple(cpu_rank_overrides(nproc)))
    if args.smoke:
        hydra_args += smoke_overrides(task_name, args.model)
    hydra_args += overrides  # last: Hydra keeps the last value of a key
    return [os.path.join(os.path.dirname(sys.executable), "fairseq-hydra-train"), *hydra_args]


def main(argv: List[str]) -> int:
    if len(argv) < 3 or argv[0] != "train-command" or argv[1] not in TASKS:
        print(f"usage: experiments.py train-command {{{','.join(TASKS)}}} PROG [script arguments]", file=sys.stderr)
        return 2
    task_name, prog = argv[1], argv[2]
    try:
        command = train_command(task_name, prog, argv[3:])
        count = processes(prog, argv[3:])
    except UsageError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    print("\n".join([str(count), *command]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
