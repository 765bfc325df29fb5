"""A study's files: results.csv (one row a run), curves.csv (one row a validation), summary.md (mean and standard
deviation over seeds, and the comparison with the transformer of the same sweep) and one PNG of learning curves
per sweep, against updates and against training seconds (mean over seeds, the band from min to max).

LM: perplexity, lower is better, compared as a ratio to the transformer's. MT: sacreBLEU, compared as a
difference in points.
"""
import csv
import logging
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

COLUMNS = ("name", "task", "variant", "context", "seed", "params", "updates", "train_seconds", "valid", "test")


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:  # one seed: no spread to report
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def write_csv(results: List[dict], out_dir: Path) -> None:
    with open(out_dir / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    with open(out_dir / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("name", "variant", "context", "seed", "update", "train_seconds", "metric"))
        for r in results:
            for p in r["curve"]:
                writer.writerow((r["name"], r["variant"], r["context"], r["seed"], p["update"], p["train_seconds"],
                                 p["metric"]))


def _groups(results: List[dict]) -> Dict[tuple, List[dict]]:
    groups = defaultdict(list)
    for r in results:
        groups[(r["variant"], r["context"])].append(r)
    return groups


def _comparison(task: str, value: float, baseline: float) -> str:
    if baseline is None or value is None:
        return "n/a"
    return f"{value - baseline:+.2f}" if task == "mt" else f"{value / baseline:.3f}"


def sweep_table(task: str, sweep: str, pairs, variants: dict, results: List[dict]) -> str:
    groups = _groups(results)
    metric = "sacreBLEU" if task == "mt" else "perplexity"
    compare = "BLEU − transformer" if task == "mt" else "ratio to transformer"
    lines = [f"### {sweep}", "",
             f"| model | context | seeds | params | valid {metric} | test {metric} | valid {compare} | "
             f"test {compare} | train s |", "|---|---|---|---|---|---|---|---|---|"]
    for variant_name, context in pairs:
        runs = groups.get((variant_name, context), [])
        if not runs:  # left out by --models
            continue
        baseline = groups.get((next(n for n, v in variants.items() if v.baseline), context), [])
        means, base = ({k: statistics.mean(r[k] for r in rs) if rs else None for k in ("valid", "test")}
                       for rs in (runs, baseline))
        params = f"{runs[0]['params']:,}" if runs[0]["params"] else "n/a"
        seconds = [r["train_seconds"] for r in runs if r["train_seconds"] is not None]
        train_seconds = f"{statistics.mean(seconds):.0f}" if seconds else "n/a"
        lines.append(
            f"| {variants[variant_name].label} | {context or '-'} | {len(runs)} | {params} | "
            f"{_mean_std(r['valid'] for r in runs)} | {_mean_std(r['test'] for r in runs)} | "
            f"{_comparison(task, means['valid'], base['valid'])} | {_comparison(task, means['test'], base['test'])} | "
            f"{train_seconds} |")
    return "\n".join(lines) + "\n"


def plot_sweep(task: str, sweep: str, pairs, variants: dict, results: List[dict], out_dir: Path) -> Path:
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # before the import, which logs its set-up
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(results)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for variant_name, context in pairs:
        runs = groups.get((variant_name, context))
        if not runs:
            continue
        label = variants[variant_name].label + (f" (context {context})" if task == "lm" else "")
        for axis, key in zip(axes, ("update", "train_seconds")):
            by_x = defaultdict(list)
            for r in runs:
                for p in r["curve"]:
                    if p[key] is not None:
                        by_x[p["update"]].append((p[key], p["metric"]))
            updates = sorted(u for u in by_x if len(by_x[u]) == len(runs))
            xs = [statistics.mean(x for x, _ in by_x[u]) for u in updates]
            ys = [[m for _, m in by_x[u]] for u in updates]
            line, = axis.plot(xs, [statistics.mean(y) for y in ys], label=label)
            axis.fill_between(xs, [min(y) for y in ys], [max(y) for y in ys], alpha=0.2, color=line.get_color())
    for axis, xlabel in zip(axes, ("updates", "training seconds")):
        axis.set_xlabel(xlabel)
        axis.set_ylabel("validation sacreBLEU (greedy)" if task == "mt" else "validation perplexity")
        if task == "lm":
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{task.upper()} study, sweep '{sweep}': mean over seeds, band = min..max")
    fig.tight_layout()
    path = out_dir / f"curves_{sweep}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(task: str, sweeps: dict, variants: dict, results: List[dict], out_dir: Path, header: str) -> Path:
    write_csv(results, out_dir)
    parts = [header, ""]
    for sweep, pairs in sweeps.items():
        parts.append(sweep_table(task, sweep, pairs, variants, results))
        parts.append(f"![{sweep}]({plot_sweep(task, sweep, pairs, variants, results, out_dir).name})\n")
    path = out_dir / "summary.md"
    path.write_text("\n".join(parts))
    return path
