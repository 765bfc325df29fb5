"""Writes the measurements as CSV, a markdown report (tables with ratios to the transformer, target checks) and
PNG plots (log axes). A row: section, model, batch, length and its metrics; a timed metric (TIMED) also has its
first and third quartiles (``<metric>_q1``, ``<metric>_q3``), shown as the interquartile range in every table cell
and as error bars in every plot."""
import csv
import math
import os
from collections import defaultdict
from typing import Dict, List

Row = Dict[str, object]

SECTIONS = {
    # section: (length label, [(metric, label, lower is better)])
    "decode_lm": ("prefix", [("ms_per_token", "ms/token", True), ("state_bytes", "state bytes/seq", True)]),
    "decode_mt": ("source", [("ms_per_token", "ms/token", True), ("state_bytes", "state bytes/seq", True)]),
    "train_lm": ("context", [("tokens_per_s", "tokens/s", False), ("peak_bytes", "peak bytes", True)]),
    "mrbp": ("horizon", [("peak_bytes", "peak bytes", True), ("seconds", "s/step", True)]),
    "attention": ("context", [("ms_per_call", "ms per forward+backward", True), ("gflops", "GFLOP/s", False),
                              ("matmul_share", "GFLOP/s as a share of a large matmul's", False),
                              ("peak_bytes", "peak bytes", True)]),
    "step": ("prefix", [("us_per_step", "µs per decoding step", True),
                        ("minimal_us_per_step", "µs per minimal in-place step of the same math", True),
                        ("step_over_minimal", "step / minimal step", True)]),
    "serve": ("prefix", [("tokens_per_s", "generated tokens/s", False),
                         ("sequences", "sequences whose state fits the budget", False),
                         ("state_bytes", "state bytes/seq", True)]),
}
HEADINGS = {"serve": "decoder-state budget {} GB"}  # how a section's ``batch`` column reads (default: batch {})
UNPLOTTED = {"serve"}  # one length per model: the table says it all
BASELINES = {"attention": "abc_mlp_two_pass"}  # the attention cores are compared with the peer form of ABC's math
TIMED = {"ms_per_token", "tokens_per_s", "seconds", "ms_per_call", "gflops", "us_per_step", "minimal_us_per_step"}  # the others do not vary


def write_csv(rows: List[Row], path: str) -> None:
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k not in ("section", "model", "batch", "length"), k))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and value < 100:
        return f"{value:.2f}"
    return f"{value:,.0f}"


def _index(rows: List[Row]):
    table = defaultdict(dict)  # (section, batch, metric) -> {(length, model): row}
    for row in rows:
        for metric in SECTIONS[row["section"]][1]:
            table[(row["section"], row["batch"], metric[0])][(row["length"], row["model"])] = row
    return table


def _quartiles(row: Row, metric: str):
    """(q1, q3) of a timed metric, or None (an untimed metric, or a CSV written before quartiles were kept)."""
    q1, q3 = row.get(f"{metric}_q1"), row.get(f"{metric}_q3")
    return None if metric not in TIMED or q1 is None or q3 is None else (q1, q3)


def _cell(row: Row, metric: str) -> str:
    """``median [q1–q3]`` for a timed metric, the value for the others."""
    quartiles = _quartiles(row, metric)
    text = _fmt(row.get(metric))
    return text if quartiles is None else f"{text} [{_fmt(quartiles[0])}–{_fmt(quartiles[1])}]"


def markdown(rows: List[Row], header: str, baseline: str = "transformer") -> str:
    lines = [header, ""]
    table = _index(rows)
    for (section, batch, metric), cells in sorted(table.items(), key=lambda kv: (list(SECTIONS).index(kv[0][0]), kv[0][1], kv[0][2])):
        length_label, metrics = SECTIONS[section]
        label = dict((m, l) for m, l, _ in metrics)[metric]
        base_model = BASELINES.get(section, baseline)
        models = sorted({m for _, m in cells}, key=lambda m: (m != base_model, m))
        lengths = sorted({n for n, _ in cells})
        spread = ", median [interquartile range]" if metric in TIMED else ""
        ratios = f" (ratio to {base_model} in brackets)" if base_model in models else ""
        lines += [f"**{section}**, {HEADINGS.get(section, 'batch {}').format(batch)}: {label}{spread}{ratios}", ""]
        lines.append("| " + " | ".join([length_label] + models) + " |")
        lines.append("|" + "---|" * (len(models) + 1))
        for n in lengths:
            base = (cells.get((n, base_model)) or {}).get(metric)
            out = []
            for m in models:
                row = cells.get((n, m))
                value = None if row is None else row.get(metric)
                ratio = f" ({value / base:.2f}x)" if m != base_model and value and base else ""
                out.append(_cell(row, metric) + ratio if value is not None else "")
            lines.append(f"| {n} | " + " | ".join(out) + " |")
        lines.append("")
    return "\n".join(lines)


