"""memsizer_lm and memsizer_transformer built in-process: decoding, beam search, padding, roles and k per role,
presets, build-time errors."""
import argparse

import pytest
import torch
from builders import build, dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY
from fairseq.modules import MultiheadAttention
from fairseq.sequence_generator import SequenceGenerator
from harness import assert_beam_reorder, assert_incremental_matches_full

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.memsizer_attention import MemSizerAttention


# the language model's decoding contract: tests/models/test_every_model.py


@pytest.mark.parametrize("side", ["left", "right"])
def test_lm_padded_rows_match_each_sentence_alone(side):
    model = build("memsizer_lm", memsizer_slots=5, memsizer_chunk_size=4)
    tokens = torch.randint(4, 50, (2, 11))
    real = slice(4, None) if side == "left" else slice(None, 7)
    pad = torch.zeros_like(tokens, dtype=torch.bool)
    pad[0] = True
    pad[0, real] = False
    batch = model.decoder(tokens.masked_fill(pad, 1))[0]  # pad index 1
    alone = model.decoder(tokens[:1, real])[0]
    assert (batch[0, real] - alone[0]).abs().max() < 1e-5


def source_batch():
    src = torch.randint(4, 50, (3, 9))
    src[0, :4] = 1  # left-padded, as fairseq batches sources
    return src


@pytest.mark.parametrize("roles", ["decoder,cross", "encoder,decoder,cross", "cross", "decoder", "encoder"])
def test_translation_incremental_decoding_and_beam_reorder(roles):
    model = build("memsizer_transformer", memsizer_roles=roles, memsizer_encoder_slots=3, memsizer_decoder_slots=5,
                  memsizer_cross_slots=4, memsizer_chunk_size=4)
    encoder_out = model.encoder(source_batch(), src_lengths=None)
    tokens = torch.randint(4, 50, (3, 8))
    assert_incremental_matches_full(model.decoder, tokens, encoder_out)
    if "cross" in roles:
        # fairseq's softmax cross-attention keeps its cache when the batch size is unchanged (beams of one sentence
        # share a source), so a permutation across sentences is only meaningful with MemSizer cross-attention
        assert_beam_reorder(model.decoder, tokens, torch.tensor([1, 1, 2]), encoder_out,
                            model.encoder.reorder_encoder_out)
    assert_beam_reorder(model.decoder, tokens, torch.tensor([2]), encoder_out, model.encoder.reorder_encoder_out)


def test_default_roles_follow_the_official_recipe_with_k_per_role():
    model = build("memsizer_transformer")
    assert isinstance(model.encoder.layers[0].self_attn, MultiheadAttention)  # softmax encoder
    for layer in model.decoder.layers:
        assert isinstance(layer.self_attn, MemSizerAttention) and layer.self_attn.num_slots == 4
        assert isinstance(layer.encoder_attn, MemSizerAttention) and layer.encoder_attn.num_slots == 32
    model = build("memsizer_transformer", memsizer_roles="encoder,cross", memsizer_encoder_slots=7,
                  memsizer_cross_slots=3)
    assert model.encoder.layers[1].self_attn.num_slots == 7 and model.decoder.layers[1].encoder_attn.num_slots == 3
    assert isinstance(model.decoder.layers[0].self_attn, MultiheadAttention)


def test_translation_encoder_is_padding_invariant():
    model = build("memsizer_transformer", memsizer_roles="encoder,decoder,cross", memsizer_encoder_slots=3)
    src = source_batch()
    batch = model.encoder(src, src_lengths=None)["encoder_out"][0]  # [S,B,C]
    alone = model.encoder(src[:1, 4:], src_lengths=None)["encoder_out"][0]
    assert (batch[4:, :1] - alone).abs().max() < 1e-5


@pytest.mark.parametrize("roles", ["decoder,cross", "encoder,decoder,cross", "decoder"])
def test_beam_search_with_finishing_hypotheses(roles):
    """fairseq's SequenceGenerator drives reorder with a shrinking batch as sentences finish."""
    model = build("memsizer_transformer", memsizer_roles=roles, memsizer_decoder_slots=4, memsizer_cross_slots=4)
    generator = SequenceGenerator([model], dictionary(), beam_size=3, max_len_b=12, min_len=1)
    src = source_batch()
    lengths = src.ne(1).sum(1)
    hypos = generator.forward({"net_input": {"src_tokens": src, "src_lengths": lengths}})
    assert len(hypos) == 3 and all(len(h) == 3 for h in hypos)
    # rescoring the best hypothesis of the padded sentence alone with a full forward reproduces its score
    best = hypos[0][0]
    prev = torch.cat([torch.tensor([2]), best["tokens"][:-1]]).unsqueeze(0)
    enc = model.encoder(src[:1, 4:], src_lengths=lengths[:1])
    lprobs = model.get_normalized_probs(model.decoder(prev, encoder_out=enc), log_probs=True)
    score = lprobs[0].gather(-1, best["tokens"].unsqueeze(-1)).squeeze(-1)
    assert (score - best["positional_scores"]).abs().max() < 1e-4


