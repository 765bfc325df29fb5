"""scripts/evaluate_lm.sh, evaluate_mt.sh and collect_results.sh end to end on tiny data, through the real fairseq
tools: LMs (abc_lm, fairseq's transformer_lm, memformer_lm with its stateful task) trained for a few updates on a
slice of the embedded corpus; translation models (abc_transformer, fairseq's transformer) trained on a tiny
sentencepiece-encoded English-German set laid out as scripts/prepare_wmt_en_de.sh lays it out (raw/ references,
spm.model), with update checkpoints to average. Trainings and evaluations run two at a time."""
import json
import os
import random
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import sacrebleu
import sentencepiece as spm
from cli_runner import REPO, TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, run

from memattn_fairseq.recipes import checkpoint_info, state_size
from memattn_fairseq.recipes.eval_lm_log import parse_eval_lm
from memattn_fairseq.recipes.generation_log import parse_generate

SCRIPTS = os.path.join(REPO, "scripts")
SEGMENT = 8
LM_MODELS = {
    "abc_lm": ["--task", "language_modeling", "--arch", "abc_lm", *TINY_LM, "--abc-slots", "8",
               "--tokens-per-sample", "32", "--max-tokens", "256"],
    "transformer_lm": ["--task", "language_modeling", "--arch", "transformer_lm", *TINY_LM,
                       "--tokens-per-sample", "32", "--max-tokens", "256"],
    "memformer_lm": ["--task", "memformer_lm", "--arch", "memformer_lm_small", "--decoder-embed-dim", "32",
                     "--decoder-ffn-embed-dim", "64", "--memformer-segment-length", str(SEGMENT),
                     "--memformer-slots", "8", "--tokens-per-sample", str(4 * SEGMENT), "--batch-size", "4"],
}
MT_MODELS = {
    "abc_transformer": ["--arch", "abc_transformer", *TINY_MT, "--abc-encoder-slots", "8", "--abc-decoder-slots", "8",
                        "--abc-cross-slots", "4"],
    "transformer": ["--arch", "transformer", *TINY_MT],
}
# word-by-word "translations"; several German ones are hyphenated compounds, so compound splitting has work to do
EN_DE = {"the": "die", "small": "kleine", "house": "Haus", "red": "rote", "car": "Auto", "email": "E-Mail",
         "weekend": "Wochen-Ende", "city": "Stadt", "center": "Zentrum", "online": "Online-Shop", "we": "wir",
         "see": "sehen", "new": "neue", "station": "Bahn-Hof", "and": "und", "big": "grosse", "garden": "Garten"}
SHORT_OUTPUTS = ["--max-len-a", "1.2", "--max-len-b", "10"]  # fairseq-generate flags: untrained models babble
SMOKE_STATE_STEPS = 16  # evaluate_mt.sh --smoke measures the state after 16 source and 16 target tokens


def script(name, *args, expect_fail=False):
    return run("/bin/bash", os.path.join(SCRIPTS, name), *args, expect_fail=expect_fail)


def two_at_a_time(jobs):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [f.result() for f in [pool.submit(job) for job in jobs]]


