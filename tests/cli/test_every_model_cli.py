"""Every plugin model of the model list through the real fairseq tools on tiny data: fairseq-train with its list
flags, fairseq-eval-lm or fairseq-generate (beam 2), and fairseq-interactive. A new family added to the list is
run here without a new test; each family's own CLI tests go further (resume, sampling, hydra-train, errors)."""
import re

import pytest
from cli_runner import TINY_LM, TINY_MT, TRAIN_COMMON, USER_DIR, lm_data, mt_data, run

from memattn_fairseq import model_list

LM = [m for m in model_list.models("lm") if not m.baseline and not m.stream]  # Memformer: tests/cli/test_memformer_cli
MT = [m for m in model_list.models("mt") if not m.baseline]


@pytest.fixture(scope="module")
def lm_bin(tmp_path_factory):
    return lm_data(str(tmp_path_factory.mktemp("lm")), train_lines=120)


@pytest.fixture(scope="module")
def mt_bin(tmp_path_factory):
    return mt_data(str(tmp_path_factory.mktemp("mt")), train_pairs=200, held_out=12)


@pytest.mark.parametrize("entry", LM, ids=lambda m: m.name)
def test_language_model_trains_scores_and_continues_a_prompt(entry, lm_bin, tmp_path):
    run("train", lm_bin, "--user-dir", USER_DIR, *entry.with_slots(8).flags(), *TINY_LM, "--tokens-per-sample", "64",
        "--max-tokens", "512", "--max-update", "4", "--save-dir", tmp_path, *TRAIN_COMMON)
    checkpoint = tmp_path / "checkpoint_last.pt"
    log = run("eval-lm", lm_bin, "--user-dir", USER_DIR, "--path", checkpoint, *entry.eval_flags(),
              "--tokens-per-sample", "64", "--context-window", "32", "--max-tokens", "512", "--cpu",
              "--gen-subset", "test")
    assert re.search(r"Perplexity: \d+\.\d+", log)
    out = run("interactive", lm_bin, "--user-dir", USER_DIR, "--task", entry.task, "--path", checkpoint, "--beam", "2",
              "--max-len-b", "8", "--cpu", stdin="The assert statement\n")
    assert re.search(r"^H-0\t", out, re.M)


@pytest.mark.parametrize("entry", MT, ids=lambda m: m.name)
def test_translation_model_trains_and_translates_every_sentence(entry, mt_bin, tmp_path):
    run("train", mt_bin, "--user-dir", USER_DIR, *entry.with_slots(8).flags(), *TINY_MT, "--max-tokens", "1000",
        "--max-update", "4", "--save-dir", tmp_path, "--criterion", "label_smoothed_cross_entropy",
        *TRAIN_COMMON)
    log = run("generate", mt_bin, "--user-dir", USER_DIR, "--path", tmp_path / "checkpoint_last.pt", "--beam", "2",
              "--max-tokens", "1000", "--required-batch-size-multiple", "1", "--cpu", "--gen-subset", "test")
    assert len(re.findall(r"^H-\d+\t", log, re.M)) == 12