PRESETS = {
    "memsizer_lm_big": dict(decoder_layers=12, decoder_embed_dim=1024, decoder_attention_heads=16),
    "memsizer_lm_wiki103": dict(decoder_layers=32, decoder_embed_dim=1024, decoder_ffn_embed_dim=4096,
                                decoder_attention_heads=8, decoder_normalize_before=True, no_decoder_final_norm=True,
                                adaptive_input=True, tie_adaptive_weights=True, dropout=0.2, attention_dropout=0.1,
                                activation_dropout=0.1, decoder_layerdrop=0.2, adaptive_softmax_dropout=0.2,
                                memsizer_slots=32, memsizer_q_init_scale=32.0, memsizer_kv_init_scale=1.0),
    "memsizer_transformer": dict(encoder_layers=6, encoder_embed_dim=512, memsizer_roles="decoder,cross"),
    "memsizer_transformer_wmt_en_de": dict(encoder_embed_dim=512, memsizer_decoder_slots=4, memsizer_cross_slots=32),
    "memsizer_transformer_vaswani_wmt_en_de_big": dict(
        encoder_embed_dim=1024, decoder_embed_dim=1024, encoder_attention_heads=16, decoder_ffn_embed_dim=4096,
        dropout=0.3, attention_dropout=0.0, memsizer_roles="decoder,cross", memsizer_decoder_slots=4,
        memsizer_cross_slots=32, memsizer_q_init_scale=8.0, memsizer_kv_init_scale=8.0),
}


@pytest.mark.parametrize("arch", sorted(PRESETS))
def test_presets_mirror_the_official_sizes(arch):
    args = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](args)
    for name, value in PRESETS[arch].items():
        assert getattr(args, name, None) == value, name


def test_lm_defaults_are_the_official_lm_options():
    attn = build("memsizer_lm").decoder.layers[0].self_attn
    assert (attn.num_slots, attn.q_init_scale, attn.kv_init_scale) == (32, 32.0, 1.0)


# every YAML preset against its arch: tests/models/test_yaml_presets.py


def test_lm_with_adaptive_input_builds_and_decodes():
    model = build("memsizer_lm", vocab=60, adaptive_input=True, adaptive_input_cutoff="20,40",
                  adaptive_softmax_cutoff="20,40", tie_adaptive_weights=True, criterion="adaptive_loss")
    tokens = torch.randint(4, 60, (2, 6))
    features = model.decoder(tokens, features_only=True)[0]
    assert features.shape == (2, 6, 32)


@pytest.mark.parametrize(
    "arch, overrides, flag",
    [
        ("memsizer_lm", dict(memsizer_slots=0), "--memsizer-slots"),
        ("memsizer_lm", dict(memsizer_q_init_scale=0.0), "--memsizer-q-init-scale"),
        ("memsizer_lm", dict(memsizer_kv_init_scale=-2.0), "--memsizer-kv-init-scale"),
        ("memsizer_lm", dict(memsizer_chunk_size=0), "--memsizer-chunk-size"),
        ("memsizer_lm", dict(decoder_attention_heads=3), "--decoder-attention-heads=3"),
        ("memsizer_transformer", dict(memsizer_roles="decoder,bogus"), "--memsizer-roles"),
        ("memsizer_transformer", dict(memsizer_roles=""), "--memsizer-roles"),
        ("memsizer_transformer", dict(memsizer_cross_slots=0), "--memsizer-cross-slots"),
        ("memsizer_transformer", dict(memsizer_roles="encoder", memsizer_encoder_slots=0), "--memsizer-encoder-slots"),
        ("memsizer_transformer", dict(no_cross_attention=True), "--no-cross-attention"),
        ("memsizer_transformer", dict(cross_self_attention=True), "--cross-self-attention"),
    ],
)
def test_bad_options_fail_at_build_time(arch, overrides, flag):
    with pytest.raises(ConfigError, match=flag):
        build(arch, **overrides)


def test_unused_role_options_are_not_checked():
    """k of a role that keeps softmax is ignored (the default encoder role is softmax)."""
    model = build("memsizer_transformer", memsizer_encoder_slots=0)
    assert isinstance(model.encoder.layers[0].self_attn, MultiheadAttention)
