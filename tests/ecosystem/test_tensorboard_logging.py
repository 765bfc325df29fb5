"""``fairseq-train --tensorboard-logdir`` writes TensorBoard event files for a plugin model (tensorboard is a
pinned dependency): the training and validation scalars read back equal what fairseq logs."""
import re

from cli_runner import TINY_LM, TRAIN_COMMON, USER_DIR, lm_data, run
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalars(directory, tag):
    events = EventAccumulator(str(directory))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_tensorboard_event_files_hold_the_logged_losses(tmp_path):
    data = lm_data(str(tmp_path / "data"), train_lines=100)
    logdir = tmp_path / "tensorboard"
    log = run("train", data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "abc_lm", *TINY_LM,
              "--abc-slots", "4", "--tokens-per-sample", "32", "--max-tokens", "256", "--max-update", "4",
              "--save-dir", tmp_path / "ckpt", *TRAIN_COMMON, "--log-interval", "1", "--tensorboard-logdir", logdir)
    assert "tensorboard not found" not in log

    train_inner = scalars(logdir / "train_inner", "loss")
    assert [step for step, _ in train_inner] == [1, 2, 3, 4]
    logged = [float(x) for x in re.findall(r"\| train_inner \|.*? loss=([0-9.]+),", log)]
    assert len(logged) == 4
    assert all(abs(value - text) < 1e-3 for (_, value), text in zip(train_inner, logged))

    (step, valid_loss), = scalars(logdir / "valid", "loss")
    assert step == 4
    assert abs(valid_loss - float(re.search(r"valid on 'valid' subset \| loss ([0-9.]+) \|", log).group(1))) < 1e-3
