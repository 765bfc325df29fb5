"""A real fairseq-train, killed (SIGKILL) again and again, at every kind of moment of a checkpoint save and between
saves, resumes each time from its newest complete checkpoint: no kill loses more than the updates since then."""
import os
import re
import signal
import subprocess
import time

import pytest
import torch
from cli_runner import BIN, TINY_LM, TRAIN_COMMON, USER_DIR, lm_data

LOADED = re.compile(r"Loaded checkpoint \S*checkpoint_last\.pt \(epoch \d+ @ (\d+) updates\)")
UPDATE_FILE = re.compile(r"^checkpoint_\d+_(\d+)\.pt$")


@pytest.fixture(scope="module")
def long_lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("kill_lm")), train_lines=1500)  # an epoch outlasts every run


def start(data, save_dir, log_path, max_update):
    """fairseq-train saving after every update (the whole epoch is longer than the run, so every save is
    mid-epoch); output to ``log_path``."""
    command = [os.path.join(BIN, "fairseq-train"), data, "--user-dir", USER_DIR, "--task", "language_modeling",
               "--arch", "abc_lm", *TINY_LM, "--abc-slots", "8", "--tokens-per-sample", "64", "--max-tokens", "128",
               "--max-update", str(max_update), "--save-interval-updates", "1", "--keep-interval-updates", "2",
               "--disable-validation", "--save-dir", save_dir, *TRAIN_COMMON]
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    log = open(log_path, "w")
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log


def read(path):
    with open(path) as f:
        return f.read()


def files(save_dir):
    try:
        return {entry.name: entry.stat().st_mtime_ns for entry in os.scandir(save_dir)}
    except FileNotFoundError:
        return {}


def update_files(names):
    return {int(m.group(1)) for m in map(UPDATE_FILE.match, names) if m}


def newest_complete(save_dir):
    """Updates of the newest checkpoint a kill left under a final name: each is complete, so the one with the most
    updates (an update checkpoint, or checkpoint_last.pt written first at an epoch's end)."""
    last = os.path.join(save_dir, "checkpoint_last.pt")
    saved = torch.load(last, map_location="cpu", weights_only=True)["optimizer_history"][-1]["num_updates"]
    return max(update_files(files(save_dir)) | {saved})


# When to kill: a test of the save directory's listing (name -> mtime) against its listing once the run had
# chosen where to resume from.
MOMENTS = {
    # the first file of a save is being written
    "mid-write": lambda now, before: any(UPDATE_FILE.match(n[:-4]) for n in now if n.endswith(".pt.tmp")),
    # the save's first file is complete, checkpoint_last.pt is being replaced by its copy
    "mid-copy": lambda now, before: "checkpoint_last.pt.tmp" in now and bool(update_files(now)
                                                                             - update_files(before)),
    # a new checkpoint_<epoch>_<updates>.pt is complete: its copy to checkpoint_last.pt may not have started
    "between-write-and-copy": lambda now, before: bool(update_files(now) - update_files(before)),
    # checkpoint_last.pt was just replaced (the save is cleaning up old checkpoints, or training goes on)
    "after-save": lambda now, before: "checkpoint_last.pt" in now and now["checkpoint_last.pt"] != before.get(
        "checkpoint_last.pt"),
}


def resumed(log_path) -> bool:
    """The run has chosen its starting point (from here on the save directory changes only by its saves)."""
    text = read(log_path)
    return "Loaded checkpoint" in text or "No existing checkpoint found" in text


def kill_at(moment, data, save_dir, log_path, deadline_s=120):
    """Start a run and kill it at ``moment`` of one of its saves; returns the save directory's listing then."""
    proc, log = start(data, save_dir, log_path, max_update=10_000)
    before = None
    try:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and proc.poll() is None:
            if before is None:
                before = files(save_dir) if resumed(log_path) else None
                time.sleep(0.01)
                continue
            now = files(save_dir)
            if MOMENTS[moment](now, before):
                proc.send_signal(signal.SIGKILL)
                return now
            time.sleep(0.0005)
        raise AssertionError(f"the run never reached the moment {moment!r}:\n{read(log_path)[-3000:]}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()


def test_killed_runs_resume_from_the_newest_complete_checkpoint(long_lm_bin, tmp_path):
    save_dir = str(tmp_path / "ckpt")
    expected = None  # updates of the newest complete checkpoint left by the previous kill
    for cycle, moment in enumerate(["after-save", "mid-write", "between-write-and-copy", "mid-copy"]):
        log_path = str(tmp_path / f"run{cycle}.log")
        listing = kill_at(moment, long_lm_bin, save_dir, log_path)
        if expected is not None:
            log = read(log_path)
            loaded = LOADED.search(log)
            assert loaded and int(loaded.group(1)) == expected, f"after a kill {moment!r}:\n{log[-3000:]}"
        if moment.startswith("mid-"):
            assert any(name.endswith(".pt.tmp") for name in listing)  # the kill did land inside a save
        expected = newest_complete(save_dir)
    log_path = str(tmp_path / "final.log")
    proc, log = start(long_lm_bin, save_dir, log_path, max_update=expected + 2)
    assert proc.wait(timeout=300) == 0, read(log_path)[-3000:]
    log.close()
    text = read(log_path)
    assert int(LOADED.search(text).group(1)) == expected and f"num_updates {expected + 2}" in text
    assert not [name for name in os.listdir(save_dir) if name.endswith(".corrupt")]
