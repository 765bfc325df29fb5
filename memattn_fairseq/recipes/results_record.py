"""The JSON record of one evaluated run (``RESULTS/<task>/<NAME>.json``), written by scripts/evaluate_{lm,mt}.sh.

It gathers, for one model: what the checkpoint is (arch, fairseq task, parameters, attention memory, updates), the
scores read from the fairseq tools' logs (perplexities and eval speed from fairseq-eval-lm; sacreBLEU,
compound-split BLEU and decoding speed from fairseq-generate), the decoding-state size (state_size.py), the
evaluation settings, and where the numbers come from (scale, hardware, data), so a table can say so.

    python -m memattn_fairseq.recipes.results_record lm --name abc_lm --data DATA --checkpoint CKPT \\
        --log valid=valid.log --log test=test.log --tokens-per-sample 512 --context-window 400 --out rec.json
    python -m memattn_fairseq.recipes.results_record mt --name abc_mt --data DATA --checkpoint avg.pt \\
        --averaged a.pt b.pt --log test=generate-test.log --beam 4 --lenpen 0.6 --out rec.json
"""
import argparse
import datetime
import json
import os
import platform
import re
from typing import Dict, List

import torch

from ..errors import check
from . import bleu, checkpoint_info, state_size
from .eval_lm_log import read_eval_lm_log
from .generation_log import read_generate_log

