"""memformer_lm end to end through the real CLIs on tiny data: train (MRBP), resume with the streams' memory,
stateful fairseq-eval-lm, fairseq-interactive and the constant-memory generation script across segment
boundaries, fairseq-hydra-train, and one-line errors for settings that do not fit."""
import os
import re
import shutil
import sys

import pytest
from cli_runner import REPO, TRAIN_COMMON, USER_DIR, lm_data, run

SEGMENT = 8
TINY = ["--arch", "memformer_lm_small", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
        "--memformer-segment-length", str(SEGMENT), "--memformer-slots", "8"]
GENERATE = os.path.join(REPO, "scripts", "memformer_generate.py")


def train(data, save_dir, max_update, extra=()):
    return run("train", data, "--user-dir", USER_DIR, "--task", "memformer_lm", *TINY, "--tokens-per-sample",
               str(4 * SEGMENT), "--batch-size", "4", "--max-update", max_update, "--save-interval-updates", "4",
               "--save-dir", save_dir, *TRAIN_COMMON, *extra)


@pytest.fixture(scope="module")
def lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("memformer_lm")))


@pytest.fixture(scope="module")
def trained(lm_bin, tmp_path_factory):
    save_dir = str(tmp_path_factory.mktemp("memformer_ckpt"))
    log = train(lm_bin, save_dir, max_update=8)
    assert "4 segments of 8 tokens per batch row (mrbp" in log and "num_updates 8" in log
    assert re.search(r"valid on 'valid' subset \| loss [\d.]+ \| ppl [\d.]+", log)
    return save_dir


def test_resume_continues_the_streams_from_the_checkpoint_memory(lm_bin, trained, tmp_path):
    save_dir = str(tmp_path / "resume")
    shutil.copytree(trained, save_dir)
    log = train(lm_bin, save_dir, max_update=12)
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch 1 @ 8 updates\)", log)
    assert "split 'train' continues its streams from the checkpoint's memory at block 8" in log
    assert "num_updates 12" in log and "afresh" not in log


def eval_lm(data, checkpoint, *extra, expect_fail=False):
    return run("eval-lm", data, "--user-dir", USER_DIR, "--task", "memformer_lm", "--path", checkpoint,
               "--gen-subset", "test", "--cpu", *extra, expect_fail=expect_fail)


def test_eval_lm_scores_the_whole_stream_statefully(lm_bin, trained):
    checkpoint = os.path.join(trained, "checkpoint_best.pt")
    short = eval_lm(lm_bin, checkpoint, "--tokens-per-sample", str(2 * SEGMENT))
    whole = eval_lm(lm_bin, checkpoint, "--tokens-per-sample", str(400 * SEGMENT))  # the test split in one block
    loss = [re.search(r"Loss \(base 2\): ([\d.]+), Perplexity: ([\d.]+)", log).groups() for log in (short, whole)]
    assert loss[0] == loss[1]  # memory carried across blocks: the block size does not change the score
    tokens = [re.search(r"Evaluated ([\d,]+) tokens", log).group(1) for log in (short, whole)]
    assert tokens[0] == tokens[1]


def test_interactive_beam_search_continues_prompts_across_segments(lm_bin, trained):
    prompt = "In the current implementation , the built - in variable"  # 12 tokens: already past a segment
    log = run("interactive", lm_bin, "--user-dir", USER_DIR, "--task", "memformer_lm", "--path",
              os.path.join(trained, "checkpoint_best.pt"), "--max-len-b", str(5 * SEGMENT),
              "--min-len", str(4 * SEGMENT), "--cpu", "--beam", "4", stdin=prompt + "\nThe assert statement\n")
    hypotheses = re.findall(r"^H-\d+\t\S+\t(.*)$", log, re.M)
    assert len(hypotheses) == 2 and hypotheses[0].startswith(prompt)
    assert all(len(h.split()) >= 4 * SEGMENT for h in hypotheses)


def test_generation_script_streams_any_length_in_constant_memory(lm_bin, trained):
    log = run(sys.executable, GENERATE, lm_bin, "--path", os.path.join(trained, "checkpoint_best.pt"),
              "--prompt", "The assert statement", "--num-tokens", 60 * SEGMENT, "--sampling-topk", "5", "--cpu",
              "--report-state")
    state = [int(n) for n in re.findall(r"^state bytes: (\d+)$", log, re.M)]  # every 8 tokens, same phase
    assert len(state) == 60 and len(set(state[1:])) == 1 and 0 < state[0] <= state[1]  # (the first segment
    # encoded only the initial eos)
    text = [line for line in log.splitlines() if not line.startswith("state bytes") and "|" not in line]
    assert len(" ".join(text).split()) >= 50 * SEGMENT  # eos ends lines; every other token is printed


def test_hydra_train_with_the_small_preset(lm_bin, tmp_path):
    log = run("hydra-train", "--config-dir", os.path.join(REPO, "configs"), "--config-name", "lm",
              "model=memformer_lm_small", "task._name=memformer_lm", "~task.sample_break_mode", f"task.data={lm_bin}",
              f"task.tokens_per_sample={4 * SEGMENT}", "dataset.batch_size=4", "dataset.max_tokens=null",
              f"model.memformer_segment_length={SEGMENT}", "model.decoder_layers=1", "model.encoder_embed_dim=32",
              "model.decoder_embed_dim=32", f"checkpoint.save_dir={tmp_path}", "common.cpu=true",
              "optimization.max_update=2", f"common.user_dir={USER_DIR}", cwd=str(tmp_path))
    assert "num_updates 2" in log and os.path.exists(tmp_path / "checkpoint_last.pt")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--task", "language_modeling", *TINY, "--tokens-per-sample", "32", "--max-tokens", "128"],
         "--arch memformer_lm* needs --task memformer_lm"),
        (["--task", "memformer_lm", *TINY, "--tokens-per-sample", "30", "--batch-size", "2"],
         "--tokens-per-sample=30 is not a multiple of the model's --memformer-segment-length=8"),
    ],
    ids=["other-task", "segment-multiple"],
)
def test_bad_settings_give_one_line_errors(lm_bin, tmp_path, flags, message):
    """(the other checks, on data size, models and --context-window, run in-process in tests/tasks)"""
    log = run("train", lm_bin, "--user-dir", USER_DIR, *flags, "--max-update", "1", "--save-dir", str(tmp_path),
              "--cpu", expect_fail=True)
    assert message in log and "Traceback" not in log
