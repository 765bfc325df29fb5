"""scripts/reproduce.sh chains prepare -> train -> evaluate (with checkpoint averaging for MT) -> tables, in --smoke
mode on tiny local stand-in data: one model per task, every step through the real scripts."""
import json
import re

import pytest
from cli_runner import script


def reproduce(*args):
    proc = script("reproduce.sh", *args)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("task, model, metric", [("wikitext103", "abc_mlp", "ppl"), ("wmt_en_de", "abc_base", "sacrebleu")])
def test_smoke_pipeline_produces_the_table(tmp_path, task, model, metric):
    code, log = reproduce(task, "--smoke", "--models", model, "--work", str(tmp_path))
    assert code == 0, log[-4000:]
    record = json.load(open(tmp_path / "results" / task / f"{model}.json"))
    assert record["run"]["scale"] == "smoke"
    assert record["metrics"]["test"][metric] >= 0
    if task == "wmt_en_de":
        assert len(record["averaged"]) == 2  # the last two epoch checkpoints were averaged
    table = open(tmp_path / "results" / "results.md").read()
    assert re.search(rf"^\| {model} \(`\w+`\) \|", table, re.M), table
    assert "published" in table  # the anchors' figures sit beside the measured row


def test_bad_task_is_one_line():
    code, log = reproduce("wmt14")
    assert code == 2 and log.strip() == "reproduce: error: unknown TASK 'wmt14': choose wikitext103 or wmt_en_de"
