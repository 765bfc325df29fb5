"""memformer_lm built in-process: the recurrence in every mode (fresh, carried, per-split streams served by the
task's registry, incremental generation and beam search), padding of ended streams, checkpointed stream state,
presets and build errors."""
import argparse

import pytest
import torch
from builders import build, dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY
from fairseq.sequence_generator import SequenceGenerator
from fairseq.tasks import FairseqTask
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask
from harness import assert_beam_reorder, assert_incremental_matches_full

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.incremental_state import state_bytes
from memattn_fairseq.modules.memformer_state import RecurrentState
from memattn_fairseq.tasks.memformer_streams import StreamPosition, StreamRegistry

VOCAB, L = 50, 4


def tiny(**overrides):
    options = dict(encoder_layers=1, memformer_segment_length=L, memformer_slots=6)
    return build("memformer_lm", vocab=VOCAB, **{**options, **overrides}).double()


def with_streams(model):
    """``model`` with the registry --task memformer_lm attaches, serving calls that name a stream position."""
    StreamRegistry().attach(model)
    return model


def tokens(batch=3, length=13):
    return torch.randint(4, VOCAB, (batch, length))


@pytest.mark.parametrize("segment_length", [1, 4, 5, 32])
def test_incremental_generation_equals_the_full_forward_across_segments(segment_length):
    model = tiny(memformer_segment_length=segment_length)
    assert_incremental_matches_full(model.decoder, tokens(length=17), atol=1e-6)


@pytest.mark.parametrize("prefix", [1, 3, 4, 5, 8, 11])
def test_beam_reorder_permutes_duplicates_and_shrinks(prefix):
    model = tiny()
    model.decoder.set_beam_size(3)  # must not make any attention share keys across a beam
    toks = tokens()
    for order in ([2, 0, 0], [1], [2, 1], [0, 1, 2]):
        assert_beam_reorder(model.decoder, toks, torch.tensor(order), prefix=prefix, atol=1e-6)


@pytest.mark.parametrize("search", [dict(beam_size=3), dict(beam_size=1, search_strategy="sampling")])
def test_sequence_generator_scores_equal_a_full_forward(search):
    """fairseq's generator (prompt forced, beams reordered and finished across segment boundaries): every returned
    hypothesis's positional scores equal the log-probs of a full forward over it."""
    from fairseq import search as fairseq_search

    model = tiny().float()
    d = dictionary(VOCAB)
    options = dict(search)
    if options.pop("search_strategy", None):
        options["search_strategy"] = fairseq_search.Sampling(d, sampling_topk=5)
    generator = SequenceGenerator([model], d, max_len_b=15, min_len=2 * L + 2, **options)
    prompt = tokens(batch=2, length=3)
    sample = {"net_input": {"src_tokens": prompt, "src_lengths": torch.tensor([3, 3])}}
    hypos = generator.generate([model], sample, prefix_tokens=prompt, bos_token=d.eos())
    for hypo in (h for row in hypos for h in row):
        inputs = torch.cat([torch.tensor([d.eos()]), hypo["tokens"][:-1]]).unsqueeze(0)
        lprobs = model.get_normalized_probs(model(inputs), log_probs=True)[0]
        expected = lprobs.gather(-1, hypo["tokens"].unsqueeze(-1)).squeeze(-1)
        assert hypo["tokens"].numel() > 2 * L
        assert (expected - hypo["positional_scores"]).abs().max() < 1e-4


def test_generation_state_stays_bounded():
    model = tiny()
    state, sizes = {}, []
    toks = tokens(batch=2, length=12 * L)
    with torch.no_grad():
        for t in range(toks.size(1)):
            model.decoder(toks[:, : t + 1], incremental_state=state)
            sizes.append(state_bytes(state))
    assert max(sizes[L:]) == max(sizes[-2 * L:])  # the largest state recurs every segment, never grows


def test_carried_state_continues_the_stream():
    model = tiny()
    toks = tokens(length=6 * L)
    whole = model(toks)[0]
    head, extra = model(toks[:, : 2 * L], state=RecurrentState.fresh(3))
    tail = model(toks[:, 2 * L:], state=extra["state"])[0]
    assert (torch.cat([head, tail], 1) - whole).abs().max() < 1e-10
    assert extra["state"].memory.shape == (3, 6, 32) and extra["state"].prev_inputs.shape == (3, L)


