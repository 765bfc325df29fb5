"""Every experiment config composes as fairseq-hydra-train composes it and builds its full-size model (on the meta
device: no memory), criterion, optimizer and schedule; its header states the GPU count and batch that the resolved
config gives; its smoke overrides touch only sizes and step counts."""
import copy
import functools
import os
import re

import pytest
import torch
from fairseq import optim, tasks
from fairseq.dataclass.initialize import add_defaults, hydra_init
from fairseq.optim import lr_scheduler
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from memattn_fairseq.recipes import experiments

EXPERIMENTS = [(task, model) for task, spec in experiments.TASKS.items() for model in spec.experiments]
WIKITEXT103_VOCAB = 267744  # fairseq-preprocess's dictionary of WikiText-103, special symbols included
WMT_VOCAB = 32768  # the joined 32k BPE dictionary of the Scaling-NMT data
# parameters (and tolerance) of fairseq's baselines as published: Baevski & Auli's 247M; Vaswani et al.'s big 213M,
# whose vocabulary (37k) was larger than this one
PUBLISHED_SIZES = {("wikitext103", "transformer"): (247e6, 0.01), ("wmt_en_de", "transformer_big"): (213e6, 0.03)}


def _dictionary(path: str, size: int) -> None:
    with open(path, "w") as f:
        f.writelines(f"w{i} {size - i}\n" for i in range(size - 4))  # + bos, pad, eos, unk


@pytest.fixture(scope="module")
def data_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("dicts")
    os.makedirs(root / "lm")
    _dictionary(str(root / "lm" / "dict.txt"), WIKITEXT103_VOCAB)
    os.makedirs(root / "mt")
    for lang in ("en", "de"):
        _dictionary(str(root / "mt" / f"dict.{lang}.txt"), WMT_VOCAB)
    return {"wikitext103": str(root / "lm"), "wmt_en_de": str(root / "mt")}


@functools.lru_cache(maxsize=None)
def compose_experiment(task: str, model: str, smoke: bool = False):
    """The config fairseq-hydra-train would run (fairseq_cli/hydra_train.py and train.main, in that order); shared
    between tests, so treat it as read-only."""
    hydra_init()  # fairseq's config sections (the experiment configs load them by name)
    overrides = ["task.data=unset", *(experiments.smoke_overrides(task, model) if smoke else [])]
    with initialize_config_dir(config_dir=experiments.CONFIGS, version_base=None):
        cfg = compose(experiments.config_name(task, model), overrides=overrides)
    add_defaults(cfg)
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    OmegaConf.set_struct(cfg, True)
    add_defaults(cfg)
    return cfg


def build(cfg, data: str):
    cfg = copy.deepcopy(cfg)
    cfg.task.data = data
    task = tasks.setup_task(cfg.task)
    with torch.device("meta"):
        model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    optimizer = optim.build_optimizer(cfg.optimizer, list(model.parameters()))
    schedule = lr_scheduler.build_lr_scheduler(cfg.lr_scheduler, optimizer)
    return model, criterion, optimizer, schedule


def header(task: str, model: str) -> str:
    with open(experiments.config_path(task, model)) as f:
        return "".join(line for line in f if line.startswith("#"))


@pytest.mark.parametrize("task, model", EXPERIMENTS, ids=[f"{t}/{m}" for t, m in EXPERIMENTS])
def test_config_builds_its_full_size_model(task, model, data_dirs):
    cfg = compose_experiment(task, model)
    built, criterion, optimizer, schedule = build(cfg, data_dirs[task])
    params = sum(p.numel() for p in built.parameters())
    assert params > 40_000_000  # full size, not a smoke size
    if (task, model) in PUBLISHED_SIZES:  # fairseq's baselines against their papers
        assert abs(params / PUBLISHED_SIZES[task, model][0] - 1) < PUBLISHED_SIZES[task, model][1]
    assert cfg.common.fp16 and not cfg.common.cpu
    assert cfg.checkpoint.save_dir == f"checkpoints/{task}/{model}"
    assert cfg.checkpoint.load_checkpoint_on_all_dp_ranks
    if task == "wikitext103":
        assert type(criterion).__name__ == "AdaptiveLoss" and cfg.distributed_training.ddp_backend == "legacy_ddp"
        assert cfg.optimization.max_update in (200000, 286000)
    else:
        assert type(criterion).__name__ == "LabelSmoothedCrossEntropyCriterion" and criterion.eps == 0.1
        assert cfg.model.share_all_embeddings and cfg.task.source_lang == "en" and cfg.task.target_lang == "de"
        # one checkpoint per epoch, several kept: what averaging reads
        assert not cfg.checkpoint.no_epoch_checkpoints and cfg.checkpoint.keep_last_epochs >= 5


