"""Memformer through fairseq-interactive continues a prompt longer than --max-len-b (which, with --min-len, counts
the tokens after the prompt), and fairseq-eval-lm's --context-window is refused naming the value given."""
import re

import pytest
from cli_runner import TRAIN_COMMON, USER_DIR, run

SEGMENT = 8
TINY = ["--arch", "memformer_lm_small", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
        "--memformer-segment-length", str(SEGMENT), "--memformer-slots", "8"]
PROMPT = "In the current implementation , the built - in variable"  # 12 tokens


@pytest.fixture(scope="module")
def memformer(lm_bin, tmp_path_factory):
    save_dir = str(tmp_path_factory.mktemp("memformer"))
    run("train", lm_bin, "--user-dir", USER_DIR, "--task", "memformer_lm", *TINY, "--tokens-per-sample",
        str(4 * SEGMENT), "--batch-size", "4", "--max-update", "2", "--save-dir", save_dir, "--disable-validation",
        *TRAIN_COMMON)
    return f"{save_dir}/checkpoint_last.pt"


def continue_prompt(data, checkpoint, *flags):
    log = run("interactive", data, "--user-dir", USER_DIR, "--task", "memformer_lm", "--path", checkpoint, "--cpu",
              "--beam", "2", *flags, stdin=PROMPT + "\n")
    return re.search(r"^H-0\t\S+\t(.*)$", log, re.M).group(1)


def test_a_prompt_longer_than_max_len_b_is_continued(lm_bin, memformer):
    hypothesis = continue_prompt(lm_bin, memformer, "--max-len-b", "5", "--min-len", "5")
    assert hypothesis.startswith(PROMPT)
    assert len(hypothesis.split()) == len(PROMPT.split()) + 5  # exactly: --min-len 5, --max-len-b 5 after it


@pytest.mark.parametrize("window", [4])  # fairseq-eval-lm leaves a block of 28: no whole segments
def test_context_window_refusal_names_the_value_given(lm_bin, memformer, window):
    log = run("eval-lm", lm_bin, "--user-dir", USER_DIR, "--task", "memformer_lm", "--path", memformer, "--cpu",
              "--tokens-per-sample", str(4 * SEGMENT), "--context-window", str(window), expect_fail=True)
    assert log.strip().splitlines()[-1] == (f"memattn_fairseq: error: --context-window={window} is not used by "
                                            "--task memformer_lm: the memory carries the context across blocks; "
                                            "drop the flag")
