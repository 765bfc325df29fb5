"""A Linformer control's maximum length is part of the model's maximum positions, so fairseq itself caps generation
and filters longer inputs: --min-len beyond it is lowered with a warning, an interactive line too long is skipped
and the session goes on, a too-long input to fairseq-generate is a one-line error up front."""
import re
from types import SimpleNamespace

import pytest
from builders import build
from cli_runner import TINY_MT, TRAIN_COMMON, USER_DIR, run
from memattn_fairseq.errors import ConfigError
from memattn_fairseq.generation_limits import fit_min_len

LINFORMER = dict(abc_roles="encoder,decoder,cross", abc_encoder_control="linformer", abc_decoder_control="mlp",
                 abc_cross_control="linformer")


@pytest.mark.parametrize(
    "options, positions",
    [
        (dict(LINFORMER, abc_linformer_max_len=8), (8, 256)),
        (dict(abc_roles="decoder,cross", abc_decoder_control="linformer", abc_linformer_max_len=12), (256, 12)),
        (dict(abc_roles="decoder,cross"), (256, 256)),
    ],
    ids=["source", "target", "no-linformer"],
)
def test_linformer_length_caps_the_model_positions(options, positions):
    model = build("abc_transformer", max_target_positions=256, **options)
    assert model.max_positions() == positions
    assert model.max_decoder_positions() == positions[1]


def test_linformer_length_caps_a_language_model():
    model = build("abc_lm", abc_control="linformer", abc_linformer_max_len=48, tokens_per_sample=48,
                  max_target_positions=256)
    assert model.max_positions() == 48


@pytest.mark.parametrize("value", [0, -4])
def test_linformer_length_below_one_is_refused(value):
    with pytest.raises(ConfigError, match=f"--abc-linformer-max-len must be >= 1, got {value}"):
        build("abc_transformer", abc_linformer_max_len=value, **LINFORMER)


def generator(**values):
    return SimpleNamespace(**{"min_len": 1, "max_len": 1024, "max_len_a": 0, "max_len_b": 200, **values})


def test_min_len_beyond_the_model_is_lowered():
    gen = generator(min_len=50, max_len=9)
    fit_min_len(gen)
    assert gen.min_len == 8


def test_min_len_beyond_max_len_b_is_an_error():
    with pytest.raises(ConfigError, match="--min-len=30 exceeds --max-len-b=20"):
        fit_min_len(generator(min_len=30, max_len_b=20))


@pytest.fixture(scope="module")
def linformer_mt(mt_bin, tmp_path_factory):
    """A translation model whose encoder, decoder and cross-attention accept 8 positions."""
    save_dir = str(tmp_path_factory.mktemp("linformer_mt"))
    run("train", mt_bin, "--user-dir", USER_DIR, "--arch", "abc_transformer", *TINY_MT, "--max-tokens", "1000",
        "--max-update", "2", "--save-dir", save_dir, "--abc-decoder-control", "linformer", "--abc-cross-control",
        "linformer", "--abc-linformer-max-len", "8", "--disable-validation", *TRAIN_COMMON)
    return f"{save_dir}/checkpoint_last.pt"


def test_generate_with_min_len_beyond_the_limit_completes(mt_bin, linformer_mt):
    log = run("generate", mt_bin, "--user-dir", USER_DIR, "--path", linformer_mt, "--beam", "2", "--min-len", "12",
              "--max-tokens", "1000", "--cpu", "--skip-invalid-size-inputs-valid-test")
    assert "--min-len=12 is beyond the longest output the model can produce (7 tokens" in log
    hypotheses = re.findall(r"^H-\d+\t\S+\t(.*)$", log, re.M)
    assert hypotheses and all(len(h.split()) == 7 for h in hypotheses) and "BLEU4" in log


def test_generate_refuses_too_long_inputs_in_one_line(mt_bin, linformer_mt):
    log = run("generate", mt_bin, "--user-dir", USER_DIR, "--path", linformer_mt, "--max-tokens", "1000", "--cpu",
              expect_fail=True)
    assert "Traceback" not in log
    assert re.search(r"memattn_fairseq: error: Size of sample #\d+ is invalid .* max_positions=\(8, 8\), skip this "
                     r"example with --skip-invalid-size-inputs-valid-test$", log.strip())


def test_interactive_skips_a_long_line_and_goes_on(mt_bin, linformer_mt):
    lines = "w1 w2\n" + " ".join(f"w{i}" for i in range(12)) + "\nw3 w4 w5\n"
    log = run("interactive", mt_bin, "--user-dir", USER_DIR, "--path", linformer_mt, "--source-lang", "src",
              "--target-lang", "tgt", "--beam", "2", "--cpu", stdin=lines)
    assert sorted(re.findall(r"^H-(\d+)", log, re.M)) == ["0", "2"]
    assert "input line of 13 tokens skipped: longer than the model accepts (maximum positions (8, 8))" in log
