"""A study's transformer converted into bounded models: validation perplexity (LM) or greedy sacreBLEU (MT)
against finetuning updates.

    python -m memattn_fairseq.study.conversion data-bin/kernel-docs --study runs/study/lm-core --seed 1 \\
        --models abc_mlp64,memsizer32 --finetune-updates 40 --transfer-updates 100
    python -m memattn_fairseq.study.conversion data-bin/gettext-en-fr --task mt --study runs/study/mt-core \\
        --models abc_mlp_decoder,memsizer_decoder

It reads a finished quality study (``python -m memattn_fairseq.study lm|mt ...``) and, for each bounded model,
compares four arms at equal extra budget (K = --finetune-updates; default 10% of the teacher's updates):

    teacher   the study's transformer (seed S), the source of every conversion
    direct    converted (python -m memattn_fairseq.conversion: every shared weight copied), finetuned K updates
    transfer  converted with --transfer-updates of attention transfer, finetuned K updates
    scratch   the study's own run of the bounded model (seed S) trained K updates further; the inverse-sqrt schedule
              does not depend on the length, so this is the model trained from scratch for the teacher's budget + K

Finetuning uses the study's budget (size, optimiser, batch) with peak lr the teacher's final lr, warmup K/4 and a
validation every K/4 updates; update 0 is scored by fairseq-validate (for MT with the study's greedy sacreBLEU, as
in training). Results: OUT/results.csv (one row a validation) and OUT/summary.md (default OUT: STUDY/conversion). Started again, it skips what is done and resumes.
"""
import argparse
import csv
import dataclasses
import json
import math
import re
import sys
from pathlib import Path
from typing import Dict, List

from ..checkpointing.atomic_write import copy_atomically
from ..errors import check
from ..recipes.text_preprocess import fairseq_tool
from .budgets import BUDGETS, Budget
from .runner import MT_TASK_FLAGS, Run, curve, run_tool, train_command
from .variants import VARIANTS

CONTEXT = {"lm": 512, "mt": 0}  # the LM study's core context; translation has none
METRIC = {"lm": "valid_ppl", "mt": "valid_bleu"}
DEFAULT_MODELS = {"lm": "abc_mlp64,memsizer32", "mt": "abc_mlp_decoder,memsizer_decoder"}
ARMS = ("teacher", "direct", "transfer", "scratch")
VALID_SCORE = {"lm": re.compile(r"valid on 'valid' subset \| loss [\d.]+ \| ppl ([\d.]+)"),
               "mt": re.compile(r"valid on 'valid' subset \|.* \| bleu ([\d.]+)")}
USER_DIR = str(Path(__file__).resolve().parents[1])


def valid_score(task: str, checkpoint: Path, data: Path, budget: Budget, device: str, log_path: Path) -> float:
    """Validation perplexity (LM) or greedy sacreBLEU (MT) of ``checkpoint``, through fairseq-validate."""
    task_flags = MT_TASK_FLAGS if task == "mt" else ("--task", "language_modeling")
    out = run_tool([fairseq_tool("fairseq-validate"), str(data), "--user-dir", USER_DIR, "--path", str(checkpoint),
                    *task_flags, *budget.batch_flags(task, CONTEXT[task]), "--valid-subset", "valid",
                    "--required-batch-size-multiple", "1",  # fairseq's default 8 drops sentences (issue 5036)
                    *(("--cpu",) if device == "cpu" else ())], "fairseq-validate", log_path)
    found = VALID_SCORE[task].findall(out)
    check(bool(found), f"fairseq-validate printed no {METRIC[task]}: see {log_path}")
    return float(found[-1])


