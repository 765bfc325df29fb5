"""MemSizer end to end through the real CLIs on tiny data: train, resume, eval-lm, generate (beam and sampling),
interactive, hydra-train, and one-line errors for bad flags. One trained checkpoint per model serves the module;
independent commands run two at a time, since most of each is interpreter start-up."""
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from cli_runner import REPO, TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, mt_data, run

CONFIGS = os.path.join(REPO, "configs")
LM_OPTIONS = ("--memsizer-slots", "8", "--memsizer-chunk-size", "16")  # 64-token blocks span several chunks
MT_OPTIONS = ("--memsizer-decoder-slots", "4", "--memsizer-cross-slots", "8")  # default roles: decoder, cross


def concurrently(*jobs):
    """Run independent commands two at a time (each is mostly interpreter start-up); returns their results."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return [future.result() for future in [pool.submit(job) for job in jobs]]


def train_lm(data, save_dir, max_update=10, extra=LM_OPTIONS):
    return run("train", data, "--user-dir", USER_DIR, "--task", "language_modeling", "--arch", "memsizer_lm", *TINY_LM,
               "--tokens-per-sample", "64", "--max-tokens", "512", "--max-update", max_update, "--save-dir", save_dir,
               *TRAIN_COMMON, *extra)


def train_mt(data, save_dir, max_update=12, extra=MT_OPTIONS):
    return run("train", data, "--user-dir", USER_DIR, "--arch", "memsizer_transformer", *TINY_MT, "--max-tokens",
               "1000", "--max-update", max_update, "--save-dir", save_dir, "--criterion",
               "label_smoothed_cross_entropy", "--label-smoothing", "0.1", *TRAIN_COMMON, *extra)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Binarised data and a checkpoint trained for 10 (LM) / 12 (MT) updates, both models built side by side."""
    root = tmp_path_factory.mktemp("memsizer")
    paths = SimpleNamespace(lm_ckpt=str(root / "lm_ckpt"), mt_ckpt=str(root / "mt_ckpt"))

    def lm():
        paths.lm_bin = lm_data(str(root / "lm"))
        train_lm(paths.lm_bin, paths.lm_ckpt)

    def mt():
        paths.mt_bin = mt_data(str(root / "mt"))
        train_mt(paths.mt_bin, paths.mt_ckpt)

    concurrently(lm, mt)
    return paths


def resume_dir(checkpoint_dir, tmp_path):
    """A copy of checkpoint_last.pt to resume from, so the shared checkpoint stays as trained."""
    shutil.copy(os.path.join(checkpoint_dir, "checkpoint_last.pt"), tmp_path / "checkpoint_last.pt")
    return str(tmp_path)


def test_lm_resume_and_eval_lm_with_context_window(trained, tmp_path):
    resumed, evaluated = concurrently(
        lambda: train_lm(trained.lm_bin, resume_dir(trained.lm_ckpt, tmp_path), max_update=16),
        lambda: run("eval-lm", trained.lm_bin, "--user-dir", USER_DIR, "--path",
                    f"{trained.lm_ckpt}/checkpoint_last.pt", "--tokens-per-sample", "64", "--context-window", "32",
                    "--max-tokens", "512", "--cpu", "--gen-subset", "test"),
    )
    assert re.search(r"loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 10 updates\)", resumed, re.I)
    assert "num_updates 16" in resumed
    assert re.search(r"Perplexity: \d+\.\d+", evaluated)


def test_lm_interactive_continuation_with_beam_and_sampling(trained):
    def continuation(*mode):
        return lambda: run("interactive", trained.lm_bin, "--task", "language_modeling", "--user-dir", USER_DIR,
                           "--path", f"{trained.lm_ckpt}/checkpoint_last.pt", "--max-len-b", "8", "--min-len", "4",
                           "--cpu", *mode, stdin="The assert statement\n")

    beam, sampling = continuation("--beam", "4"), continuation("--sampling", "--sampling-topk", "5", "--beam", "1")
    for log in concurrently(beam, sampling):
        hypothesis = re.search(r"^H-0\t\S+\t(.*)$", log, re.M)
        assert hypothesis and hypothesis.group(1).startswith("The assert statement")
        assert len(hypothesis.group(1).split()) > 3


def test_translation_generate_with_beam_and_sampling(trained):
    def generate(*mode):
        return lambda: run("generate", trained.mt_bin, "--user-dir", USER_DIR, "--path",
                           f"{trained.mt_ckpt}/checkpoint_last.pt", "--max-tokens", "1000", "--cpu", *mode)

    beam, sampling = concurrently(generate("--beam", "4", "--lenpen", "0.6"),
                                  generate("--sampling", "--beam", "2", "--nbest", "2"))
    assert "BLEU4" in beam and len(re.findall(r"^H-\d+", beam, re.M)) == 40
    assert "BLEU4" in sampling and len(re.findall(r"^H-\d+", sampling, re.M)) == 80


