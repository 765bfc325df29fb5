"""Damaged checkpoints through the real tools: a resume whose checkpoint_last.pt is corrupt says so in one line and
continues from the newest checkpoint that loads, for a plugin model and, with data-parallel ranks resuming together,
for fairseq's own transformer_lm; every tool given a truncated checkpoint names it in one line; a checkpoint whose
extra state holds numpy scalars loads in eval-lm."""
import os
import re
import shutil
import socket
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from cli_runner import REPO, TINY_LM, USER_DIR, run
from tiny_training import train_lm

LOADED = r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch \d+ @ {} updates\)"


def truncate(path, keep=0.5):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])


def test_resume_past_a_corrupt_checkpoint_last(lm_bin, abc_run, tmp_path):
    save_dir = str(tmp_path / "run")
    shutil.copytree(abc_run, save_dir)
    last = os.path.join(save_dir, "checkpoint_last.pt")
    truncate(last)
    log = train_lm(lm_bin, save_dir, max_update=6)
    warnings = [line for line in log.splitlines() if "WARNING" in line and "checkpoint" in line]
    assert len(warnings) == 1, log[-3000:]
    assert f"{last} is truncated" in warnings[0] and "resuming from" in warnings[0]  # checkpoint_best or _1_4
    assert re.search(LOADED.format(4), log) and "num_updates 6" in log
    assert os.path.isfile(last + ".corrupt")
    assert torch.load(last, weights_only=True)["optimizer_history"][-1]["num_updates"] == 6


def two_ranks(data, save_dir, max_update, arch):
    """One fairseq-train per rank (gloo, as the CPU launcher starts them); returns both logs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ranks = [("--distributed-world-size", "2", "--distributed-rank", str(rank), "--distributed-init-method",
              f"tcp://127.0.0.1:{port}", "--distributed-no-spawn", "--distributed-backend", "gloo", "--ddp-backend",
              "legacy_ddp") for rank in (0, 1)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda extra: train_lm(data, save_dir, arch, max_update, extra=extra), ranks))


def test_data_parallel_baseline_resumes_past_a_corrupt_checkpoint_last(lm_bin, tmp_path):
    """fairseq's own transformer_lm (the patches are fairseq's checkpoint code, not the plugin's models)."""
    save_dir = str(tmp_path / "run")
    two_ranks(lm_bin, save_dir, 4, "transformer_lm")
    truncate(os.path.join(save_dir, "checkpoint_last.pt"))
    rank0, _ = two_ranks(lm_bin, save_dir, 5, "transformer_lm")  # both ranks exit 0; only rank 0 logs
    assert "checkpoint_last.pt is truncated" in rank0  # rank 0 chose, rank 1 followed
    assert re.search(LOADED.format(4), rank0) and "num_updates 5" in rank0, rank0[-3000:]


def test_resume_with_no_checkpoint_that_loads_is_a_one_line_error(lm_bin, tmp_path):
    os.makedirs(tmp_path / "run")
    (tmp_path / "run" / "checkpoint_last.pt").write_bytes(b"PK\x03\x04 cut short")
    log = train_lm(lm_bin, str(tmp_path / "run"), expect_fail=True)
    last = log.strip().splitlines()[-1]
    assert last.startswith("memattn_fairseq: error: checkpoint ") and "checkpoint_last.pt is truncated" in last
    assert "move it away to start afresh" in last and "Traceback" not in log


def tool_commands(data, checkpoint, tmp_path):
    lm = ("--task", "language_modeling", "--user-dir", USER_DIR, "--cpu")
    return {
        "eval-lm": (("eval-lm", data, *lm, "--path", checkpoint, "--tokens-per-sample", "64"), {}),
        "generate": (("generate", data, *lm, "--path", checkpoint, "--max-len-b", "8"), {}),
        "interactive": (("interactive", data, *lm, "--path", checkpoint), {"stdin": "The assert statement\n"}),
        "train --restore-file": (("train", data, *lm, "--arch", "abc_lm", *TINY_LM, "--tokens-per-sample", "64",
                                  "--max-tokens", "512", "--max-update", "1", "--optimizer", "adam", "--lr", "0.001",
                                  "--restore-file", checkpoint, "--save-dir", str(tmp_path / "restore")), {}),
        "average_checkpoints.py": ((sys.executable, os.path.join(REPO, "scripts", "average_checkpoints.py"),
                                    "--inputs", checkpoint, "--output", str(tmp_path / "avg.pt")), {}),
    }


def test_every_tool_names_a_truncated_checkpoint(lm_bin, abc_run, tmp_path):
    checkpoint = str(tmp_path / "cut.pt")
    shutil.copy(os.path.join(abc_run, "checkpoint_last.pt"), checkpoint)
    truncate(checkpoint, keep=0.7)
    commands = tool_commands(lm_bin, checkpoint, tmp_path)
    with ThreadPoolExecutor(max_workers=2) as pool:  # mostly interpreter start-up
        logs = dict(zip(commands, pool.map(lambda c: run(*c[0], expect_fail=True, **c[1]), commands.values())))
    for tool, log in logs.items():
        assert "Traceback" not in log, f"{tool}:\n{log[-3000:]}"
        assert log.strip().splitlines()[-1] == (f"memattn_fairseq: error: checkpoint {checkpoint} is truncated "
                                                "(a write that did not finish)"), f"{tool}:\n{log[-3000:]}"


def test_eval_lm_loads_numpy_scalars_in_the_extra_state(lm_bin, abc_run, tmp_path):
    state = torch.load(os.path.join(abc_run, "checkpoint_last.pt"), weights_only=True)
    state["extra_state"].update(val_loss=np.float64(5.25), best=np.float64(5.0), steps=np.int64(4))
    checkpoint = str(tmp_path / "numpy.pt")
    torch.save(state, checkpoint)
    log = run("eval-lm", lm_bin, "--user-dir", USER_DIR, "--path", checkpoint, "--tokens-per-sample", "64", "--cpu",
              "--max-tokens", "512")
    assert re.search(r"Perplexity: \d+\.\d+", log)
