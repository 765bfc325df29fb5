"""fairseq's options that change the attention roles mean the same in every translation family: no role at all, a
cross role under --no-cross-attention and a decoder role under --cross-self-attention are one-line errors; the
roles that remain work with those options."""
import pytest
import torch
from builders import build
from cli_runner import TINY_MT, TRAIN_COMMON, USER_DIR, run
from memattn_fairseq.errors import ConfigError

FAMILIES = {"abc_transformer": "--abc-roles", "memsizer_transformer": "--memsizer-roles"}


def roles(arch, value):
    return {FAMILIES[arch][2:].replace("-", "_"): value}


@pytest.mark.parametrize("arch", list(FAMILIES))
@pytest.mark.parametrize(
    "value, options, message",
    [
        ("", {}, "names no role"),
        (" , ", {}, "names no role"),
        ("decoder,cross", dict(no_cross_attention=True), "--no-cross-attention removes cross-attention"),
        ("encoder,decoder", dict(cross_self_attention=True), "--cross-self-attention needs softmax decoder"),
    ],
    ids=["empty", "blank", "no-cross-attention", "cross-self-attention"],
)
def test_contradicting_roles_are_refused(arch, value, options, message):
    with pytest.raises(ConfigError, match=message) as error:
        build(arch, **roles(arch, value), **options)
    assert FAMILIES[arch] in str(error.value)


def translate(model, length=7):
    src = torch.randint(4, 50, (2, length))
    prev = torch.randint(4, 50, (2, 5))
    return model(src, torch.full((2,), length), prev)[0]


@pytest.mark.parametrize("arch", list(FAMILIES))
@pytest.mark.parametrize(
    "value, options",
    [("encoder,decoder", dict(no_cross_attention=True)), ("encoder,cross", dict(cross_self_attention=True))],
    ids=["no-cross-attention", "cross-self-attention"],
)
def test_the_remaining_roles_work_with_those_options(arch, value, options):
    model = build(arch, **roles(arch, value), **options)
    assert translate(model).shape == (2, 5, 50)
    layer = model.decoder.layers[0]
    if options.get("no_cross_attention"):
        assert layer.encoder_attn is None
    else:  # the bounded cross-attention is kept, decoder self-attention is fairseq's (it also reads the source)
        assert type(layer.encoder_attn).__name__ != "MultiheadAttention"
        assert type(layer.self_attn).__name__ == "MultiheadAttention"


def test_cross_self_attention_on_the_command_line(mt_bin, tmp_path):
    log = run("train", mt_bin, "--user-dir", USER_DIR, "--arch", "abc_transformer", *TINY_MT, "--max-tokens", "1000",
              "--max-update", "1", "--save-dir", str(tmp_path), "--cross-self-attention", *TRAIN_COMMON,
              expect_fail=True)
    assert "Traceback" not in log
    assert log.strip().splitlines()[-1].startswith("memattn_fairseq: error: --cross-self-attention needs softmax")
