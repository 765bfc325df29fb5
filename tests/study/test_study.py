"""The quality study end to end at its tiny size: the corpora recipes' smoke stand-ins, every run through the real
fairseq tools, resume of an interrupted run, and the files of the report."""
import csv
import json
import math
import os
import shutil
import subprocess
import sys

import pytest
import torch

from memattn_fairseq.study.budgets import BUDGETS
from memattn_fairseq.study.runner import Run, curve, train_command
from memattn_fairseq.study.variants import LM_VARIANTS

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from cli_runner import REPO, assert_one_line_error  # noqa: E402

ENV = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")


def module(name, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", name, *map(str, args)], capture_output=True, text=True, env=ENV,
                          cwd=REPO, timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora")
    lm, mt = root / "lm", root / "mt"
    module("memattn_fairseq.recipes.kernel_docs", "--smoke", "--downloads", root / "debs", "--dest", lm,
           "--workers", 1)
    module("memattn_fairseq.recipes.gettext_en_fr", "--smoke", "--downloads", root / "debs", "--dest", mt,
           "--workers", 1)
    return lm, mt


def test_corpora_record_their_sources_and_keep_splits_apart(corpora):
    lm, mt = corpora
    for data in (lm, mt):
        manifest = (data / "manifest.tsv").read_text().splitlines()
        assert manifest[0] == "package\tfile\tsha256" and len(manifest) > 1
        assert all(len(row.split("\t")[2]) == 64 for row in manifest[1:])
        assert any((data / "copyright").iterdir())
    tokens = json.loads((lm / "tokens.json").read_text())
    assert all(tokens[split] > 0 for split in ("train", "valid", "test"))
    # each stand-in document starts with its own heading "Topic N": a document is in one split only
    headings = {s: {line for line in (lm / "text" / f"{s}.txt").read_text().splitlines() if line.startswith("Topic ")}
                for s in ("train", "valid", "test")}
    assert all(headings.values()) and sum(map(len, headings.values())) == 600
    assert len(set.union(*headings.values())) == 600
    english = {s: (mt / "raw" / f"{s}.en").read_text().splitlines() for s in ("train", "valid", "test")}
    french = {s: (mt / "raw" / f"{s}.fr").read_text().splitlines() for s in ("train", "valid", "test")}
    assert all(len(english[s]) == len(french[s]) > 0 for s in english)
    assert not set(english["train"]) & set(english["test"]) and not set(english["valid"]) & set(english["test"])
    pairs = json.loads((mt / "pairs.json").read_text())
    assert pairs["test"] == len(english["test"])  # the test set is never filtered: every sentence is scored


def test_gettext_cleaning():
    from memattn_fairseq.recipes.gettext_en_fr import clean

    assert clean("_Open  the\tfile") == "Open the file"
    assert clean("~Save") == "Save" and clean("&Quit") == "Quit"
    assert clean("file_name &amp; a_b") == "file_name &amp; a_b"


def test_curve_adds_training_seconds_across_a_restart(tmp_path):
    """fairseq's ``wall`` meter starts from zero on resume; the curve sums each interval's ``train_wall`` instead,
    and an interval logged twice (before and after a restart) counts once."""
    def line(kind, stats):
        return f"2026-01-01 00:00:00 | INFO | {kind} | {json.dumps(stats)}\n"

    log = tmp_path / "train.log"
    log.write_text("".join([
        line("train_inner", {"num_updates": "100", "train_wall": "50", "wall": "52"}),
        line("valid", {"valid_ppl": "400", "valid_num_updates": "100"}),
        line("train_inner", {"num_updates": "200", "train_wall": "40", "wall": "95"}),  # then killed before valid
        "Loaded checkpoint checkpoint_last.pt (epoch 1 @ 100 updates)\n",
        line("train_inner", {"num_updates": "200", "train_wall": "45", "wall": "0"}),
        line("valid", {"valid_ppl": "300", "valid_num_updates": "200"}),
        line("train_inner", {"num_updates": "300", "train_wall": "44", "wall": "0"}),
        line("valid", {"valid_ppl": "250", "valid_num_updates": "300"})]))
    assert curve(log, "lm") == [{"update": 100, "metric": 400.0, "train_seconds": 50.0},
                                {"update": 200, "metric": 300.0, "train_seconds": 95.0},
                                {"update": 300, "metric": 250.0, "train_seconds": 139.0}]


def test_lm_study_runs_resumes_and_reports(corpora, tmp_path):
    lm, _ = corpora
    out = tmp_path / "lm"
    budget = BUDGETS["lm"]["tiny"]
    # an interrupted run: the first half of the memformer run's budget, through the study's own command
    interrupted = Run("lm", LM_VARIANTS["memformer"], 512, 1)
    run_dir = out / "runs" / interrupted.name
    run_dir.mkdir(parents=True)
    command = train_command(interrupted, lm, budget, run_dir / "checkpoints", "cpu")
    command[command.index("--max-update") + 1] = str(budget.updates // 2)
    with open(run_dir / "train.log", "w") as log:
        assert subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=ENV).returncode == 0
    assert [p["update"] for p in curve(run_dir / "train.log", "lm")] == [budget.updates // 2]

    listed = module("memattn_fairseq.study", "lm", lm, "--sweeps", "memformer_memory", "--seeds", "1",
                    "--size", "tiny", "--out", out, "--list").stdout.split("\n")
    assert "memformer-c512-s1 to run" in listed and "memformer_nomem-c512-s1 to run" in listed
    only = module("memattn_fairseq.study", "lm", lm, "--sweeps", "memformer_memory", "--seeds", "1,2", "--models",
                  "memformer", "--size", "tiny", "--out", out, "--list").stdout.split()
    assert only == ["memformer-c512-s1", "to", "run", "memformer-c512-s2", "to", "run"]

    module("memattn_fairseq.study", "lm", lm, "--sweeps", "memformer_memory", "--seeds", "1", "--size", "tiny",
           "--out", out)
    log = (run_dir / "train.log").read_text()
    assert f"Loaded checkpoint {run_dir / 'checkpoints' / 'checkpoint_last.pt'} (epoch 1 @ 3 updates)" in log
    result = json.loads((run_dir / "result.json").read_text())
    assert [p["update"] for p in result["curve"]] == [3, 6] and result["test"] > 1
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert sorted(r["name"] for r in rows) == ["memformer-c512-s1", "memformer_nomem-c512-s1", "transformer-c512-s1"]
    params = {r["variant"]: int(r["params"]) for r in rows}
    assert params["memformer_nomem"] < params["memformer"]  # no writer without memory
    assert len(list(csv.DictReader(open(out / "curves.csv")))) == 6
    summary = (out / "summary.md").read_text()
    assert "| fairseq transformer_lm (softmax, pre-norm) | 512 | 1 |" in summary and "| 1.000 | 1.000 |" in summary
    png = (out / "curves_memformer_memory.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000

    # a second start redoes nothing
    mtimes = {p: p.stat().st_mtime for p in out.glob("runs/*/result.json")}
    module("memattn_fairseq.study", "lm", lm, "--sweeps", "memformer_memory", "--seeds", "1", "--size", "tiny",
           "--out", out)
    assert {p: p.stat().st_mtime for p in out.glob("runs/*/result.json")} == mtimes

    # --updates continues a copy of a finished run from its last checkpoint (the schedule ignores the length)
    longer = tmp_path / "longer"
    shutil.copytree(out / "runs" / "transformer-c512-s1", longer / "runs" / "transformer-c512-s1")
    (longer / "runs" / "transformer-c512-s1" / "result.json").unlink()
    module("memattn_fairseq.study", "lm", lm, "--sweeps", "core", "--models", "transformer", "--seeds", "1",
           "--size", "tiny", "--updates", budget.updates + 3, "--out", longer)
    extended = json.loads((longer / "runs" / "transformer-c512-s1" / "result.json").read_text())
    assert [p["update"] for p in extended["curve"]] == [3, 6, 9]
    assert "@ 6 updates)" in (longer / "runs" / "transformer-c512-s1" / "train.log").read_text()
    assert f"{budget.updates + 3} updates" in (longer / "summary.md").read_text()


def test_mt_study_scores_detokenised_bleu(corpora, tmp_path):
    _, mt = corpora
    out = tmp_path / "mt"
    module("memattn_fairseq.study", "mt", mt, "--sweeps", "core", "--seeds", "1", "--size", "tiny", "--out", out)
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 4 and all(0 <= float(r["test"]) <= 100 for r in rows)
    generated = (out / "runs" / "transformer-s1" / "test.log").read_text()
    assert generated.count("\nH-") == len((mt / "raw" / "test.fr").read_text().splitlines())  # none dropped
    assert "BLEU − transformer" in (out / "summary.md").read_text()


def test_bad_sweep_is_one_line(corpora, tmp_path):
    lm, _ = corpora
    proc = module("memattn_fairseq.study", "lm", lm, "--sweeps", "core,slots", "--out", tmp_path, check=False)
    assert_one_line_error(proc, "--sweeps", "'slots'")
    proc = module("memattn_fairseq.study", "lm", lm, "--models", "abc_mlp8", "--out", tmp_path, check=False)
    assert_one_line_error(proc, "--models", "'abc_mlp8'", "abc_mlp64")
    proc = module("memattn_fairseq.study", "lm", lm, "--lr", "0", "--out", tmp_path, check=False)
    assert_one_line_error(proc, "--lr must be > 0")


def test_conversion_study_compares_the_four_arms(corpora, tmp_path):
    lm, _ = corpora
    out = tmp_path / "lm"
    module("memattn_fairseq.study", "lm", lm, "--sweeps", "core", "--models", "transformer,abc_mlp64", "--seeds", "1",
           "--size", "tiny", "--out", out)
    args = ("memattn_fairseq.study.conversion", lm, "--study", out, "--models", "abc_mlp64", "--size", "tiny",
            "--finetune-updates", "2", "--transfer-updates", "2")
    module(*args)
    rows = list(csv.DictReader(open(out / "conversion" / "results.csv")))
    arms = {(r["arm"], int(r["update"])) for r in rows}
    assert arms == {("teacher", 0), *((a, u) for a in ("direct", "transfer", "scratch") for u in (0, 1, 2))}
    record = torch.load(out / "conversion" / "abc_mlp64-transfer" / "converted.pt", weights_only=False)["conversion"]
    assert record["transfer_updates"] == 2
    scratch_log = (out / "conversion" / "abc_mlp64-scratch" / "train.log").read_text()
    assert "@ 6 updates)" in scratch_log  # continued from the study's own run
    summary = (out / "conversion" / "summary.md").read_text()
    assert "| ABC (mlp control), n=64 | transfer |" in summary
    mtime = (out / "conversion" / "abc_mlp64-direct" / "converted.pt").stat().st_mtime
    module(*args)  # a second start converts nothing again
    assert (out / "conversion" / "abc_mlp64-direct" / "converted.pt").stat().st_mtime == mtime


def test_conversion_study_translates(corpora, tmp_path):
    _, mt = corpora
    out = tmp_path / "mt"
    module("memattn_fairseq.study", "mt", mt, "--sweeps", "roles", "--models", "transformer,memsizer_decoder",
           "--seeds", "1", "--size", "tiny", "--out", out)
    module("memattn_fairseq.study.conversion", mt, "--task", "mt", "--study", out, "--models", "memsizer_decoder",
           "--size", "tiny", "--finetune-updates", "2", "--transfer-updates", "2")
    rows = list(csv.DictReader(open(out / "conversion" / "results.csv")))
    arms = {(r["arm"], int(r["update"])) for r in rows}
    assert arms == {("teacher", 0), *((a, u) for a in ("direct", "transfer", "scratch") for u in (0, 1, 2))}
    assert all(0 <= float(r["valid_bleu"]) <= 100 for r in rows)
    teacher = json.loads((out / "runs" / "transformer-s1" / "result.json").read_text())["valid"]
    assert float(next(r["valid_bleu"] for r in rows if r["arm"] == "teacher")) == teacher
    assert "| bleu " in (out / "conversion" / "memsizer_decoder-direct" / "validate.log").read_text()
    summary = (out / "conversion" / "summary.md").read_text()
    assert "BLEU − teacher" in summary and "| MemSizer (decoder; k=32) | transfer |" in summary


def test_positions_pool_losses_by_context_length():
    from memattn_fairseq.study.positions import bucket_edges, bucket_label, bucket_perplexities
    assert bucket_edges(1) == [0] and bucket_edges(6) == [0, 1, 2, 4]
    assert [bucket_label([0, 1, 2, 4], i, 6) for i in range(4)] == ["0", "1", "2-3", "4-5"]
    losses = torch.tensor([4.0, 2.0, 1.0, 3.0, 0.0, 2.0], dtype=torch.float64)  # summed over 2 blocks
    counts = torch.tensor([2.0, 2.0, 2.0, 2.0, 1.0, 1.0], dtype=torch.float64)  # the second block is 4 long
    expected = [math.exp(2.0), math.exp(1.0), math.exp(4.0 / 4), math.exp(2.0 / 2)]
    assert bucket_perplexities(losses, counts, [0, 1, 2, 4]) == pytest.approx(expected)


def test_positions_compare_checkpoints_of_one_study(corpora, tmp_path):
    lm, _ = corpora
    out = tmp_path / "lm"
    module("memattn_fairseq.study", "lm", lm, "--sweeps", "core", "--models", "transformer,abc_mlp64,memformer",
           "--seeds", "1", "--size", "tiny", "--out", out)
    runs = out / "runs"
    proc = module("memattn_fairseq.study.positions", lm, runs / "transformer-c512-s1", runs / "abc_mlp64-c512-s1",
                  "--max-blocks", 3, "--cpu")
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    assert table[0].startswith("| model | all | 0 | 1 | 2-3 |") and table[0].endswith("| 256-511 |")
    assert table[1].startswith("| transformer-c512-s1 |") and table[2].startswith("| abc_mlp64-c512-s1 |")
    overall = json.loads((runs / "transformer-c512-s1" / "result.json").read_text())["valid"]
    assert 1 < float(table[1].split("|")[2]) < 10 * overall
    ratios = table[-1].split("|")[2:-1]
    assert table[-1].startswith("| abc_mlp64-c512-s1 |") and len(ratios) == 11
    assert float(ratios[0]) == pytest.approx(float(table[2].split("|")[2]) / float(table[1].split("|")[2]), rel=1e-2)
    proc = module("memattn_fairseq.study.positions", lm, runs / "transformer-c512-s1", runs / "memformer-c512-s1",
                  "--cpu", check=False)
    assert_one_line_error(proc, "memformer-c512-s1 is a Memformer", "fairseq-eval-lm")
