"""Bad input through the real tools gives the plugin's one line, not a traceback: under fairseq-hydra-train as on
the command line (and Hydra finds the plugin from any directory), an empty validation split, a checkpoint trained on
another dictionary, and a --context-window that leaves no block."""
import os
import subprocess

import pytest
from cli_runner import BIN, CORPUS, REPO, USER_DIR, assert_one_line_error, run

CONFIGS = os.path.join(REPO, "configs")
TINY_HYDRA_LM = ["model.decoder_layers=1", "model.decoder_embed_dim=32", "model.decoder_input_dim=32",
                 "model.decoder_output_dim=32", "model.decoder_ffn_embed_dim=64", "model.decoder_attention_heads=4",
                 "task.tokens_per_sample=64", "dataset.max_tokens=512", "common.cpu=true", "optimization.max_update=2",
                 "model.abc_slots=4"]


def hydra_train(data, save_dir, cwd, *overrides):
    """fairseq-hydra-train with the shipped LM config, run in ``cwd`` (no common.user_dir override)."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.run([os.path.join(BIN, "fairseq-hydra-train"), "--config-dir", CONFIGS, "--config-name", "lm",
                           "model=abc_lm", f"task.data={data}", f"checkpoint.save_dir={save_dir}", *TINY_HYDRA_LM,
                           *overrides], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


def test_hydra_prints_a_bad_plugin_value_as_the_command_line_does(lm_bin, tmp_path):
    proc = hydra_train(lm_bin, tmp_path / "ckpt", tmp_path, "model.abc_slots=0")
    assert_one_line_error(proc, "--abc-slots must be >= 1, got 0")
    assert "Error executing job" not in proc.stderr


def test_hydra_from_another_directory_finds_the_plugin(lm_bin, tmp_path):
    proc = hydra_train(lm_bin, tmp_path / "ckpt", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "using the installed plugin" in proc.stdout and "num_updates 2" in proc.stdout
    assert os.path.isfile(tmp_path / "ckpt" / "checkpoint_last.pt")


def test_hydra_says_how_to_name_a_user_dir_it_cannot_find(lm_bin, tmp_path):
    proc = hydra_train(lm_bin, tmp_path / "ckpt", tmp_path, "common.user_dir=plugins/mine")
    assert_one_line_error(proc, "common.user_dir=plugins/mine does not exist from the working directory",
                          "give it as an absolute path")


@pytest.fixture(scope="module")
def other_data(tmp_path_factory):
    """Another corpus slice (so another dictionary) whose validation split is empty."""
    root = tmp_path_factory.mktemp("other_data")
    with open(os.path.join(CORPUS, "train.txt")) as src:
        (root / "train.txt").write_text("".join(line for _, line in zip(range(150), src)))
    (root / "valid.txt").write_text("")
    run("preprocess", "--only-source", "--trainpref", root / "train.txt", "--validpref", root / "valid.txt",
        "--destdir", root / "bin", "--workers", "1")
    return str(root / "bin")


def test_an_empty_validation_split_is_one_line(other_data, tmp_path):
    log = run("train", other_data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "abc_lm",
              "--decoder-layers", "1", "--decoder-embed-dim", "32", "--tokens-per-sample", "64", "--max-tokens", "512",
              "--max-update", "1", "--save-dir", str(tmp_path), "--cpu", "--optimizer", "adam", "--lr", "0.001",
              expect_fail=True)
    last = log.strip().splitlines()[-1]
    assert "Traceback" not in log and "Exception ignored" not in log
    assert last.startswith(f"memattn_fairseq: error: {other_data}/valid.bin is empty: split 'valid' holds no text")


def test_a_checkpoint_of_another_dictionary_is_one_line(other_data, abc_run):
    log = run("eval-lm", other_data, "--user-dir", USER_DIR, "--path", f"{abc_run}/checkpoint_last.pt", "--cpu",
              "--tokens-per-sample", "64", "--gen-subset", "train", expect_fail=True)
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1].startswith("memattn_fairseq: error: the checkpoint was trained with a "
                                                   "dictionary of ")
    assert "pass the data directory the model was trained on" in log


def test_a_context_window_that_leaves_no_block_is_one_line(lm_bin, abc_run):
    log = run("eval-lm", lm_bin, "--user-dir", USER_DIR, "--path", f"{abc_run}/checkpoint_last.pt", "--cpu",
              "--tokens-per-sample", "64", "--context-window", "64", expect_fail=True)
    assert log.strip().splitlines()[-1] == ("memattn_fairseq: error: --context-window=64 must be smaller than "
                                            "--tokens-per-sample=64")
