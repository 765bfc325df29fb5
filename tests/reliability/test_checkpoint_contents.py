"""Checkpoint loading under torch's default weights_only rules: every numpy type fairseq checkpoints hold loads on the
pinned numpy, a pickle that would run code or hold arbitrary objects is refused, and a damaged file is described
in one line that names it."""
import io
import os

import numpy as np
import pytest
import torch
from memattn_fairseq.checkpointing.reading import failure, read_checkpoint
from memattn_fairseq.errors import ConfigError

NUMPY_VALUES = {
    "float64": np.float64(3.25), "float32": np.float32(-1.5), "float16": np.float16(0.5), "int64": np.int64(7),
    "int32": np.int32(-3), "int16": np.int16(2), "int8": np.int8(-1), "uint8": np.uint8(200),
    "bool": np.bool_(True), "float64 array": np.linspace(0, 1, 6).reshape(2, 3), "int64 array": np.arange(5),
    "bool array": np.array([1, 0], bool),
}


def round_trip(value):
    buffer = io.BytesIO()
    torch.save({"model": {}, "extra_state": {"value": value}}, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)["extra_state"]["value"]


@pytest.mark.parametrize("name", list(NUMPY_VALUES))
def test_numpy_values_in_a_checkpoint_load(name):
    value = NUMPY_VALUES[name]
    loaded = round_trip(value)
    assert type(loaded) is type(value) and loaded.dtype == value.dtype
    assert np.array_equal(loaded, value)


def test_fairseqs_tensor_placeholders_load():
    """Data-parallel resume: rank 0 sends the loaded state as a pickle whose tensors are placeholders."""
    from fairseq.distributed.utils import _TensorPlaceholder

    assert round_trip(_TensorPlaceholder(index=3)) == _TensorPlaceholder(index=3)


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    path = str(tmp_path / "evil.pt")
    torch.save({"model": {}, "extra_state": {"x": RunsCode(marker)}}, path)
    with pytest.raises(ConfigError, match=r"evil\.pt holds posix\.system, which a checkpoint may not contain"):
        read_checkpoint(path)
    assert not marker.exists()


def test_an_object_array_is_refused(tmp_path):
    path = str(tmp_path / "objects.pt")
    torch.save({"model": {}, "extra_state": {"x": np.array([1, "a"], dtype=object)}}, path)
    assert "ObjectDType, which a checkpoint may not contain" in failure(path)


@pytest.fixture
def good_checkpoint(tmp_path):
    path = str(tmp_path / "good.pt")
    torch.save({"model": {"w": torch.randn(300, 300)}, "extra_state": {"val_loss": np.float64(2.5)}}, path)
    return path


def test_a_sound_checkpoint_has_no_failure(good_checkpoint):
    assert failure(good_checkpoint) is None
    assert read_checkpoint(good_checkpoint)["extra_state"]["val_loss"] == 2.5


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda data: data[: len(data) // 2], "is truncated"),
        (lambda data: data[:-30], "is truncated"),
        (lambda data: b"", "is empty (0 bytes"),
        (lambda data: b"plain text, not a checkpoint\n" * 4, "is not a torch checkpoint"),
    ],
    ids=["half", "tail-cut", "empty", "text"],
)
def test_a_damaged_file_is_named_with_what_is_wrong(good_checkpoint, tmp_path, damage, message):
    with open(good_checkpoint, "rb") as f:
        data = f.read()
    path = str(tmp_path / "damaged.pt")
    with open(path, "wb") as f:
        f.write(damage(data))
    assert message in failure(path)
    with pytest.raises(ConfigError) as error:
        read_checkpoint(path)
    assert str(error.value).startswith(f"checkpoint {path} {message}") and "\n" not in str(error.value)


def test_a_torch_file_without_a_model_is_not_a_fairseq_checkpoint(tmp_path):
    path = str(tmp_path / "weights.pt")
    torch.save({"w": torch.zeros(2)}, path)
    assert failure(path) == "is not a fairseq checkpoint (it has no 'model' entry)"
