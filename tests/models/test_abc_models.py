"""abc_lm and abc_transformer built in-process: decoding, beam search, roles, presets, build-time errors."""
import argparse

import pytest
import torch
from builders import build, dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY
from fairseq.modules import MultiheadAttention
from fairseq.sequence_generator import SequenceGenerator
from harness import assert_beam_reorder, assert_incremental_matches_full

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.abc_attention import AbcAttention


# the language model's decoding contract, for each control: tests/models/test_every_model.py


def source_batch():
    src = torch.randint(4, 50, (3, 9))
    src[0, :4] = 1  # left-padded, as fairseq batches sources
    return src


@pytest.mark.parametrize("roles", ["encoder,decoder,cross", "decoder,cross", "cross"])
def test_translation_incremental_decoding_and_beam_reorder(roles):
    model = build("abc_transformer", abc_roles=roles, abc_encoder_slots=3, abc_decoder_slots=5, abc_cross_slots=4)
    encoder_out = model.encoder(source_batch(), src_lengths=None)
    tokens = torch.randint(4, 50, (3, 8))
    assert_incremental_matches_full(model.decoder, tokens, encoder_out)
    assert_beam_reorder(model.decoder, tokens, torch.tensor([1, 1, 2]), encoder_out, model.encoder.reorder_encoder_out)
    assert_beam_reorder(model.decoder, tokens, torch.tensor([2]), encoder_out, model.encoder.reorder_encoder_out)


def test_roles_choose_which_attention_is_abc():
    model = build("abc_transformer", abc_roles="decoder,cross")
    assert isinstance(model.encoder.layers[0].self_attn, MultiheadAttention)
    assert isinstance(model.decoder.layers[0].self_attn, AbcAttention)
    assert isinstance(model.decoder.layers[0].encoder_attn, AbcAttention)
    assert model.decoder.layers[1].encoder_attn.num_slots == 32  # --abc-cross-slots default


def test_translation_encoder_is_padding_invariant():
    model = build("abc_transformer", abc_encoder_slots=3)
    src = source_batch()
    batch = model.encoder(src, src_lengths=None)["encoder_out"][0]  # [S,B,C]
    alone = model.encoder(src[:1, 4:], src_lengths=None)["encoder_out"][0]
    assert (batch[4:, :1] - alone).abs().max() < 1e-5


def test_beam_search_with_finishing_hypotheses():
    """fairseq's SequenceGenerator drives reorder with a shrinking batch as sentences finish."""
    model = build("abc_transformer", abc_decoder_slots=4, abc_cross_slots=4)
    generator = SequenceGenerator([model], dictionary(), beam_size=3, max_len_b=12, min_len=1)
    src = source_batch()
    lengths = src.ne(1).sum(1)
    hypos = generator.forward({"net_input": {"src_tokens": src, "src_lengths": lengths}})
    assert len(hypos) == 3 and all(len(h) == 3 for h in hypos)
    # rescoring the best hypothesis with a full forward reproduces its incremental score
    best = hypos[1][0]
    prev = torch.cat([torch.tensor([2]), best["tokens"][:-1]]).unsqueeze(0)
    enc = model.encoder(src[1:2], src_lengths=lengths[1:2])
    lprobs = model.get_normalized_probs(model.decoder(prev, encoder_out=enc), log_probs=True)
    score = lprobs[0].gather(-1, best["tokens"].unsqueeze(-1)).squeeze(-1)
    assert (score - best["positional_scores"]).abs().max() < 1e-4


@pytest.mark.parametrize(
    "arch, expected",
    [
        ("abc_lm_wiki103", dict(decoder_layers=16, decoder_embed_dim=1024, adaptive_input=True)),
        ("abc_lm_big", dict(decoder_layers=12, decoder_embed_dim=1024, decoder_attention_heads=16)),
        ("abc_transformer_wmt_en_de", dict(encoder_layers=6, encoder_embed_dim=512, abc_cross_slots=32)),
        ("abc_transformer_vaswani_wmt_en_de_big", dict(encoder_embed_dim=1024, encoder_attention_heads=16)),
    ],
)
def test_presets_mirror_fairseq_sizes(arch, expected):
    args = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](args)
    for name, value in expected.items():
        assert getattr(args, name) == value, name


def test_lm_with_adaptive_input_builds_and_decodes():
    model = build("abc_lm", vocab=60, adaptive_input=True, adaptive_input_cutoff="20,40", adaptive_softmax_cutoff="20,40",
                  tie_adaptive_weights=True, criterion="adaptive_loss")
    tokens = torch.randint(4, 60, (2, 6))
    features = model.decoder(tokens, features_only=True)[0]
    assert features.shape == (2, 6, 32)


@pytest.mark.parametrize(
    "arch, overrides, flag",
    [
        ("abc_lm", dict(abc_slots=0), "--abc-slots"),
        ("abc_lm", dict(decoder_attention_heads=3), "--decoder-attention-heads=3"),
        ("abc_transformer", dict(abc_roles="decoder,bogus"), "--abc-roles"),
        ("abc_transformer", dict(abc_cross_slots=0), "--abc-cross-slots"),
        ("abc_transformer", dict(abc_encoder_control="window"), "--abc-encoder-control=window"),
        ("abc_lm", dict(abc_control="linformer", abc_linformer_max_len=64, tokens_per_sample=128),
         "--abc-linformer-max-len"),
    ],
)
def test_bad_options_fail_at_build_time(arch, overrides, flag):
    with pytest.raises(ConfigError, match=flag):
        build(arch, **overrides)
