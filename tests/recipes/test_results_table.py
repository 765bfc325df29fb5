"""The results tables: one row per record with its numbers, the published anchors with citations beside them, and a
label line per distinct scale/hardware. (The records of real runs are tabled in test_evaluate_scripts.py.)"""
import json
import os
import re
import subprocess

import pytest
from cli_runner import REPO

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.recipes import results_table
from memattn_fairseq.recipes.anchors import ANCHORS, CITATIONS
from memattn_fairseq.recipes.results_record import SCHEMA


def run_info(scale="full", hardware="GPU: NVIDIA H100 80GB HBM3"):
    return {"scale": scale, "hardware": hardware, "device": "cuda", "data": "/data/wikitext-103", "torch": "2.13.0",
            "fairseq": "0.12.3.1", "created": "2026-01-01T00:00:00+00:00"}


def lm_record(name, arch, params, valid, test, state_bytes, run=None, memory_label="n=64 (mlp)"):
    return {"schema": SCHEMA, "task": "wikitext103", "name": name,
            "model": {"arch": arch, "fairseq_task": "language_modeling", "params": params, "memory": {},
                      "memory_label": memory_label, "num_updates": 286000},
            "checkpoint": f"/ckpt/{name}.pt",
            "eval": {"fairseq_task": "language_modeling", "tokens_per_sample": 512, "context_window": 400, "logs": {}},
            "metrics": {"valid": {"ppl": valid, "loss_base2": 4.0, "tokens": 217646, "tokens_per_s": 20150.5},
                        "test": {"ppl": test, "loss_base2": 4.1, "tokens": 245569, "tokens_per_s": 19800.25}},
            "state": {"bytes": state_bytes, "steps": 512, "source_length": None, "dtype": "float32"},
            "run": run or run_info()}


def mt_record(name, sacre, split, run=None):
    test = {"sacrebleu": sacre, "sacrebleu_signature": "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
            "compound_split_bleu": split, "sentences": 3003, "tokens": 86193, "seconds": 41.2,
            "sentences_per_s": 72.89, "tokens_per_s": 2091.78}
    return {"schema": SCHEMA, "task": "wmt_en_de", "name": name,
            "model": {"arch": "abc_transformer_vaswani_wmt_en_de_big", "fairseq_task": "translation",
                      "params": 213_000_000, "memory": {}, "memory_label": "dec n=32, cross n=32 (mlp)",
                      "num_updates": 30000},
            "checkpoint": "/ckpt/avg.pt", "averaged": [f"/ckpt/checkpoint_1_{u}.pt" for u in range(5)],
            "eval": {"beam": 4, "lenpen": 0.6, "post_process": "sentencepiece", "references": {}, "logs": {}},
            "metrics": {"test": test, "valid": dict(test, sacrebleu=sacre - 1.5, compound_split_bleu=split - 1.25)},
            "state": {"bytes": 270336, "steps": 64, "source_length": 64, "dtype": "float32"},
            "run": run or run_info()}


@pytest.fixture
def results_dir(tmp_path):
    records = [lm_record("abc_lm", "abc_lm_wiki103", 247_123_456, 18.123, 19.456, 4_325_376),
               lm_record("transformer_lm", "transformer_lm_wiki103", 246_900_000, 17.999, 18.701, 33_554_432,
                         run_info("smoke", "CPU: AMD EPYC (2 cores, 1 torch threads)"), "KV cache (grows with length)"),
               mt_record("abc_mt", 27.345, 28.125)]
    for record in records:
        os.makedirs(tmp_path / record["task"], exist_ok=True)
        (tmp_path / record["task"] / f"{record['name']}.json").write_text(json.dumps(record))
    return tmp_path


def cells(table, first):
    row = next(line for line in table.splitlines() if line.startswith(f"| {first}"))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_each_record_is_a_row_with_its_numbers(results_dir):
    table = results_table.render(results_table.load_records(str(results_dir)))
    abc = cells(table, "abc_lm (`abc_lm_wiki103`)")
    assert abc[1:7] == ["n=64 (mlp)", "247M", "18.12", "19.46", "19800", "4.3 MB (512 tok)"]
    assert cells(table, "transformer_lm")[3:5] == ["18.00", "18.70"]
    mt = cells(table, "abc_mt (`abc_transformer_vaswani_wmt_en_de_big`)")
    assert mt[3:10] == ["27.34", "28.12", "25.84", "26.88", "2,092 tok/s, 72.9 sent/s", "270.3 KB (src 64, 64 tok)",
                        "measured [a]"]
    assert "the average of the last 5 checkpoints" in table


def test_published_figures_stand_beside_the_rows_with_their_citations(results_dir):
    table = results_table.render(results_table.load_records(str(results_dir)))
    baevski = cells(table, "Transformer, adaptive inputs")
    assert baevski[2:5] == ["247M", "17.97", "18.7"] and baevski[-1] == "published [1]"
    assert cells(table, "Transformer (big), fairseq")[3:5] == ["28.6", "29.3"]
    assert cells(table, "Transformer (big) |")[4] == "28.4‡"
    assert cells(table, "Memformer, 4 encoder + 16 decoder")[4] == "22.74†"
    for anchor in ANCHORS:
        assert anchor.model in table and CITATIONS[anchor.citation] in table
    published = [line for line in table.splitlines() if "published [" in line]
    assert len(published) == len(ANCHORS)


def test_label_lines_name_the_scale_and_hardware_of_the_rows(results_dir):
    table = results_table.render(results_table.load_records(str(results_dir)))
    lm_section = table.split("## WMT")[0]
    assert re.search(r"\[a\] full scale; GPU: NVIDIA H100 80GB HBM3;.*\[b\] smoke scale .*; CPU: AMD EPYC", lm_section)
    assert cells(table, "abc_lm")[-1] == "measured [a]" and cells(table, "transformer_lm")[-1] == "measured [b]"


def test_cli_writes_the_file_it_prints(results_dir, tmp_path, capsys):
    out = str(tmp_path / "tables" / "results.md")
    results_table.main(["--results", str(results_dir), "--out", out])
    assert open(out).read() == capsys.readouterr().out and "## WikiText-103" in open(out).read()


def test_bad_record_directories_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="no records in"):
        results_table.load_records(str(tmp_path))
    (tmp_path / "wmt_en_de").mkdir()
    (tmp_path / "wmt_en_de" / "x.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cannot read record .*x.json"):
        results_table.load_records(str(tmp_path))
    (tmp_path / "wmt_en_de" / "x.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ConfigError, match="is not a results record"):
        results_table.load_records(str(tmp_path))


def test_collect_results_script_reports_an_empty_directory_in_one_line(tmp_path):
    proc = subprocess.run(["/bin/bash", os.path.join(REPO, "scripts", "collect_results.sh"), "--results",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        f"memattn_fairseq: error: no records in {tmp_path}/<task>/*.json: run scripts/evaluate_lm.sh or "
        "scripts/evaluate_mt.sh first"]