def test_variants_differ_from_their_baseline_in_attention_only():
    lm = {m: compose_experiment("wikitext103", m) for m in ("transformer", "abc_linformer")}
    assert lm["abc_linformer"].model.abc_control == "linformer"
    assert lm["abc_linformer"].model.abc_linformer_max_len == lm["abc_linformer"].task.tokens_per_sample == 512
    for section in ("optimization", "optimizer", "lr_scheduler", "dataset", "task"):
        assert lm["transformer"][section] == lm["abc_linformer"][section], section
    for size in ("base", "big"):
        mt = {m: compose_experiment("wmt_en_de", f"{m}_{size}") for m in ("transformer", "abc")}
        for section in ("optimization", "optimizer", "lr_scheduler", "dataset", "criterion"):
            assert mt["transformer"][section] == mt["abc"][section], (size, section)


_BATCH = re.compile(r"^# GPUs: (\d+) x max_tokens (\d+) x update_freq (\d+) = ([\d,]+) tokens per update$", re.M)
_STREAMS = re.compile(
    r"^# GPUs: (\d+) x batch_size (\d+) streams x tokens_per_sample (\d+) = ([\d,]+) tokens per update$", re.M)


@pytest.mark.parametrize("task, model", EXPERIMENTS, ids=[f"{t}/{m}" for t, m in EXPERIMENTS])
def test_header_states_gpus_and_batch_of_the_resolved_config(task, model):
    text = header(task, model)
    assert text.startswith("# @package _global_\n")
    assert "# Source: " in text and "# Fewer GPUs: keep GPUs x " in text
    assert f"scripts/train_{task}.sh {model}" in text
    cfg = compose_experiment(task, model)
    batch, streams = _BATCH.search(text), _STREAMS.search(text)
    if batch:
        n, max_tokens, update_freq, total = batch.groups()
        assert (int(max_tokens), [int(update_freq)]) == (cfg.dataset.max_tokens, list(cfg.optimization.update_freq))
        assert int(n) * int(max_tokens) * int(update_freq) == int(total.replace(",", ""))
        keep = re.search(r"keep GPUs x update_freq = (\d+) ", text)
        assert keep and int(keep.group(1)) == int(n) * int(update_freq)
    else:
        assert streams, "no '# GPUs: ...' line of either form"
        n, batch_size, tokens, total = streams.groups()
        assert (int(batch_size), int(tokens)) == (cfg.dataset.batch_size, cfg.task.tokens_per_sample)
        assert cfg.optimization.update_freq == [1]
        assert int(n) * int(batch_size) * int(tokens) == int(total.replace(",", ""))


SIZE_OR_STEP = re.compile(
    r"^(model\.\w+|task\.tokens_per_sample|dataset\.(max_tokens|batch_size)|"
    r"optimization\.(max_update|max_epoch|update_freq)|lr_scheduler\.(warmup_updates|lr_period_updates))=")
SIZE_WORDS = ("layers", "dim", "heads", "slots", "cutoff", "segment_length", "chunk_size")


@pytest.mark.parametrize("task, model", EXPERIMENTS, ids=[f"{t}/{m}" for t, m in EXPERIMENTS])
def test_smoke_overrides_change_sizes_and_steps_only(task, model):
    overrides = experiments.smoke_overrides(task, model)
    for override in overrides:
        assert SIZE_OR_STEP.match(override), override
        if override.startswith("model."):
            assert any(word in override.split("=")[0] for word in SIZE_WORDS), override
    full, smoke = compose_experiment(task, model), compose_experiment(task, model, smoke=True)
    for section in ("criterion", "optimizer"):
        assert full[section] == smoke[section], section
    assert full.model._name == smoke.model._name and full.task._name == smoke.task._name


def test_registry_and_config_folders_agree():
    for task, spec in experiments.TASKS.items():
        files = {name[:-5] for name in os.listdir(os.path.join(experiments.CONFIGS, task))
                 if name.endswith(".yaml") and not name.startswith("_")}
        assert files == set(spec.experiments), task
    shared = [open(os.path.join(experiments.CONFIGS, task, "_fairseq.yaml")).read().replace(task, "TASK")
              for task in experiments.TASKS]
    assert shared[0] == shared[1]  # the two copies of the shared base stay the same


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(experiments.UsageError, match="unknown model 'abc'; choose one of: transformer, abc_mlp"):
        experiments.smoke_overrides("wikitext103", "abc")
