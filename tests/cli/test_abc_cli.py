"""ABC and the fairseq baselines end to end through the real CLIs on tiny data: train, resume, eval-lm,
generate (beam and sampling), interactive, hydra-train, and one-line errors for bad flags."""
import os
import re

import pytest
from cli_runner import REPO, TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, mt_data, run

CONFIGS = os.path.join(REPO, "configs")


@pytest.fixture(scope="module")
def lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("lm")))


@pytest.fixture(scope="module")
def mt_bin(tmp_path_factory):
    return mt_data(str(tmp_path_factory.mktemp("mt")))


def train_lm(data, save_dir, arch="abc_lm", max_update=10, extra=()):
    return run("train", data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", arch, *TINY_LM,
               "--tokens-per-sample", "64", "--max-tokens", "512", "--max-update", max_update, "--save-dir", save_dir,
               *TRAIN_COMMON, *extra)


def train_mt(data, save_dir, arch="abc_transformer", max_update=12, extra=()):
    return run("train", data, "--user-dir", USER_DIR, "--arch", arch, *TINY_MT, "--max-tokens", "1000",
               "--max-update", max_update, "--save-dir", save_dir, "--criterion", "label_smoothed_cross_entropy",
               "--label-smoothing", "0.1", *TRAIN_COMMON, *extra)


@pytest.fixture(scope="module")
def lm_checkpoint(lm_bin, tmp_path_factory):
    save_dir = str(tmp_path_factory.mktemp("lm_ckpt"))
    train_lm(lm_bin, save_dir, extra=("--abc-slots", "8"))
    return save_dir


@pytest.fixture(scope="module")
def mt_checkpoint(mt_bin, tmp_path_factory):
    save_dir = str(tmp_path_factory.mktemp("mt_ckpt"))
    train_mt(mt_bin, save_dir, extra=("--abc-roles", "encoder,decoder,cross", "--abc-cross-slots", "4"))
    return save_dir


def test_lm_training_resumes_from_checkpoint_last(lm_bin, lm_checkpoint):
    log = train_lm(lm_bin, lm_checkpoint, max_update=16, extra=("--abc-slots", "8"))
    assert re.search(r"loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 10 updates\)", log, re.I)
    assert "num_updates 16" in log


def test_eval_lm_with_context_window(lm_bin, lm_checkpoint):
    log = run("eval-lm", lm_bin, "--user-dir", USER_DIR, "--path", f"{lm_checkpoint}/checkpoint_last.pt",
              "--tokens-per-sample", "64", "--context-window", "32", "--max-tokens", "512", "--cpu", "--gen-subset", "test")
    assert re.search(r"Perplexity: \d+\.\d+", log)


@pytest.mark.parametrize("mode", [("--beam", "4"), ("--sampling", "--sampling-topk", "5", "--beam", "1")],
                         ids=["beam", "sampling"])
def test_lm_interactive_continuation(lm_bin, lm_checkpoint, mode):
    log = run("interactive", lm_bin, "--task", "language_modeling", "--user-dir", USER_DIR, "--path",
              f"{lm_checkpoint}/checkpoint_last.pt", "--max-len-b", "8", "--min-len", "4", "--cpu", *mode,
              stdin="The assert statement\n")
    hypothesis = re.search(r"^H-0\t\S+\t(.*)$", log, re.M)
    assert hypothesis and hypothesis.group(1).startswith("The assert statement")
    assert len(hypothesis.group(1).split()) > 3


@pytest.mark.parametrize("mode", [("--beam", "4", "--lenpen", "0.6"), ("--sampling", "--beam", "2", "--nbest", "2")],
                         ids=["beam", "sampling"])
def test_translation_generate(mt_bin, mt_checkpoint, mode):
    log = run("generate", mt_bin, "--user-dir", USER_DIR, "--path", f"{mt_checkpoint}/checkpoint_last.pt",
              "--max-tokens", "1000", "--cpu", *mode)
    assert "BLEU4" in log and len(re.findall(r"^H-\d+", log, re.M)) >= 40


def test_translation_interactive_and_resume(mt_bin, mt_checkpoint):
    log = run("interactive", mt_bin, "--user-dir", USER_DIR, "--path", f"{mt_checkpoint}/checkpoint_last.pt",
              "--source-lang", "src", "--target-lang", "tgt", "--beam", "3", "--cpu", stdin="w1 w2 w3\nw4 w5\n")
    assert len(re.findall(r"^H-\d+", log, re.M)) == 2
    log = train_mt(mt_bin, mt_checkpoint, max_update=14, extra=("--abc-cross-slots", "4"))
    assert "@ 12 updates" in log and "num_updates 14" in log


