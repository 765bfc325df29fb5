"""The quality study: fairseq's transformer against the bounded models, at equal budget, over several seeds.

    python -m memattn_fairseq.study lm data-bin/kernel-docs --sweeps core --seeds 1,2,3
    python -m memattn_fairseq.study mt data-bin/gettext-en-fr --sweeps core,roles --size gpu --device cuda

Every run goes through fairseq-train with the same model size, optimiser, schedule, updates and tokens per
update (budgets.py); the models and sweeps are in variants.py. Results go to --out (default runs/study/<task>):
results.csv, curves.csv, summary.md and curves_<sweep>.png. Started again, the study skips finished runs and
resumes an interrupted one from its last checkpoint. ``--list`` prints the runs without training anything.
"""
import argparse
import dataclasses
import sys
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError, check
from .budgets import BUDGETS
from .report import write_report
from .runner import Run, curve, execute
from .variants import SWEEPS, VARIANTS


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m memattn_fairseq.study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(SWEEPS), help="lm: language modelling; mt: translation (en -> fr)")
    parser.add_argument("data", type=Path, help="binarised data (python -m memattn_fairseq.recipes.kernel_docs / "
                                                "gettext_en_fr)")
    parser.add_argument("--sweeps", default="core", help="comma list of sweeps, or 'all' (lm: %s; mt: %s)" % (
        ", ".join(SWEEPS["lm"]), ", ".join(SWEEPS["mt"])))
    parser.add_argument("--seeds", default="1,2,3", help="comma list of seeds (default 1,2,3)")
    parser.add_argument("--models", help="comma list of the sweeps' models to run (default: all; e.g. to share a "
                                         "study between processes or machines, each with its own models)")
    parser.add_argument("--size", choices=("tiny", "cpu", "gpu"), default="cpu",
                        help="model size and budget (default cpu; tiny is for tests)")
    parser.add_argument("--lr", type=float, help="peak learning rate of every run (default: the size's)")
    parser.add_argument("--updates", type=int, help="updates of every run (default: the size's); the schedule does "
                                                     "not depend on it, so a longer study extends a shorter one's curves")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, help="output directory (default runs/study/<task>)")
    parser.add_argument("--list", action="store_true", help="print the runs and exit")
    return parser.parse_args(argv)


def plan(args) -> tuple:
    names = list(SWEEPS[args.task]) if args.sweeps == "all" else [s.strip() for s in args.sweeps.split(",")]
    for name in names:
        check(name in SWEEPS[args.task], f"--sweeps: unknown {args.task} sweep {name!r}; choose from "
                                         f"{', '.join(SWEEPS[args.task])} or all")
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds {args.seeds!r}: expected a comma list of integers") from None
    sweeps = {name: SWEEPS[args.task][name] for name in names}
    variants = VARIANTS[args.task]
    pairs = list(dict.fromkeys(pair for pairs in sweeps.values() for pair in pairs))
    if args.models:
        wanted = [m.strip() for m in args.models.split(",")]
        for name in wanted:
            check(any(name == n for n, _ in pairs), f"--models: {name!r} is in none of the sweeps "
                                                    f"{', '.join(sweeps)}; choose from "
                                                    f"{', '.join(dict.fromkeys(n for n, _ in pairs))}")
        pairs = [pair for pair in pairs if pair[0] in wanted]
    # seed-major: an interrupted study has every model at its first seeds
    runs = [Run(args.task, variants[name], context, seed) for seed in seeds for name, context in pairs]
    return sweeps, runs


def main(argv=None) -> None:
    args = parse_args(argv)
    budget = BUDGETS[args.task][args.size]
    check(args.lr is None or args.lr > 0, f"--lr must be > 0, got {args.lr}")
    check(args.updates is None or args.updates >= budget.validate_every,
          f"--updates must be >= {budget.validate_every} (one validation) at size {args.size}, got {args.updates}")
    budget = dataclasses.replace(budget, lr=args.lr or budget.lr, updates=args.updates or budget.updates)
    sweeps, runs = plan(args)
    check(args.data.is_dir(), f"data directory {args.data} does not exist")
    out = args.out or Path("runs/study") / args.task
    if args.list:
        for run in runs:
            print(run.name, "done" if (out / "runs" / run.name / "result.json").exists() else "to run")
        return
    out.mkdir(parents=True, exist_ok=True)
    pending = [r for r in runs if not (out / "runs" / r.name / "result.json").exists()]
    print(f"[study] {args.task}: {len(runs)} runs ({len(runs) - len(pending)} done), {budget.updates} updates each, "
          f"size {args.size}, results in {out}", flush=True)
    results = []

    def updates_done(run) -> int:
        return max([p["update"] for p in curve(out / "runs" / run.name / "train.log", args.task)] or [0])

    to_train = sum(max(0, budget.updates - updates_done(r)) for r in pending)
    with tqdm(total=to_train, unit="update", file=sys.stderr, dynamic_ncols=True) as bar:
        for run in runs:
            log = out / "runs" / run.name / "train.log"
            done_before = updates_done(run)
            bar.set_description(run.name)

            def progress(line, run=run):
                if "| train_inner |" in line or "| valid |" in line:
                    points = curve(log, args.task)
                    if points:
                        bar.set_postfix_str(f"valid {points[-1]['metric']:.2f} at {points[-1]['update']}")
                    new = max([p["update"] for p in points] or [0])
                    bar.update(max(0, new - progress.seen))
                    progress.seen = max(progress.seen, new)

            progress.seen = done_before
            results.append(execute(run, args.data, budget, out, args.device, progress))
            bar.update(max(0, budget.updates - progress.seen) if run in pending else 0)
    overrides = "".join(f" --{name} {getattr(args, name)}" for name in ("models", "lr", "updates")
                        if getattr(args, name))
    header = (f"# {args.task.upper()} quality study ({args.size} size: {budget.layers} x {budget.dim}, "
              f"{budget.tokens_per_update} tokens per update, {budget.updates} updates, lr {budget.lr:g}, "
              f"seeds {args.seeds})\n\n"
              f"`python -m memattn_fairseq.study {args.task} {args.data} --sweeps {args.sweeps} --seeds {args.seeds} "
              f"--size {args.size}{overrides} --device {args.device}`")
    print(f"[study] {write_report(args.task, sweeps, VARIANTS[args.task], results, out, header)}")


if __name__ == "__main__":
    main()