SCHEMA = "memattn-results/1"
TASKS = {"lm": "wikitext103", "mt": "wmt_en_de"}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_info(device: torch.device, smoke: bool, data: str) -> Dict:
    """Where the numbers come from: scale, hardware, software, data."""
    if device.type == "cuda":
        hardware = f"GPU: {torch.cuda.get_device_name(device)}"
    else:
        hardware = f"CPU: {cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    import fairseq

    return {
        "scale": "smoke" if smoke else "full",
        "hardware": hardware,
        "device": device.type,
        "data": os.path.abspath(data),
        "torch": torch.__version__,
        "fairseq": getattr(fairseq, "__version__", "unknown"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def model_info(checkpoint: str, model) -> Dict:
    info = checkpoint_info.describe(checkpoint)
    return {
        "arch": info["arch"],
        "fairseq_task": info["task"],
        "params": sum(p.numel() for p in model.parameters()),
        "memory": info["memory"],
        "memory_label": info["memory_label"],
        "num_updates": info["num_updates"],
    }


def parse_logs(pairs: List[str]) -> Dict[str, str]:
    """['valid=path', 'test=path'] -> {'valid': path, 'test': path}"""
    logs = {}
    for pair in pairs:
        subset, sep, path = pair.partition("=")
        check(bool(sep and subset and path), f"--log takes SUBSET=PATH, got {pair!r}")
        logs[subset] = path
    check("test" in logs, "--log test=PATH is required")
    return logs


def lm_metrics(logs: Dict[str, str]) -> Dict[str, Dict]:
    metrics = {}
    for subset, path in logs.items():
        found = read_eval_lm_log(path)
        keys = ("ppl", "loss_base2", "tokens", "seconds", "tokens_per_s")
        metrics[subset] = {k: found[k] for k in keys if k in found}
    return metrics


def mt_metrics(logs: Dict[str, str], references: Dict[str, str]) -> Dict[str, Dict]:
    metrics = {}
    for subset, path in logs.items():
        check(os.path.isfile(references[subset]), f"reference file {references[subset]} does not exist "
                                                   f"(the data directory needs raw/{subset}.<target language>)")
        refs = bleu.read_lines(references[subset])
        log = read_generate_log(path)
        hyps = log.ordered(len(refs))
        check(len(log.detokenized) == len(refs), f"{path} translates {len(log.detokenized)} sentences but "
                                                 f"{references[subset]} has {len(refs)}: they are not the same set")
        scores = bleu.score(hyps, refs)
        metrics[subset] = {
            "sacrebleu": scores["sacrebleu"]["score"],
            "sacrebleu_signature": scores["sacrebleu"]["signature"],
            "compound_split_bleu": scores["compound_split_bleu"]["score"],
            "compound_split_bleu_signature": scores["compound_split_bleu"]["signature"],
            "bleu_detail": {"sacrebleu": scores["sacrebleu"]["text"],
                            "compound_split_bleu": scores["compound_split_bleu"]["text"]},
            **log.speed,
        }
    return metrics


def build_record(args) -> Dict:
    check(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", args.name) is not None,
          f"--name {args.name!r}: use letters, digits and . _ + - only (it names the record file)")
    logs = parse_logs(args.log)
    if args.kind == "lm":
        metrics = lm_metrics(logs)
        evaluation = {"fairseq_task": args.fairseq_task, "tokens_per_sample": args.tokens_per_sample,
                      "context_window": args.context_window, "logs": logs}
    else:
        references = {s: os.path.join(args.data, "raw", f"{s}.{args.target_lang}") for s in logs}
        metrics = mt_metrics(logs, references)
        evaluation = {"beam": args.beam, "lenpen": args.lenpen, "post_process": "sentencepiece",
                      "references": references, "logs": logs}
    model, task = state_size.load_model(args.checkpoint, args.data, args.cpu)
    translation = args.kind == "mt"
    state = {
        "bytes": state_size.decoding_state_bytes(model, task, args.state_steps,
                                                 args.state_source_length if translation else None),
        "steps": args.state_steps,
        "source_length": args.state_source_length if translation else None,
        "dtype": str(next(model.parameters()).dtype).replace("torch.", ""),
    }
    record = {
        "schema": SCHEMA,
        "task": TASKS[args.kind],
        "name": args.name,
        "model": model_info(args.checkpoint, model),
        "checkpoint": os.path.abspath(args.checkpoint),
        "eval": evaluation,
        "metrics": metrics,
        "state": state,
        "run": run_info(state_size.device_of(model), args.smoke, args.data),
    }
    if translation:
        record["averaged"] = [os.path.abspath(p) for p in args.averaged]
    return record


def write_record(record: Dict, path: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".partial", "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    os.replace(path + ".partial", path)


def summary(record: Dict) -> str:
    metrics = record["metrics"]
    if record["task"] == "wikitext103":
        scores = ", ".join(f"{s} ppl {m['ppl']:.2f}" for s, m in metrics.items())
    else:
        scores = ", ".join(f"{s} sacreBLEU {m['sacrebleu']:.2f} ({m['sacrebleu_signature']}) / compound-split "
                           f"{m['compound_split_bleu']:.2f} (13a tokens, {m['compound_split_bleu_signature']})"
                           for s, m in metrics.items())
    return (f"{record['name']}: {scores}; {record['model']['params']:,} params; "
            f"state {record['state']['bytes']:,} bytes after {record['state']['steps']} steps")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = parser.add_subparsers(dest="kind", required=True)
    for kind in ("lm", "mt"):
        what = "language model (WikiText-103)" if kind == "lm" else "translation (WMT En-De)"
        sub = kinds.add_parser(kind, help=what)
        sub.add_argument("--name", required=True, help="the run's name in tables and the record's file name")
        sub.add_argument("--data", required=True, help="binarised data directory the run was evaluated on")
        sub.add_argument("--checkpoint", required=True, help="the evaluated checkpoint (MT: the averaged one)")
        sub.add_argument("--log", action="append", default=[], metavar="SUBSET=PATH",
                         help="log of fairseq-eval-lm (LM) or output of fairseq-generate (MT) on SUBSET")
        sub.add_argument("--out", required=True, help="record file to write")
        sub.add_argument("--state-steps", type=int, default=512, help="decoding steps before the state is measured")
        sub.add_argument("--smoke", action="store_true", help="the run is a smoke run (tiny data and model)")
        sub.add_argument("--cpu", action="store_true", help="the run used the CPU although a GPU is present")
        if kind == "lm":
            sub.add_argument("--fairseq-task", default="language_modeling")
            sub.add_argument("--tokens-per-sample", type=int, required=True)
            sub.add_argument("--context-window", type=int, default=0)
        else:
            sub.add_argument("--averaged", nargs="*", default=[], help="the checkpoints that were averaged")
            sub.add_argument("--beam", type=int, required=True)
            sub.add_argument("--lenpen", type=float, required=True)
            sub.add_argument("--target-lang", default="de", help="references are DATA/raw/<subset>.<target-lang>")
            sub.add_argument("--state-source-length", type=int, default=64,
                             help="source tokens encoded before the state is measured")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    record = build_record(args)
    write_record(record, args.out)
    print(summary(record))


if __name__ == "__main__":
    main()