def translation_data(out_dir: str, train_pairs: int = 300) -> str:
    """raw/ text, a joint sentencepiece model and the binarised pieces, as prepare_wmt_en_de.sh lays them out."""
    rng = random.Random(0)
    words = sorted(EN_DE)
    raw, pieces, dest = (os.path.join(out_dir, d) for d in ("raw", "pieces", "bin"))
    for d in (raw, pieces):
        os.makedirs(d, exist_ok=True)
    for split, count in (("train", train_pairs), ("valid", 12), ("test", 16)):
        sentences = [[rng.choice(words) for _ in range(rng.randint(3, 8))] for _ in range(count)]
        with open(f"{raw}/{split}.en", "w") as en, open(f"{raw}/{split}.de", "w") as de:
            for s in sentences:
                en.write(" ".join(s).capitalize() + ".\n")
                german = " ".join(EN_DE[w] for w in s)
                de.write(german[0].upper() + german[1:] + ".\n")
    spm.SentencePieceTrainer.train(input=f"{raw}/train.en,{raw}/train.de", model_prefix=f"{out_dir}/spm",
                                   vocab_size=60, character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    model = spm.SentencePieceProcessor(model_file=f"{out_dir}/spm.model")
    for split in ("train", "valid", "test"):
        for lang in ("en", "de"):
            with open(f"{raw}/{split}.{lang}") as src, open(f"{pieces}/{split}.{lang}", "w") as dst:
                dst.writelines(" ".join(model.encode(line.strip(), out_type=str)) + "\n" for line in src)
    run("preprocess", "--source-lang", "en", "--target-lang", "de", "--trainpref", f"{pieces}/train",
        "--validpref", f"{pieces}/valid", "--testpref", f"{pieces}/test", "--destdir", dest, "--joined-dictionary",
        "--workers", "1")
    shutil.copy(f"{out_dir}/spm.model", dest)
    os.makedirs(f"{dest}/raw")
    for split in ("valid", "test"):
        for lang in ("en", "de"):
            shutil.copy(f"{raw}/{split}.{lang}", f"{dest}/raw/")
    return dest


def train_lm(data, save_dir, flags):
    run("train", data, "--user-dir", USER_DIR, *flags, "--max-update", "4", "--save-dir", save_dir, *TRAIN_COMMON)
    return os.path.join(save_dir, "checkpoint_best.pt")


def train_mt(data, save_dir, flags):
    run("train", data, "--user-dir", USER_DIR, "--task", "translation", *flags, "--criterion",
        "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--max-tokens", "400", "--max-update", "6",
        "--save-interval-updates", "2", "--save-dir", save_dir, *TRAIN_COMMON)
    return save_dir


def test_eval_lm_log_lines_are_read():
    log = ("2026-01-01 | INFO | fairseq_cli.eval_lm | num. model params: 246,933,504\n"
           "2026-01-01 | INFO | fairseq_cli.eval_lm | Evaluated 245,569 tokens in 91.2s (2692.41 tokens/s)\n"
           "2026-01-01 | INFO | fairseq_cli.eval_lm | Loss (base 2): 4.2250, Perplexity: 18.70\n")
    assert parse_eval_lm(log) == {"params": 246933504, "tokens": 245569, "seconds": 91.2, "tokens_per_s": 2692.41,
                                  "loss_base2": 4.225, "ppl": 18.7}
    assert parse_eval_lm("Loss (base 2): 3.0000, Perplexity: 8.00") == {"loss_base2": 3.0, "ppl": 8.0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Data, trained checkpoints, and every evaluation written to one results directory."""
    root = tmp_path_factory.mktemp("evaluate")
    lm_bin, mt_bin = two_at_a_time([lambda: lm_data(str(root / "lm")),
                                    lambda: translation_data(str(root / "mt"))])
    trainings = [(name, lambda n=name: train_lm(lm_bin, str(root / n), LM_MODELS[n])) for name in LM_MODELS]
    trainings += [(name, lambda n=name: train_mt(mt_bin, str(root / n), MT_MODELS[n])) for name in MT_MODELS]
    trained = dict(zip([name for name, _ in trainings], two_at_a_time([job for _, job in trainings])))
    results = str(root / "results")
    evaluations = [lambda n=name: script("evaluate_lm.sh", "--smoke", "--name", n, "--data", lm_bin, "--checkpoint",
                                         trained[n], "--results", results) for name in LM_MODELS]
    evaluations += [lambda n=name: script("evaluate_mt.sh", "--smoke", "--name", n, "--data", mt_bin,
                                          "--checkpoint-dir", trained[n], "--results", results,
                                          "--", *SHORT_OUTPUTS) for name in MT_MODELS]
    two_at_a_time(evaluations)
    return {"lm_bin": lm_bin, "mt_bin": mt_bin, "trained": trained, "results": results}


def record(runs, task, name):
    with open(os.path.join(runs["results"], task, f"{name}.json")) as handle:
        return json.load(handle)


def test_lm_records_hold_perplexities_params_memory_and_state(runs):
    for name in LM_MODELS:
        rec = record(runs, "wikitext103", name)
        log = open(rec["eval"]["logs"]["test"]).read()
        assert rec["model"]["params"] == int(re.search(r"num\. model params: ([\d,]+)", log).group(1).replace(",", ""))
        for subset in ("valid", "test"):
            metrics = rec["metrics"][subset]
            assert metrics["ppl"] == pytest.approx(2 ** metrics["loss_base2"], rel=1e-3)
            assert metrics["tokens"] > 0 and metrics["tokens_per_s"] > 0
        assert rec["run"]["scale"] == "smoke" and rec["run"]["device"] == "cpu" and rec["run"]["hardware"]
        assert rec["state"]["steps"] == rec["eval"]["tokens_per_sample"] == 32
    abc, transformer, memformer = (record(runs, "wikitext103", n) for n in LM_MODELS)
    assert abc["model"]["memory_label"] == "n=8 (mlp)" and abc["eval"]["context_window"] == 16  # smoke: half a block
    assert transformer["model"]["memory_label"].startswith("KV cache")
    assert memformer["model"]["memory_label"] == f"K=8, {SEGMENT}-token segments"
    assert memformer["eval"]["fairseq_task"] == "memformer_lm" and memformer["eval"]["context_window"] == 0
    # ABC: K~, V~ (n x d per head) and log-normaliser (n per head) per layer, fp32; the transformer: K and V of every
    # token per layer
    layers, dim, heads, slots, steps = 2, 32, 4, 8, 32
    assert abc["state"]["bytes"] == layers * (2 * slots * dim + heads * slots) * 4
    assert transformer["state"]["bytes"] == layers * 2 * steps * dim * 4


def test_memformer_is_scored_as_one_stream_without_a_context_window(runs):
    log = open(record(runs, "wikitext103", "memformer_lm")["eval"]["logs"]["test"]).read()
    assert "'_name': 'memformer_lm'" in log and "'context_window': 0" in log and "'batch_size': 1" in log


def test_mt_records_score_the_averaged_checkpoints_against_the_raw_references(runs):
    for name in MT_MODELS:
        rec = record(runs, "wmt_en_de", name)
        updates = sorted(int(re.match(r"checkpoint_\d+_(\d+)\.pt", f).group(1))
                         for f in os.listdir(runs["trained"][name]) if re.match(r"checkpoint_\d+_\d+\.pt$", f))
        assert [int(re.search(r"_(\d+)\.pt$", p).group(1)) for p in rec["averaged"]] == updates[-2:]
        assert rec["checkpoint"].endswith("checkpoint_avg_last2.pt") and os.path.isfile(rec["checkpoint"])
        for subset in ("test", "valid"):
            refs = open(os.path.join(runs["mt_bin"], "raw", f"{subset}.de")).read().splitlines()
            log = parse_generate(open(rec["eval"]["logs"][subset]).read())
            hyps = [log.detokenized[i] for i in range(len(refs))]
            assert all("\u2581" not in h for h in hyps)  # sentencepiece removed
            metrics = rec["metrics"][subset]
            assert metrics["sacrebleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
            assert 0 <= metrics["compound_split_bleu"] <= 100 and "tok:13a" in metrics["sacrebleu_signature"]
            assert metrics["sentences"] == len(refs) and metrics["tokens_per_s"] > 0
        assert rec["eval"]["beam"] == 4 and rec["eval"]["lenpen"] == 0.6
        assert rec["state"]["steps"] == rec["state"]["source_length"] == SMOKE_STATE_STEPS
    abc, transformer = (record(runs, "wmt_en_de", n) for n in MT_MODELS)
    assert abc["model"]["memory_label"] == "enc n=8, dec n=8, cross n=4 (mlp)"
    assert abc["state"]["bytes"] < transformer["state"]["bytes"]


def test_collect_results_tables_every_record_beside_the_published_figures(runs, tmp_path):
    out = str(tmp_path / "results.md")
    printed = script("collect_results.sh", "--results", runs["results"], "--out", out)
    table = open(out).read()
    assert table in printed
    for anchor in ("18.7", "17.97", "247M", "28.4", "29.3", "22.74"):
        assert f"| {anchor}" in table
    assert table.count("smoke scale") == 2 and "CPU:" in table
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in table.splitlines() if "measured [" in line}
    for name in LM_MODELS:
        cells = rows[f"{name} (`{record(runs, 'wikitext103', name)['model']['arch']}`)"]
        metrics = record(runs, "wikitext103", name)["metrics"]
        assert float(cells[3]) == pytest.approx(metrics["valid"]["ppl"], abs=0.006)
        assert float(cells[4]) == pytest.approx(metrics["test"]["ppl"], abs=0.006)
    for name in MT_MODELS:
        cells = rows[f"{name} (`{record(runs, 'wmt_en_de', name)['model']['arch']}`)"]
        metrics = record(runs, "wmt_en_de", name)["metrics"]
        assert float(cells[3]) == pytest.approx(metrics["test"]["sacrebleu"], abs=0.006)
        assert float(cells[4]) == pytest.approx(metrics["test"]["compound_split_bleu"], abs=0.006)


def test_state_size_and_checkpoint_info_tools(runs, capsys):
    """The tools the scripts build on, as a user calls them: python -m memattn_fairseq.recipes.{state_size,...}."""
    transformer = runs["trained"]["transformer_lm"]
    state_size.main(["--data", runs["lm_bin"], "--checkpoint", transformer, "--steps", "8", "--cpu"])
    measured = json.loads(capsys.readouterr().out)
    assert measured == {"bytes": 2 * 2 * 8 * 32 * 4, "steps": 8, "source_length": None, "dtype": "float32"}
    checkpoint_info.main([runs["trained"]["memformer_lm"], "--get", "task", "tokens_per_sample", "segment_length"])
    assert capsys.readouterr().out.split() == ["memformer_lm", str(4 * SEGMENT), str(SEGMENT)]
    checkpoint_info.main([os.path.join(runs["trained"]["abc_transformer"], "checkpoint_last.pt")])
    info = json.loads(capsys.readouterr().out)
    assert info["task"] == "translation" and info["num_updates"] == 6
    assert info["memory"]["roles"]["cross"] == {"slots": 4, "control": "mlp"}


@pytest.mark.parametrize("tool, args, message", [
    ("evaluate_lm.sh", ["--context-window", "4"], "--context-window does not apply to memformer_lm checkpoints"),
    ("evaluate_lm.sh", ["--tokens-per-sample", "32", "--context-window", "32"],
     "--context-window 32 must be smaller than --tokens-per-sample 32"),
    ("evaluate_mt.sh", ["--subsets", "test,train"], "has no raw/train.de"),
], ids=["memformer-window", "window-too-large", "no-references"])
def test_bad_settings_give_one_line_errors(runs, tool, args, message, tmp_path):
    if tool == "evaluate_lm.sh":
        model = "memformer_lm" if "memformer" in message else "abc_lm"
        where = ["--data", runs["lm_bin"], "--checkpoint", runs["trained"][model]]
    else:
        where = ["--data", runs["mt_bin"], "--checkpoint-dir", runs["trained"]["transformer"]]
    log = script(tool, "--smoke", "--name", "bad", *where, "--results", str(tmp_path), *args, expect_fail=True)
    assert message in log and "Traceback" not in log
