"""Data and a tiny checkpoint shared by the reliability tests' command-line runs (built once per session)."""
import pytest
from cli_runner import lm_data, mt_data
from tiny_training import train_lm


@pytest.fixture(scope="session")
def lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("reliability_lm")))


@pytest.fixture(scope="session")
def mt_bin(tmp_path_factory):
    return mt_data(str(tmp_path_factory.mktemp("reliability_mt")))


@pytest.fixture(scope="session")
def abc_run(lm_bin, tmp_path_factory):
    """An abc_lm save directory after 4 updates: checkpoint_1_2.pt, checkpoint_1_4.pt, checkpoint_best.pt and
    checkpoint_last.pt. Tests copy what they change."""
    save_dir = str(tmp_path_factory.mktemp("abc_run"))
    train_lm(lm_bin, save_dir)
    return save_dir
