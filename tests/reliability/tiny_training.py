"""The tiny training run several reliability tests start from."""
from cli_runner import TINY_LM, TRAIN_COMMON, USER_DIR, run


def train_lm(data, save_dir, arch="abc_lm", max_update=4, expect_fail=False, extra=()):
    """A tiny LM saving every 2 updates (checkpoint_1_2.pt, checkpoint_1_4.pt, ..., checkpoint_last.pt)."""
    return run("train", data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", arch, *TINY_LM,
               "--tokens-per-sample", "64", "--max-tokens", "512", "--max-update", max_update, "--save-dir", save_dir,
               "--save-interval-updates", "2", *TRAIN_COMMON, *extra, expect_fail=expect_fail)