def test_split_streams_continue_between_calls_and_restart_at_block_zero():
    model = with_streams(tiny())
    toks = tokens(length=6 * L)
    whole = model(toks)[0]
    blocks = [model(toks[:, i * 2 * L:(i + 1) * 2 * L], stream=StreamPosition("valid", i))[0] for i in range(3)]
    assert (torch.cat(blocks, 1) - whole).abs().max() < 1e-10
    again = model(toks[:, : 2 * L], stream=StreamPosition("valid", 0))[0]  # a new pass over the split
    assert (again - whole[:, : 2 * L]).abs().max() < 1e-10
    replay = model(toks[:, : 2 * L], stream=StreamPosition("valid", 0))[0]  # the same block again
    assert (replay - again).abs().max() < 1e-10
    other = model(toks[:, : 2 * L], stream=StreamPosition("test", 0))[0]  # other splits keep their own streams
    assert (other - again).abs().max() < 1e-10


def test_a_jump_in_the_block_order_starts_fresh_streams():
    model = with_streams(tiny())
    toks = tokens(length=4 * L)
    model(toks[:, : 2 * L], stream=StreamPosition("valid", 0))
    jumped = model(toks[:, 2 * L:], stream=StreamPosition("valid", 5))[0]
    assert (jumped - model(toks[:, 2 * L:])[0]).abs().max() < 1e-10
    resized = model(toks[:2, : 2 * L], stream=StreamPosition("valid", 6))[0]  # another batch size: fresh too
    assert (resized - model(toks[:2, : 2 * L])[0]).abs().max() < 1e-10


def test_ended_streams_are_padding_and_do_not_disturb_the_others():
    model = tiny()
    toks = tokens(length=5 * L)
    padded = toks.clone()
    padded[1, L + 2:] = 1  # row 1 ends inside segment 2; its later segments are all padding
    out = model(padded)[0]
    assert torch.isfinite(out).all()
    assert (out[1:2, : L + 2] - model(toks[1:2, : L + 2])[0]).abs().max() < 1e-10
    assert (out[[0, 2]] - model(toks[[0, 2]])[0]).abs().max() < 1e-10
    carried = model(padded, state=RecurrentState.fresh(3))[1]["state"]
    ended = model(padded[1:2, : 3 * L], state=RecurrentState.fresh(1))[1]["state"]  # segment 3 still reads the
    # row's last token; 4 and 5 are empty
    assert (carried.memory[1] - ended.memory[0]).abs().max() < 1e-10  # kept once ended


def test_training_streams_are_saved_with_the_checkpoint_and_restored():
    model = with_streams(tiny())
    toks = tokens(length=2 * L)
    state = RecurrentState(torch.randn(3, 6, 32, dtype=torch.float64), toks[:, -L:])
    model.streams.commit(StreamPosition("train", 4), None, state, training=True)
    model.streams.commit(StreamPosition("valid", 1), None, state, training=False)
    saved = model.state_dict()["streams._extra_state"]
    assert set(saved) == {"train"} and saved["train"]["next_block"] == 5
    fresh = with_streams(tiny())
    fresh.load_state_dict(model.state_dict())
    restored = fresh.streams.state_for(StreamPosition("train", 5), 3)
    assert torch.equal(restored.memory, state.memory) and torch.equal(restored.prev_inputs, state.prev_inputs)
    assert fresh.streams.state_for(StreamPosition("train", 7), 3) is None  # resumed elsewhere: fresh


def test_checkpoints_that_kept_the_streams_in_the_decoder_still_load():
    model = with_streams(tiny())
    state = RecurrentState(torch.randn(3, 6, 32, dtype=torch.float64), tokens(length=L))
    model.streams.commit(StreamPosition("train", 4), None, state, training=True)
    legacy = dict(model.state_dict())
    legacy["decoder._extra_state"] = {"streams": legacy.pop("streams._extra_state")}
    fresh = with_streams(tiny())
    fresh.load_state_dict(legacy)  # fairseq's strict load, after the registry's upgrade
    assert torch.equal(fresh.streams.state_for(StreamPosition("train", 5), 3).memory, state.memory)


def test_encoder_width_follows_the_decoder_unless_set():
    args = argparse.Namespace(decoder_embed_dim=48, decoder_attention_heads=6)
    ARCH_CONFIG_REGISTRY["memformer_lm_small"](args)
    assert (args.encoder_embed_dim, args.encoder_attention_heads, args.encoder_ffn_embed_dim) == (48, 6, 512)
    model = tiny(encoder_embed_dim=16, encoder_ffn_embed_dim=24, encoder_attention_heads=2)
    assert model.decoder.encoder.embed_tokens is not model.decoder.segment_decoder.embed_tokens
    assert model.decoder.memory_norm.bias.shape == (6, 16)
    assert_incremental_matches_full(model.decoder, tokens(length=9), atol=1e-6)


