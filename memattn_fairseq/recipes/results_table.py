"""Markdown results tables from the run records (``RESULTS/<task>/<NAME>.json``), shaped like the papers' tables,
with the published figures (anchors.py) beside the measured rows.

Each task gets one table: model, attention memory, parameters, dev/test perplexity (WikiText-103) or sacreBLEU and
compound-split BLEU (WMT En-De), evaluation or decoding speed and decoding-state size, then the source of the row.
A label line above each table says at which scale and on which hardware the measured rows were produced (from the
records), so smoke numbers are never mistaken for the papers'.

    python -m memattn_fairseq.recipes.results_table --results results --out results/results.md
"""
import argparse
import glob
import json
import os
import sys
from typing import Dict, List, Optional, Tuple

from ..errors import ConfigError, check
from .anchors import CITATIONS, Anchor, anchors_for
from .results_record import SCHEMA

TITLES = {"wikitext103": "WikiText-103 language modelling", "wmt_en_de": "WMT'14 English-German translation"}
SPLIT_NOT_NAMED = "†"
AS_REPORTED = "‡"
DASH = "–"


def load_records(results_dir: str) -> List[Dict]:
    check(os.path.isdir(results_dir), f"--results {results_dir} is not a directory")
    records = []
    for path in sorted(glob.glob(os.path.join(results_dir, "*", "*.json"))):
        try:
            with open(path) as handle:
                record = json.load(handle)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read record {path}: {exc}") from None
        check(isinstance(record, dict) and record.get("schema") == SCHEMA,
              f"{path} is not a results record (schema {SCHEMA})")
        records.append(record)
    check(bool(records), f"no records in {results_dir}/<task>/*.json: run scripts/evaluate_lm.sh or "
                         "scripts/evaluate_mt.sh first")
    return records


def params_text(count: Optional[int]) -> str:
    if count is None:
        return DASH
    if count >= 10_000_000:
        return f"{count / 1e6:.0f}M"
    return f"{count / 1e6:.2f}M" if count >= 1_000_000 else f"{count / 1e6:.3f}M"


