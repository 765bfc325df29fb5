"""Checkpoints that store abc_linformer_max_len as 0 (the earlier spelling of "the role's maximum positions") load
with it as None, now that 0 is refused as a value."""
import argparse

import pytest
import torch
from fairseq import checkpoint_utils


def saved_state(model_cfg):
    return {"model": {}, "cfg": {"model": model_cfg, "task": {"_name": "language_modeling"}},
            "optimizer_history": [{"criterion_name": "CrossEntropyCriterion", "optimizer_name": "Adam",
                                   "lr_scheduler_state": {}, "num_updates": 3}],
            "extra_state": {"train_iterator": {"epoch": 1}}, "last_optimizer_state": None}


@pytest.mark.parametrize("kind", ["dataclass", "argparse"])
def test_a_stored_linformer_length_of_zero_loads_as_the_default(tmp_path, kind):
    options = dict(_name="abc_lm", abc_linformer_max_len=0, abc_slots=8)
    model_cfg = options if kind == "dataclass" else argparse.Namespace(**options)
    path = str(tmp_path / "old.pt")
    torch.save(saved_state(model_cfg), path)
    model = checkpoint_utils.load_checkpoint_to_cpu(path)["cfg"]["model"]
    assert model.abc_linformer_max_len is None and model.abc_slots == 8


def test_a_stored_linformer_length_is_kept(tmp_path):
    path = str(tmp_path / "new.pt")
    torch.save(saved_state(dict(_name="abc_lm", abc_linformer_max_len=64)), path)
    assert checkpoint_utils.load_checkpoint_to_cpu(path)["cfg"]["model"].abc_linformer_max_len == 64
