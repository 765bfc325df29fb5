"""No sentence is dropped by fairseq's batching (fairseq issue #5036: with --required-batch-size-multiple 8, its
default, a last batch whose size is no multiple of 8 is left out). The held-out splits here have 43 sentences:
the README's fairseq-generate command translates all of them, and validation during training with the shipped
translation configs scores all of them."""
import os
import re
import shlex

import pytest
from cli_runner import BIN, REPO, TINY_MT, TRAIN_COMMON, USER_DIR, mt_data, run, script

from memattn_fairseq.recipes import experiments

HELD_OUT = 43


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return mt_data(str(tmp_path_factory.mktemp("mt")), train_pairs=200, held_out=HELD_OUT, langs=("en", "de"))


def readme_generate_command():
    """The README's fairseq-generate example, as arguments."""
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    match = re.search(r"^fairseq-generate data-bin/wmt16_en_de (?:.*\\\n)*.*$", text, re.M)
    assert match, "the README has no fairseq-generate example on data-bin/wmt16_en_de"
    return shlex.split(match.group(0).replace("\\\n", " "))


def hypotheses(log):
    return [line for line in log.splitlines() if line.startswith("H-")]


def valid_sentences(log):
    """Sentences per validation batch as the last validation logged them (one batch here: all of them)."""
    return int(re.findall(r"valid on 'valid' subset \|.*? \| bsz (\d+) \|", log)[-1])


def test_readme_generate_command_translates_every_test_sentence(data, tmp_path):
    run("train", data, "--user-dir", USER_DIR, "--task", "translation", "--arch", "abc_transformer", *TINY_MT,
        "--max-tokens", "512", "--max-update", "3", "--save-dir", tmp_path, *TRAIN_COMMON)
    command = readme_generate_command()
    command[command.index("data-bin/wmt16_en_de")] = data
    command[command.index("--path") + 1] = str(tmp_path / "checkpoint_last.pt")
    assert len(hypotheses(run(os.path.join(BIN, command[0]), *command[1:], cwd=REPO))) == HELD_OUT

    flag = command.index("--required-batch-size-multiple")
    fairseq_default = command[:flag] + command[flag + 2:]  # what this check guards against
    assert len(hypotheses(run(os.path.join(BIN, fairseq_default[0]), *fairseq_default[1:], cwd=REPO))) == 40


def test_validation_with_the_primary_translation_config_scores_every_sentence(data, tmp_path):
    overrides = [o for o in experiments.smoke_overrides("wmt_en_de", "abc_base") if not o.startswith("optimization")]
    log = run("hydra-train", "--config-dir", os.path.join(REPO, "configs"), "--config-name", "translation",
              f"task.data={data}", f"common.user_dir={USER_DIR}", f"checkpoint.save_dir={tmp_path}", "common.cpu=true",
              "optimization.max_update=2", "dataset.num_workers=0", *overrides)
    assert valid_sentences(log) == HELD_OUT


def test_validation_with_an_experiment_config_scores_every_sentence(data, tmp_path):
    proc = script("train_wmt_en_de.sh", "memsizer_base", "--smoke", "--data", data, "--save-dir", tmp_path, "--",
                  "optimization.max_epoch=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert valid_sentences(proc.stdout + proc.stderr) == HELD_OUT