def plots(rows: List[Row], out_dir: str) -> List[str]:
    """One PNG per (section, metric, batch): the metric against length for every model, log-log; timed metrics
    show their median with the interquartile range as error bars."""
    import logging

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # before the import, which logs its set-up
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for (section, batch, metric), cells in _index(rows).items():
        if section in UNPLOTTED:
            continue
        length_label, metrics = SECTIONS[section]
        label = dict((m, l) for m, l, _ in metrics)[metric]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for model in sorted({m for _, m in cells}):
            points = sorted((n, row) for (n, m), row in cells.items()
                            if m == model and row.get(metric) is not None and row[metric] == row[metric])
            if not points:
                continue
            lengths, values = [n for n, _ in points], [row[metric] for _, row in points]
            quartiles = [_quartiles(row, metric) for _, row in points]
            if all(quartiles):
                errors = [[v - q1 for v, (q1, _) in zip(values, quartiles)],
                          [q3 - v for v, (_, q3) in zip(values, quartiles)]]
                ax.errorbar(lengths, values, yerr=errors, marker="o", capsize=3, label=model)
            else:
                ax.plot(lengths, values, marker="o", label=model)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(length_label)
        ax.set_ylabel(f"{label} (median, IQR bars)" if metric in TIMED else label)
        ax.set_title(f"{section}, batch {batch}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        path = os.path.join(out_dir, f"{section}_{metric}_b{batch}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def target_checks(rows: List[Row], models=("abc_mlp", "memsizer")) -> List[str]:
    """The speed/memory targets as ratios taken in this run (only those whose points were measured)."""
    value = {(r["section"], r["model"], r["batch"], r["length"]): r for r in rows}

    def get(section, model, batch, length, metric):
        row = value.get((section, model, batch, length))
        return row.get(metric) if row else None

    checks = []

    def add(text, ratio, limit, above=False):
        if ratio is None:
            return
        ok = ratio >= limit if above else ratio <= limit
        checks.append(f"- {text}: {ratio:.2f} ({'>=' if above else '<='} {limit}) {'PASS' if ok else 'MISS'}")

    def ratio(a, b):
        return a / b if a and b else None

    for m in models:
        if not any(r["model"] == m for r in rows):
            continue
        t = "transformer"
        add(f"{m} decode latency / transformer, batch 8, prefix 4096",
            ratio(get("decode_lm", m, 8, 4096, "ms_per_token"), get("decode_lm", t, 8, 4096, "ms_per_token")), 0.2)
        add(f"{m} decode latency / transformer, batch 1, prefix 16384",
            ratio(get("decode_lm", m, 1, 16384, "ms_per_token"), get("decode_lm", t, 1, 16384, "ms_per_token")), 0.2)
        add(f"{m} decode latency prefix 16384 / prefix 256, batch 1",
            ratio(get("decode_lm", m, 1, 16384, "ms_per_token"), get("decode_lm", m, 1, 256, "ms_per_token")), 1.25)
        add(f"{m} state bytes prefix 16384 / prefix 256",
            ratio(get("decode_lm", m, 1, 16384, "state_bytes"), get("decode_lm", m, 1, 256, "state_bytes")), 1.0)
        add(f"{m} decode step / transformer step at prefix 64, batch 1",
            ratio(get("decode_lm", m, 1, 64, "ms_per_token"), get("decode_lm", t, 1, 64, "ms_per_token")), 1.25)
        add(f"{m} training tokens/s / transformer, context 8192",
            ratio(get("train_lm", m, 1, 8192, "tokens_per_s"), get("train_lm", t, 1, 8192, "tokens_per_s")), 2.5, True)
        add(f"{m} training tokens/s / transformer, context 4096",
            ratio(get("train_lm", m, 1, 4096, "tokens_per_s"), get("train_lm", t, 1, 4096, "tokens_per_s")), 1.6, True)
        add(f"{m} training tokens/s context 8192 / context 1024",
            ratio(get("train_lm", m, 1, 8192, "tokens_per_s"), get("train_lm", m, 1, 1024, "tokens_per_s")), 0.8, True)
        add(f"{m} training peak memory context 8192 / context 4096",
            ratio(get("train_lm", m, 1, 8192, "peak_bytes"), get("train_lm", m, 1, 4096, "peak_bytes")), 2.2)
        add(f"{m} training peak memory / transformer, context 8192",
            ratio(get("train_lm", m, 1, 8192, "peak_bytes"), get("train_lm", t, 1, 8192, "peak_bytes")), 1.0)
    for n in sorted({r["length"] for r in rows if r["section"] == "attention"}):
        add(f"abc_mlp attention time / its two-pass peer form, context {n}",
            ratio(get("attention", "abc_mlp", 1, n, "ms_per_call"), get("attention", "abc_mlp_two_pass", 1, n,
                                                                            "ms_per_call")), 1.0)
        add(f"abc_mlp attention peak memory / its two-pass peer form, context {n}",
            ratio(get("attention", "abc_mlp", 1, n, "peak_bytes"), get("attention", "abc_mlp_two_pass", 1, n,
                                                                           "peak_bytes")), 1.0)
        add(f"abc_mlp share of the matmul rate / memsizer's, context {n}",
            ratio(get("attention", "abc_mlp", 1, n, "matmul_share"), get("attention", "memsizer", 1, n,
                                                                             "matmul_share")), 1.0, True)
    for row in (r for r in rows if r["section"] == "step"):
        add(f"{row['model']} decoding step / a minimal in-place step of the same math, batch {row['batch']}",
            row["step_over_minimal"], 1.2)
    serve_base = {r["length"]: r["tokens_per_s"] for r in rows if r["section"] == "serve" and r["model"] == "transformer"}
    for row in (r for r in rows if r["section"] == "serve" and r["model"] != "transformer"):
        add(f"{row['model']} serving tokens/s / transformer, prefix {row['length']}, {row['batch']} GB of state",
            ratio(row["tokens_per_s"], serve_base.get(row["length"])), 20.0, True)
    horizons = sorted(r["length"] for r in rows if r["section"] == "mrbp" and r["model"] == "memformer_mrbp")
    if horizons:
        add(f"memformer MRBP peak memory H={horizons[-1]} / H={horizons[0]}",
            ratio(get("mrbp", "memformer_mrbp", 1, horizons[-1], "peak_bytes"),
                  get("mrbp", "memformer_mrbp", 1, horizons[0], "peak_bytes")), 1.2)
    return checks
