"""fairseq's two checkpoint writes (torch_persistent_save for a save's first file, PathManager.copy for the others,
checkpoint_last.pt included) replace a file whole or not at all: a write that fails part-way leaves the old file
as it was and no temporary file behind."""
import os

import pytest
import torch
from fairseq import checkpoint_utils
from fairseq.file_io import PathManager
from memattn_fairseq.checkpointing import atomic_write


class FailsWhilePickled:
    """torch.save writes the tensors and part of the pickle before reaching this, then fails."""

    def __reduce__(self):
        raise RuntimeError("disk full")


@pytest.fixture
def old_checkpoint(tmp_path):
    path = str(tmp_path / "checkpoint_last.pt")
    torch.save({"model": {"w": torch.ones(3)}}, path)
    with open(path, "rb") as f:
        return path, f.read()


def assert_untouched(path, content):
    with open(path, "rb") as f:
        assert f.read() == content
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.endswith(".tmp")]  # none left behind


def test_a_failed_save_leaves_the_previous_checkpoint(old_checkpoint):
    path, content = old_checkpoint
    with pytest.raises(RuntimeError, match="disk full"):
        checkpoint_utils.torch_persistent_save({"model": {"w": torch.zeros(1000)}, "x": FailsWhilePickled()}, path)
    assert_untouched(path, content)


def test_a_failed_copy_leaves_the_previous_checkpoint(old_checkpoint, tmp_path, monkeypatch):
    path, content = old_checkpoint
    source = str(tmp_path / "source" / "checkpoint_1_5.pt")
    os.makedirs(os.path.dirname(source))
    torch.save({"model": {"w": torch.zeros(100_000)}}, source)

    def copy_half(src, dst, length):
        dst.write(src.read(os.path.getsize(source) // 2))
        raise OSError("killed")

    monkeypatch.setattr(atomic_write.shutil, "copyfileobj", copy_half)
    with pytest.raises(OSError, match="killed"):
        PathManager.copy(source, path, overwrite=True)
    assert_untouched(path, content)


def test_saves_and_copies_replace_the_file_whole(old_checkpoint, tmp_path):
    path, _ = old_checkpoint
    first = str(tmp_path / "checkpoint_1_9.pt")
    checkpoint_utils.torch_persistent_save({"model": {"w": torch.full((4,), 9.0)}}, first)
    assert PathManager.copy(first, path, overwrite=True)
    assert torch.equal(torch.load(path, weights_only=True)["model"]["w"], torch.full((4,), 9.0))
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_1_9.pt", "checkpoint_last.pt"]