def test_translation_interactive_and_resume(trained, tmp_path):
    interactive, resumed = concurrently(
        lambda: run("interactive", trained.mt_bin, "--user-dir", USER_DIR, "--path",
                    f"{trained.mt_ckpt}/checkpoint_last.pt", "--source-lang", "src", "--target-lang", "tgt",
                    "--beam", "3", "--cpu", stdin="w1 w2 w3\nw4 w5\n"),
        lambda: train_mt(trained.mt_bin, resume_dir(trained.mt_ckpt, tmp_path), max_update=14),
    )
    assert len(re.findall(r"^H-\d+", interactive, re.M)) == 2
    assert "@ 12 updates" in resumed and "num_updates 14" in resumed


TINY_HYDRA_LM = ["model.decoder_layers=2", "model.decoder_embed_dim=32", "model.decoder_input_dim=32",
                 "model.decoder_output_dim=32", "model.decoder_ffn_embed_dim=64", "model.decoder_attention_heads=4"]
TINY_HYDRA_MT = ["model.encoder_layers=2", "model.decoder_layers=2", "model.encoder_embed_dim=32",
                 "model.decoder_embed_dim=32", "model.encoder_ffn_embed_dim=64", "model.decoder_ffn_embed_dim=64",
                 "model.encoder_attention_heads=4", "model.decoder_attention_heads=4"]


def hydra_train(config, data, save_dir, overrides):
    return run("hydra-train", "--config-dir", CONFIGS, "--config-name", config, f"task.data={data}",
               f"checkpoint.save_dir={save_dir}", "common.cpu=true", "optimization.max_update=4",
               f"common.user_dir={USER_DIR}", *overrides)


def test_hydra_train_lm_and_translation(trained, tmp_path):
    """Both presets from configs/model/ (YAML only for the LM), then the checkpoints load in eval-lm / generate."""
    lm_log, mt_log = concurrently(
        lambda: hydra_train("lm", trained.lm_bin, tmp_path / "lm", [
            "model=memsizer_lm", "task.tokens_per_sample=64", "dataset.max_tokens=512", "model.memsizer_slots=8",
            "model.memsizer_chunk_size=16", *TINY_HYDRA_LM]),
        lambda: hydra_train("translation", trained.mt_bin, tmp_path / "mt", [
            "model=memsizer_transformer_wmt_en_de", "model.memsizer_cross_slots=8", "dataset.max_tokens=1000",
            *TINY_HYDRA_MT]),
    )
    assert "num_updates 4" in lm_log and "num_updates 4" in mt_log
    lm_eval, mt_generate = concurrently(
        lambda: run("eval-lm", trained.lm_bin, "--user-dir", USER_DIR, "--path",
                    str(tmp_path / "lm" / "checkpoint_last.pt"), "--tokens-per-sample", "64", "--max-tokens", "512",
                    "--cpu"),
        lambda: run("generate", trained.mt_bin, "--user-dir", USER_DIR, "--path",
                    str(tmp_path / "mt" / "checkpoint_last.pt"), "--beam", "2", "--max-tokens", "1000", "--cpu"),
    )
    assert "Perplexity" in lm_eval and "BLEU4" in mt_generate


# one bad k and one incompatible pair through the real CLI; every other message is checked in-process
# (tests/models/test_memsizer_models.py), since each CLI run here is mostly interpreter start-up
BAD_FLAGS = [
    ("lm", ["--memsizer-slots", "0"], "--memsizer-slots must be an integer >= 1"),
    ("mt", ["--no-cross-attention"], "--no-cross-attention removes cross-attention, but --memsizer-roles"),
]


def test_bad_flags_give_one_line_errors(trained, tmp_path):
    def train(task, flags):
        if task == "lm":
            command = [trained.lm_bin, "--task", "language_modeling", "--arch", "memsizer_lm",
                       "--tokens-per-sample", "64"]
        else:
            command = [trained.mt_bin, "--arch", "memsizer_transformer"]
        return lambda: run("train", *command, "--user-dir", USER_DIR, "--max-tokens", "512", "--max-update", "1",
                           "--save-dir", str(tmp_path / task), "--cpu", *flags, expect_fail=True)

    logs = concurrently(*(train(task, flags) for task, flags, _ in BAD_FLAGS))
    for log, (_, _, message) in zip(logs, BAD_FLAGS):
        errors = [line for line in log.splitlines() if "error:" in line]
        assert "Traceback" not in log and len(errors) == 1, log[-2000:]
        assert errors[0].startswith("memattn_fairseq: error: ") and message in errors[0]