def bytes_text(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


def state_text(state: Dict) -> str:
    where = f"{state['steps']} tok" if state.get("source_length") is None else \
        f"src {state['source_length']}, {state['steps']} tok"
    return f"{bytes_text(state['bytes'])} ({where})"


def number(metrics: Dict, subset: str, key: str, digits: int = 2) -> str:
    value = (metrics.get(subset) or {}).get(key)
    return DASH if value is None else f"{value:.{digits}f}"


def provenance(records: List[Dict]) -> Tuple[List[str], Dict[str, str]]:
    """Label lines, one per distinct (scale, hardware, software, data), and each record's tag [a], [b], ..."""
    kinds: Dict[Tuple, str] = {}
    tags: Dict[str, str] = {}
    lines = []
    for record in records:
        run = record["run"]
        key = (run["scale"], run["hardware"], run["torch"], run["fairseq"], run["data"])
        if key not in kinds:
            kinds[key] = chr(ord("a") + len(kinds))
            scale = "smoke scale (tiny local data, tiny models, a few updates)" if run["scale"] == "smoke" \
                else "full scale"
            lines.append(f"[{kinds[key]}] {scale}; {run['hardware']}; torch {run['torch']}, fairseq {run['fairseq']}; "
                         f"data {run['data']}")
        tags[record["name"]] = kinds[key]
    return lines, tags


def citation_numbers(anchors: List[Anchor]) -> Dict[str, int]:
    numbers: Dict[str, int] = {}
    for anchor in anchors:
        numbers.setdefault(anchor.citation, len(numbers) + 1)
    return numbers


def model_cell(record: Dict) -> str:
    return f"{record['name']} (`{record['model']['arch']}`)"


def lm_rows(records: List[Dict], tags: Dict[str, str], anchors: List[Anchor], cites: Dict[str, int]) -> List[List]:
    rows = []
    for r in records:
        m = r["metrics"]
        rows.append([model_cell(r), r["model"]["memory_label"], params_text(r["model"]["params"]),
                     number(m, "valid", "ppl"), number(m, "test", "ppl"), number(m, "test", "tokens_per_s", 0),
                     state_text(r["state"]), f"measured [{tags[r['name']]}]"])
    for a in anchors:
        test = a.metrics.get("test_ppl") or (a.metrics["ppl"] + SPLIT_NOT_NAMED if "ppl" in a.metrics else DASH)
        rows.append([a.model, a.memory or DASH, a.params or DASH, a.metrics.get("valid_ppl", DASH), test, DASH, DASH,
                     f"published [{cites[a.citation]}]"])
    return rows


def mt_rows(records: List[Dict], tags: Dict[str, str], anchors: List[Anchor], cites: Dict[str, int]) -> List[List]:
    rows = []
    for r in records:
        m = r["metrics"]
        test = m.get("test") or {}
        speed = DASH if "tokens_per_s" not in test else \
            f"{test['tokens_per_s']:,.0f} tok/s, {test['sentences_per_s']:.1f} sent/s"
        rows.append([model_cell(r), r["model"]["memory_label"], params_text(r["model"]["params"]),
                     number(m, "test", "sacrebleu"), number(m, "test", "compound_split_bleu"),
                     number(m, "valid", "sacrebleu"), number(m, "valid", "compound_split_bleu"), speed,
                     state_text(r["state"]), f"measured [{tags[r['name']]}]", signature_cell(m)])
    for a in anchors:
        reported = a.metrics["bleu"] + AS_REPORTED if "bleu" in a.metrics else DASH
        split = a.metrics.get("compound_split_bleu") or reported
        rows.append([a.model, a.memory or DASH, a.params or DASH, a.metrics.get("sacrebleu", DASH), split, DASH, DASH,
                     DASH, DASH, f"published [{cites[a.citation]}]", code(a.metrics.get("sacrebleu_signature"))])
    return rows


def code(text: Optional[str], table: bool = True) -> str:
    """``text`` as inline code; in a table cell its '|' escaped, which GitHub's tables would take for a column."""
    if not text:
        return DASH
    return "`" + (text.replace("|", "\\|") if table else text) + "`"


def compound_split_signatures(records: List[Dict]) -> str:
    """' (`signature`)': what scored the compound-split tokens (tok:none: they are tokenised already)."""
    found = sorted({m["compound_split_bleu_signature"] for r in records for m in r["metrics"].values()
                    if m.get("compound_split_bleu_signature")})
    return f" ({', '.join(code(s, table=False) for s in found)})" if found else ""


def signature_cell(metrics: Dict) -> str:
    """The sacreBLEU signature of a record's scores (one per split; the splits share it unless scored apart)."""
    signatures = sorted({m["sacrebleu_signature"] for m in metrics.values() if m.get("sacrebleu_signature")})
    return ", ".join(code(s) for s in signatures) or DASH


HEADERS = {
    "wikitext103": ["model", "memory", "params", "dev ppl", "test ppl", "eval speed (tokens/s, test)",
                    "decoding state / sequence", "source"],
    "wmt_en_de": ["model", "memory", "params", "test sacreBLEU", "test BLEU (tok., compound split)", "dev sacreBLEU",
                  "dev BLEU (tok., compound split)", "decoding speed (test, beam 4)", "decoding state / sentence",
                  "source", "sacreBLEU signature"],
}


def markdown_table(headers: List[str], rows: List[List]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def task_section(task: str, records: List[Dict]) -> str:
    lines, tags = provenance(records)
    anchors = anchors_for(task)
    cites = citation_numbers(anchors)
    rows = (lm_rows if task == "wikitext103" else mt_rows)(records, tags, anchors, cites)
    notes = [f"[{n}] {CITATIONS[key]}" for key, n in cites.items()]
    if task == "wikitext103":
        notes.append(f"{SPLIT_NOT_NAMED} perplexity as the paper's table gives it, without naming the split.")
        settings = sorted({(r["eval"].get("tokens_per_sample"), r["eval"].get("context_window"),
                            r["eval"].get("fairseq_task")) for r in records}, key=str)
        notes.append("Measured: fairseq-eval-lm, " + "; ".join(
            f"--tokens-per-sample {t}" + (" (stateful stream, task memformer_lm)" if k == "memformer_lm"
                                         else f", --context-window {c}") for t, c, k in settings) + ".")
    else:
        notes.append(f"{AS_REPORTED} BLEU as the paper reports it (tokenised; compound splitting not stated).")
        settings = sorted({(r["eval"].get("beam"), r["eval"].get("lenpen"), len(r.get("averaged") or []))
                           for r in records}, key=str)
        notes.append("Measured: fairseq-generate " + "; ".join(
            f"--beam {b} --lenpen {l} on " + (f"the average of the last {n} checkpoints" if n else "checkpoint_best.pt")
            for b, l, n in settings) + "; sacreBLEU on detokenised output against the data's raw references, "
            "compound-split BLEU on 13a tokens of both" + compound_split_signatures(records) + ".")
    return "\n".join([
        f"## {TITLES[task]}", "",
        "**Measured rows come from:** " + " ".join(lines), "",
        markdown_table(HEADERS[task], rows), "",
        *[f"- {note}" for note in notes], "",
    ])


def render(records: List[Dict]) -> str:
    sections = []
    for task in TITLES:
        chosen = sorted((r for r in records if r["task"] == task), key=lambda r: r["name"])
        if chosen:
            sections.append(task_section(task, chosen))
    return "# Results\n\n" + "\n".join(sections)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results", help="directory of <task>/<NAME>.json records")
    parser.add_argument("--out", help="markdown file to write (default: print only)")
    args = parser.parse_args(argv)
    text = render(load_records(args.results))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as handle:
            handle.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