def finetune_budget(budget: Budget, updates: int) -> Budget:
    """The study's budget for K updates from a converted model: peak lr the teacher's final lr (inverse sqrt)."""
    final_lr = budget.lr * math.sqrt(budget.warmup / max(budget.warmup, budget.updates))
    quarter = max(1, updates // 4)
    return dataclasses.replace(budget, updates=updates, lr=final_lr, warmup=quarter, validate_every=quarter)


def _train(task: str, command: List[str], log_path: Path) -> List[dict]:
    run_tool(command, "fairseq-train", log_path)
    return curve(log_path, task)


def converted_arm(arm: str, teacher: Path, model: str, data: Path, budget: Budget, args, out: Path) -> List[dict]:
    """[{update, metric}] of a converted model (direct or transfer) from update 0 to K of finetuning."""
    arm_dir = out / f"{model}-{arm}"
    arm_dir.mkdir(parents=True, exist_ok=True)
    variant = VARIANTS[args.task][model]
    converted = arm_dir / "converted.pt"
    if not converted.exists():
        transfer = ["--transfer-updates", str(args.transfer_updates), "--transfer-max-tokens",
                    str(budget.tokens_per_update)] if arm == "transfer" else []
        arch = variant.flags.index("--arch")  # the flags: --task T --arch A [options]
        run_tool([sys.executable, "-m", "memattn_fairseq.conversion", str(teacher), str(converted), "--to",
                  *variant.flags[arch + 1:], "--data", str(data), "--seed", str(args.seed), *transfer,
                  *(("--cpu",) if args.device == "cpu" else ())], "the conversion", arm_dir / "convert.log")
    start_path = arm_dir / "start_score.txt"  # scored once: a restarted study does not validate it again
    if not start_path.exists():
        score = valid_score(args.task, converted, data, budget, args.device, arm_dir / "validate.log")
        start_path.write_text(f"{score}\n")
    start = float(start_path.read_text())
    tune = finetune_budget(budget, args.finetune_updates)
    run = Run(args.task, variant, CONTEXT[args.task], args.seed)
    command = train_command(run, data, tune, arm_dir / "checkpoints", args.device)
    points = _train(args.task, command + ["--finetune-from-model", str(converted)], arm_dir / "train.log")
    return [{"update": 0, "metric": start}] + points


def finished_run(task: str, study: Path, model: str, seed: int) -> tuple:
    """(run, its folder, its result) of the study's finished run of ``model``."""
    run = Run(task, VARIANTS[task][model], CONTEXT[task], seed)
    run_dir = study / "runs" / run.name
    check((run_dir / "result.json").exists(), f"--study {study}: run {run.name} has not finished")
    return run, run_dir, json.loads((run_dir / "result.json").read_text())


def scratch_arm(model: str, study: Path, data: Path, budget: Budget, args, out: Path) -> List[dict]:
    """The study's bounded run trained K updates further, from a copy of its last checkpoint."""
    run, source, result = finished_run(args.task, study, model, args.seed)
    arm_dir = out / f"{model}-scratch"
    checkpoints = arm_dir / "checkpoints"
    if not (checkpoints / "checkpoint_last.pt").exists():
        checkpoints.mkdir(parents=True, exist_ok=True)
        copy_atomically(str(source / "checkpoints" / "checkpoint_last.pt"), str(checkpoints / "checkpoint_last.pt"))
    longer = dataclasses.replace(budget, updates=budget.updates + args.finetune_updates,
                                 validate_every=max(1, args.finetune_updates // 4))
    points = _train(args.task, train_command(run, data, longer, checkpoints, args.device), arm_dir / "train.log")
    later = [{"update": p["update"] - budget.updates, "metric": p["metric"]} for p in points
             if p["update"] > budget.updates]
    return [{"update": 0, "metric": result["valid"]}] + later


def write_summary(task: str, rows: List[dict], out: Path, command: str, teacher_updates: int) -> Path:
    """results.csv (one row a validation) and summary.md: the score against extra updates, and at the last update
    the ratio to the teacher's perplexity (LM) or the difference to its BLEU (MT)."""
    metric = METRIC[task]
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ("model", "arm", "update", metric))
        writer.writeheader()
        writer.writerows({**{k: r[k] for k in ("model", "arm", "update")}, metric: r["score"]} for r in rows)
    teacher = next(r["score"] for r in rows if r["arm"] == "teacher")
    updates = sorted({r["update"] for r in rows if r["arm"] != "teacher"})
    what, last_column = (("perplexity", "ratio to teacher") if task == "lm" else ("greedy sacreBLEU", "BLEU − teacher"))
    lines = [f"# Converting the transformer (valid {what} {teacher:.2f} after {teacher_updates} updates)", "",
             f"`{command}`", "", f"Validation {what} against extra updates ({last_column} at the last column).", "",
             "| model | arm | " + " | ".join(f"+{u}" for u in updates) + f" | {last_column} |",
             "|---|---|" + "---|" * (len(updates) + 1)]
    for model in dict.fromkeys(r["model"] for r in rows if r["arm"] != "teacher"):
        for arm in ARMS[1:]:
            found = {r["update"]: r["score"] for r in rows if r["model"] == model and r["arm"] == arm}
            if found:
                last = found[max(found)]
                cells = " | ".join(f"{found[u]:.2f}" if u in found else "" for u in updates)
                versus = f"{last / teacher:.3f}" if task == "lm" else f"{last - teacher:+.2f}"
                lines.append(f"| {VARIANTS[task][model].label} | {arm} | {cells} | {versus} |")
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m memattn_fairseq.study.conversion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the study's binarised data")
    parser.add_argument("--task", choices=("lm", "mt"), default="lm", help="the study's task (default lm)")
    parser.add_argument("--study", type=Path, required=True, help="a finished study's output directory")
    parser.add_argument("--seed", type=int, default=1, help="the study's seed whose runs are used (default 1)")
    parser.add_argument("--models", help="comma list of the study's bounded runs (default: lm "
                                         f"{DEFAULT_MODELS['lm']}; mt {DEFAULT_MODELS['mt']})")
    parser.add_argument("--size", choices=("tiny", "cpu", "gpu"), default="cpu", help="the study's size")
    parser.add_argument("--lr", type=float, help="the study's --lr, if it set one")
    parser.add_argument("--finetune-updates", type=int, help="K (default: 10%% of the study's updates)")
    parser.add_argument("--transfer-updates", type=int, default=100, help="attention transfer of the transfer arm")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, help="output directory (default STUDY/conversion)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    budget = BUDGETS[args.task][args.size]
    budget = dataclasses.replace(budget, lr=args.lr or budget.lr)
    args.finetune_updates = args.finetune_updates or max(1, budget.updates // 10)
    check(args.finetune_updates >= 1, f"--finetune-updates must be >= 1, got {args.finetune_updates}")
    variants = VARIANTS[args.task]
    models = [m.strip() for m in (args.models or DEFAULT_MODELS[args.task]).split(",")]
    for model in models:
        check(model in variants and not variants[model].baseline and "memformer" not in model,
              f"--models: {model!r} is not a convertible {args.task} study model (e.g. {DEFAULT_MODELS[args.task]})")
    out = args.out or args.study / "conversion"
    out.mkdir(parents=True, exist_ok=True)
    _, teacher_dir, teacher_result = finished_run(args.task, args.study, "transformer", args.seed)
    teacher = teacher_dir / "checkpoints" / "checkpoint_last.pt"
    rows = [{"model": "transformer", "arm": "teacher", "update": 0, "score": teacher_result["valid"]}]
    for model in models:
        arms: Dict[str, List[dict]] = {}
        for arm in ("direct", "transfer"):
            print(f"[conversion] {model}: {arm}", flush=True)
            arms[arm] = converted_arm(arm, teacher, model, args.data, budget, args, out)
        print(f"[conversion] {model}: scratch", flush=True)
        arms["scratch"] = scratch_arm(model, args.study, args.data, budget, args, out)
        rows += [{"model": model, "arm": arm, "update": p["update"], "score": p["metric"]}
                 for arm, points in arms.items() for p in points]
    command = "python -m memattn_fairseq.study.conversion " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"[conversion] {write_summary(args.task, rows, out, command, budget.updates)}")


if __name__ == "__main__":
    main()