@pytest.mark.parametrize(
    "arch, expected",
    [
        ("memformer_lm_wiki103", dict(encoder_layers=4, decoder_layers=16, decoder_embed_dim=512, encoder_embed_dim=512,
                                      decoder_ffn_embed_dim=2048, encoder_ffn_embed_dim=2048,
                                      decoder_attention_heads=8)),
        ("memformer_lm", dict(encoder_layers=4, decoder_layers=16, decoder_embed_dim=512)),
        ("memformer_lm_small", dict(encoder_layers=1, decoder_layers=2, decoder_embed_dim=128,
                                    memformer_segment_length=32)),
    ],
)
def test_presets(arch, expected):
    args = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](args)
    if arch == "memformer_lm":  # the model's own name: dataclass defaults, applied at build time
        from memattn_fairseq.models.memformer_lm import apply_preset

        apply_preset(args, {})
    for name, value in expected.items():
        assert getattr(args, name) == value, name


def test_wiki103_preset_builds_the_paper_shapes():
    with torch.device("meta"):
        model = build("memformer_lm_wiki103", vocab=VOCAB, **{k: None for k in (
            "encoder_layers", "decoder_layers", "encoder_embed_dim", "decoder_embed_dim", "encoder_ffn_embed_dim",
            "decoder_ffn_embed_dim", "encoder_attention_heads", "decoder_attention_heads", "decoder_input_dim",
            "decoder_output_dim")})
    decoder = model.decoder
    assert len(decoder.encoder.layers) == 4 and len(decoder.segment_decoder.layers) == 16
    assert decoder.segment_decoder.layers[0].fc1.weight.shape == (2048, 512)
    assert decoder.encoder.layers[0].encoder_attn.num_heads == 8
    assert decoder.memory_norm.bias.shape == (1024, 512) and decoder.segment_length == 64


def test_adaptive_softmax_output():
    model = tiny(adaptive_softmax_cutoff="20,40")
    toks = tokens(length=2 * L)
    out = model(toks)
    lprobs = model.get_normalized_probs(out, log_probs=True)
    assert lprobs.shape == (3, 2 * L, VOCAB)
    assert torch.allclose(lprobs.exp().sum(-1).double(), torch.ones(3, 2 * L).double())


class OtherTask(FairseqTask):
    target_dictionary = source_dictionary = dictionary(VOCAB)


@pytest.mark.parametrize(
    "overrides, flag",
    [
        (dict(decoder_attention_heads=3), "--decoder-attention-heads=3"),
        (dict(encoder_attention_heads=5), "--encoder-attention-heads=5"),
        (dict(memformer_segment_length=0), "--memformer-segment-length"),
        (dict(memformer_slots=0), "--memformer-slots"),
        (dict(memformer_write_heads=3), "--memformer-write-heads=3"),
        (dict(memformer_write_temperature=-1.0), "--memformer-write-temperature"),
    ],
)
def test_bad_options_fail_at_build_time(overrides, flag):
    with pytest.raises(ConfigError, match=flag):
        tiny(**overrides)


def test_other_tasks_are_refused():
    from memattn_fairseq.models.memformer_lm import MemformerLanguageModel

    d = dictionary(VOCAB)
    task = LanguageModelingTask(LanguageModelingConfig(), d)
    args = argparse.Namespace(arch="memformer_lm_small")
    ARCH_CONFIG_REGISTRY["memformer_lm_small"](args)
    with pytest.raises(ConfigError, match="needs --task memformer_lm .*got --task language_modeling"):
        MemformerLanguageModel.build_model(args, task)


def test_without_memory_a_token_sees_only_its_segment_and_the_previous_one():
    toks = tokens(batch=2, length=4 * L)
    changed = toks.clone()
    changed[:, :L] = torch.randint(4, VOCAB, (2, L))  # the first segment only
    for no_memory, reaches_segment_three in ((True, False), (False, True)):
        model = tiny(memformer_no_memory=no_memory, dropout=0.0)
        assert (model.decoder.writer is None) == no_memory
        with torch.no_grad():
            before, after = model(toks)[0], model(changed)[0]
        assert torch.equal(before[:, 2 * L:], after[:, 2 * L:]) != reaches_segment_three
        assert not torch.equal(before[:, L:2 * L], after[:, L:2 * L])  # the previous segment is always seen
        assert_incremental_matches_full(model.decoder, toks, atol=1e-6)
