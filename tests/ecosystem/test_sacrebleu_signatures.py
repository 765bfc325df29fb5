"""Scores as the field prints them: every BLEU the evaluation prints, records and tables carries sacreBLEU's
signature beside it."""
import re

from sacrebleu.metrics import BLEU

from memattn_fairseq.recipes import bleu, results_record, results_table
from memattn_fairseq.recipes.results_record import SCHEMA

HYPS = ["Das Haus ist klein .", "Er hat eine E-Mail geschrieben .", "Wir gehen nach Hause ."]
REFS = ["Das Haus ist sehr klein .", "Er hat eine E-Mail geschrieben .", "Wir gehen heute nach Hause ."]
SIGNATURE = re.compile(r"nrefs:1\|case:mixed\|eff:no\|tok:(\w+)\|smooth:(\w+)\|version:[\d.]+")


def test_the_bleu_command_prints_each_score_after_its_signature(tmp_path, capsys):
    (tmp_path / "hyps").write_text("\n".join(HYPS) + "\n")
    (tmp_path / "refs").write_text("\n".join(REFS) + "\n")
    bleu.main(["--hyps", str(tmp_path / "hyps"), "--refs", str(tmp_path / "refs")])
    sacre_line, split_line = capsys.readouterr().out.splitlines()
    expected = BLEU().corpus_score(HYPS, [REFS]).score
    match = re.match(r"sacreBLEU: BLEU\|(\S+) = ([\d.]+) ", sacre_line)
    assert match and SIGNATURE.fullmatch(match.group(1)).groups() == ("13a", "exp")
    assert float(match.group(2)) == round(expected, 2)
    match = re.match(r"compound-split BLEU \(13a tokens, a ##AT##-##AT## b\): BLEU\|(\S+) = ", split_line)
    assert match and SIGNATURE.fullmatch(match.group(1)).groups() == ("none", "none")


def mt_record(scores):
    metrics = {split: {"sacrebleu": scores["sacrebleu"]["score"], "sacrebleu_signature": scores["sacrebleu"]["signature"],
                       "compound_split_bleu": scores["compound_split_bleu"]["score"],
                       "compound_split_bleu_signature": scores["compound_split_bleu"]["signature"]}
               for split in ("test", "valid")}
    return {"schema": SCHEMA, "task": "wmt_en_de", "name": "abc_mt",
            "model": {"arch": "abc_transformer_wmt_en_de", "fairseq_task": "translation", "params": 1000,
                      "memory": {}, "memory_label": "n=8", "num_updates": 10},
            "checkpoint": "/ckpt/avg.pt", "averaged": [], "eval": {"beam": 4, "lenpen": 0.6},
            "metrics": metrics, "state": {"bytes": 1024, "steps": 16, "source_length": 16, "dtype": "float32"},
            "run": {"scale": "smoke", "hardware": "CPU", "device": "cpu", "data": "/d", "torch": "2.13.0",
                    "fairseq": "0.12.3.1", "created": "2026-01-01T00:00:00+00:00"}}


def test_records_and_tables_show_the_signatures_beside_the_scores():
    scores = bleu.score(HYPS, REFS)
    record = mt_record(scores)
    summary = results_record.summary(record)
    assert f"test sacreBLEU {scores['sacrebleu']['score']:.2f} ({scores['sacrebleu']['signature']})" in summary
    assert f"(13a tokens, {scores['compound_split_bleu']['signature']})" in summary

    table = results_table.render([record])
    header = next(line for line in table.splitlines() if line.startswith("| model"))
    assert header.rstrip(" |").endswith("sacreBLEU signature")
    row = next(line for line in table.splitlines() if line.startswith("| abc_mt"))
    escaped = scores["sacrebleu"]["signature"].replace("|", "\\|")  # a '|' in a cell would end the column
    assert row.rstrip(" |").endswith(f"`{escaped}`")
    fairseq_row = next(line for line in table.splitlines() if line.startswith("| Transformer (big), fairseq"))
    assert "`BLEU+case.mixed+lang.en-de+numrefs.1+smooth.exp+test.wmt14/full+tok.13a+version.1.4.3`" in fairseq_row
    assert f"compound-split BLEU on 13a tokens of both (`{scores['compound_split_bleu']['signature']}`)" in table
