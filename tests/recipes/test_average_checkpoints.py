"""Checkpoint averaging: the mean of the selected checkpoints' tensors (in float64, cast back), the newest
checkpoint's config and state kept, fairseq's selection flags, and one-line errors. (Averaging real fairseq-train
checkpoints that fairseq-generate then loads runs in test_evaluate_scripts.py.)"""
import argparse
import os
import subprocess
import sys

import pytest
import torch
from cli_runner import REPO

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.recipes.average_checkpoints import average_checkpoints, last_checkpoints, main


def fake_checkpoint(path, updates, seed):
    """A checkpoint with fairseq's layout: argparse config (as translation models save it), fp32, fp16 and integer
    tensors, a non-tensor extra state, optimizer history."""
    g = torch.Generator().manual_seed(seed)
    state = {
        "args": None,
        "cfg": {"model": argparse.Namespace(arch="transformer", seed=seed), "task": {"_name": "translation"}},
        "model": {
            "encoder.weight": torch.randn(4, 3, generator=g),
            "decoder.half": (torch.randn(5, generator=g) * 1000).half(),
            "decoder.steps": torch.tensor([updates, seed]),
            "decoder._extra_state": {"streams": f"state of {seed}"},
        },
        "optimizer_history": [{"num_updates": updates}],
        "extra_state": {"train_iterator": {"epoch": seed}},
        "last_optimizer_state": {"step": updates},
    }
    torch.save(state, path)
    return state


@pytest.fixture
def checkpoints(tmp_path):
    names = {"checkpoint_1_2.pt": 2, "checkpoint_1_4.pt": 4, "checkpoint_2_6.pt": 6, "checkpoint1.pt": 5,
             "checkpoint2.pt": 6, "checkpoint3.pt": 9, "checkpoint_best.pt": 4, "checkpoint_last.pt": 6}
    return {name: fake_checkpoint(str(tmp_path / name), updates, seed)
            for seed, (name, updates) in enumerate(names.items())}


def load(path):
    return torch.load(path, map_location="cpu")  # torch's default weights_only rules


def test_last_update_checkpoints_are_averaged_and_the_newest_state_is_kept(tmp_path, checkpoints):
    out = str(tmp_path / "avg.pt")
    main(["--inputs", str(tmp_path), "--num-update-checkpoints", "2", "--output", out])
    avg, older, newest = load(out), checkpoints["checkpoint_1_4.pt"], checkpoints["checkpoint_2_6.pt"]
    for key in ("encoder.weight", "decoder.half"):
        mean = (older["model"][key].double() + newest["model"][key].double()) / 2
        assert avg["model"][key].dtype == newest["model"][key].dtype
        assert torch.equal(avg["model"][key], mean.to(newest["model"][key].dtype))
    assert torch.equal(avg["model"]["decoder.steps"], newest["model"]["decoder.steps"])  # integers: not averaged
    assert avg["model"]["decoder._extra_state"] == newest["model"]["decoder._extra_state"]
    assert avg["cfg"]["model"] == newest["cfg"]["model"] and avg["optimizer_history"] == newest["optimizer_history"]
    assert avg["last_optimizer_state"] == newest["last_optimizer_state"]


def test_explicit_files_average_to_the_hand_computed_mean(tmp_path, checkpoints):
    names = ["checkpoint1.pt", "checkpoint3.pt", "checkpoint_1_2.pt"]
    out = str(tmp_path / "avg3.pt")
    main(["--inputs", *[str(tmp_path / n) for n in names], "--output", out])
    avg = load(out)
    tensors = [checkpoints[n]["model"]["encoder.weight"] for n in names]
    by_hand = torch.stack([t.double() for t in tensors]).sum(0) / 3
    assert torch.allclose(avg["model"]["encoder.weight"].double(), by_hand, atol=1e-7)
    assert avg["cfg"]["model"].seed == checkpoints["checkpoint3.pt"]["cfg"]["model"].seed  # most updates: 9


def test_half_precision_sums_do_not_overflow(tmp_path):
    paths = []
    for i, value in enumerate((60000.0, 64000.0)):  # their fp16 sum is inf
        paths.append(str(tmp_path / f"c{i}.pt"))
        torch.save({"model": {"w": torch.full((3,), value, dtype=torch.float16)}, "optimizer_history": []}, paths[-1])
    averaged = average_checkpoints(paths)["model"]["w"]
    assert averaged.dtype == torch.float16 and torch.equal(averaged, torch.full((3,), 62000.0).half())


def test_epoch_selection_respects_the_upper_bound(tmp_path, checkpoints):
    chosen = last_checkpoints(str(tmp_path), 2, "epoch", upper_bound=2)
    assert [os.path.basename(p) for p in chosen] == ["checkpoint1.pt", "checkpoint2.pt"]
    chosen = last_checkpoints(str(tmp_path), 2, "update", upper_bound=5)
    assert [os.path.basename(p) for p in chosen] == ["checkpoint_1_2.pt", "checkpoint_1_4.pt"]


@pytest.mark.parametrize("build, flags, message", [
    (None, ["--num-epoch-checkpoints", "4"], "--num-epoch-checkpoints 4: found only 3 checkpoint<epoch>.pt files"),
    (None, ["--num-update-checkpoints", "3", "--checkpoint-upper-bound", "4"],
     "found only 2 checkpoint_<epoch>_<update>"),
    (None, [], "is not a checkpoint file (a directory needs --num-epoch-checkpoints or --num-update-checkpoints)"),
    ("renamed", ["--num-update-checkpoints", "3"], "does not have the parameters of"),
    ("reshaped", ["--num-update-checkpoints", "3"], "encoder.weight has shape (2, 3)"),
], ids=["too-few", "too-few-under-bound", "directory-without-count", "mismatched-keys", "mismatched-shapes"])
def test_bad_inputs_raise_one_line_errors(tmp_path, checkpoints, build, flags, message):
    if build:
        state = load(str(tmp_path / "checkpoint_2_6.pt"))
        if build == "renamed":
            state["model"]["encoder.other"] = state["model"].pop("encoder.weight")
        else:
            state["model"]["encoder.weight"] = state["model"]["encoder.weight"][:2]
        torch.save(state, str(tmp_path / "checkpoint_2_6.pt"))
    with pytest.raises(ConfigError) as error:
        main(["--inputs", str(tmp_path), *flags, "--output", str(tmp_path / "avg.pt")])
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not os.path.exists(tmp_path / "avg.pt")


def test_script_prints_the_error_as_one_line_with_status_2(tmp_path, checkpoints):
    proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "average_checkpoints.py"), "--inputs",
                           str(tmp_path), "--num-update-checkpoints", "9", "--output", str(tmp_path / "avg.pt")],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert errors == ["memattn_fairseq: error: --num-update-checkpoints 9: found only 3 checkpoint_<epoch>_<update>.pt "
                      f"files in {tmp_path}"]