def test_baseline_checkpoints_load_without_environment_variables(lm_bin, mt_bin, tmp_path):
    """fairseq's own transformer (argparse: its checkpoint pickles an argparse.Namespace) and transformer_lm."""
    train_mt(mt_bin, str(tmp_path / "mt"), arch="transformer", max_update=2)
    log = run("generate", mt_bin, "--user-dir", USER_DIR, "--path", str(tmp_path / "mt" / "checkpoint_last.pt"),
              "--beam", "2", "--max-tokens", "1000", "--cpu")
    assert "BLEU4" in log
    train_lm(lm_bin, str(tmp_path / "lm"), arch="transformer_lm", max_update=2)
    log = run("eval-lm", lm_bin, "--user-dir", USER_DIR, "--path", str(tmp_path / "lm" / "checkpoint_last.pt"),
              "--tokens-per-sample", "64", "--max-tokens", "512", "--cpu")
    assert "Perplexity" in log


def hydra_train(config, data, save_dir, overrides):
    return run("hydra-train", "--config-dir", CONFIGS, "--config-name", config, f"task.data={data}",
               f"checkpoint.save_dir={save_dir}", "common.cpu=true", "optimization.max_update=4",
               f"common.user_dir={USER_DIR}", *overrides)


TINY_HYDRA_LM = ["model.decoder_layers=2", "model.decoder_embed_dim=32", "model.decoder_input_dim=32",
                 "model.decoder_output_dim=32", "model.decoder_ffn_embed_dim=64", "model.decoder_attention_heads=4"]
TINY_HYDRA_MT = ["model.encoder_layers=2", "model.decoder_layers=2", "model.encoder_embed_dim=32",
                 "model.decoder_embed_dim=32", "model.encoder_ffn_embed_dim=64", "model.decoder_ffn_embed_dim=64",
                 "model.encoder_attention_heads=4", "model.decoder_attention_heads=4"]


def test_hydra_train_lm_with_relative_data_path(lm_bin, tmp_path):
    parent, name = os.path.split(lm_bin)
    log = run("hydra-train", "--config-dir", CONFIGS, "--config-name", "lm", "model=abc_lm_window",
              f"task.data={name}", f"checkpoint.save_dir={tmp_path}", "common.cpu=true", "optimization.max_update=4",
              f"common.user_dir={USER_DIR}", "task.tokens_per_sample=64", "dataset.max_tokens=512",
              "model.abc_slots=8", *TINY_HYDRA_LM, cwd=parent)
    assert "num_updates 4" in log
    assert os.path.exists(tmp_path / "checkpoint_last.pt")


def test_hydra_train_translation(mt_bin, tmp_path):
    log = hydra_train("translation", mt_bin, tmp_path, ["model=abc_transformer_wmt_en_de", "model.abc_cross_slots=4",
                                                         "dataset.max_tokens=1000", *TINY_HYDRA_MT])
    assert "num_updates 4" in log
    log = run("generate", mt_bin, "--user-dir", USER_DIR, "--path", str(tmp_path / "checkpoint_last.pt"),
              "--beam", "2", "--max-tokens", "1000", "--cpu")
    assert "BLEU4" in log


@pytest.mark.parametrize(
    "arch, flags, message",
    [
        ("abc_lm", ["--abc-slots", "0"], "--abc-slots must be >= 1"),
        ("abc_lm", ["--decoder-attention-heads", "3"], "--decoder-attention-heads=3 does not divide"),
        ("abc_lm", ["--abc-control", "bogus"], "--abc-control: invalid choice"),
        ("abc_lm", ["--abc-control", "linformer", "--abc-linformer-max-len", "32"], "--abc-linformer-max-len"),
    ],
)
def test_bad_flags_give_one_line_errors(lm_bin, tmp_path, arch, flags, message):
    log = run("train", lm_bin, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", arch,
              "--decoder-layers", "1", "--decoder-embed-dim", "32", "--tokens-per-sample", "64", "--max-tokens", "512",
              "--max-update", "1", "--save-dir", str(tmp_path), "--cpu", *flags, expect_fail=True)
    assert message in log and "Traceback" not in log
