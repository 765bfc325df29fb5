"""The contract every model of the model list keeps, parametrised over the list: incremental decoding equals the
full forward (across chunk boundaries), beam search reorders the state, and a bounded model's decoding state does
not grow with the prefix. A new family added to the list is checked here without a new test."""
import pytest
import torch
from builders import build, dictionary
from fairseq.models import ARCH_MODEL_REGISTRY
from fairseq.sequence_generator import SequenceGenerator
from harness import assert_beam_reorder, assert_incremental_matches_full

from memattn_fairseq import model_list
from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.bounded_attention import BoundedAttention
from memattn_fairseq.modules.incremental_state import state_bytes

LM = [m for m in model_list.models("lm") if not m.stream]  # Memformer's streams: tests/models/test_memformer_model.py
MT = model_list.models("mt")


def tiny(entry):
    """The entry at 5 slots, with every bounded layer's chunks 4 tokens long (so 13 tokens cross chunk borders)."""
    model = build(entry.arch, **entry.with_slots(5).options)
    for module in model.modules():
        if isinstance(module, BoundedAttention) and hasattr(module, "chunk_size"):
            module.chunk_size = 4
    return model


def decoder_state_bytes(model, tokens) -> int:
    state = {}
    for t in range(tokens.shape[1]):
        model.decoder(tokens[:, : t + 1], incremental_state=state)
    return state_bytes(state)


def source_batch():
    src = torch.randint(4, 50, (3, 9))
    src[0, :4] = 1  # left-padded, as fairseq batches sources
    return src


def test_every_entry_names_a_registered_arch_with_its_options():
    for entry in model_list.MODELS:
        assert entry.arch in ARCH_MODEL_REGISTRY, entry
        build(entry.arch, **entry.options)  # every option is a field of the model


@pytest.mark.parametrize("entry", LM, ids=lambda m: m.name)
def test_lm_incremental_decoding_and_beam_reorder(entry):
    model = tiny(entry)
    tokens = torch.randint(4, 50, (3, 13))
    assert_incremental_matches_full(model.decoder, tokens)
    assert_beam_reorder(model.decoder, tokens, torch.tensor([2, 0, 0]))
    assert_beam_reorder(model.decoder, tokens, torch.tensor([1]))


@pytest.mark.parametrize("entry", [m for m in LM if not m.baseline], ids=lambda m: m.name)
def test_lm_decoding_state_is_constant_in_the_prefix(entry):
    model = tiny(entry)
    short, long = torch.randint(4, 50, (2, 7)), torch.randint(4, 50, (2, 40))
    with torch.no_grad():
        assert decoder_state_bytes(model, short) == decoder_state_bytes(model, long)


@pytest.mark.parametrize("entry", MT, ids=lambda m: m.name)
def test_translation_incremental_decoding_beam_reorder_and_search(entry):
    model = tiny(entry)
    src = source_batch()
    encoder_out = model.encoder(src, src_lengths=None)
    tokens = torch.randint(4, 50, (3, 8))
    assert_incremental_matches_full(model.decoder, tokens, encoder_out)
    # a batch of another size: fairseq's softmax cross-attention keeps its cache when the size is unchanged (in beam
    # search every row of a sentence shares its source)
    assert_beam_reorder(model.decoder, tokens, torch.tensor([2, 2]), encoder_out, model.encoder.reorder_encoder_out)
    generator = SequenceGenerator([model], dictionary(), beam_size=3, max_len_b=12, min_len=1)
    hypos = generator.forward({"net_input": {"src_tokens": src, "src_lengths": src.ne(1).sum(1)}})
    assert len(hypos) == 3 and all(len(h) == 3 for h in hypos)


@pytest.mark.parametrize("arch, overrides, flag", [
    ("linear_lm", dict(linear_chunk_size=0), "--linear-chunk-size must be >= 1, got 0"),
    ("linear_lm", dict(decoder_attention_heads=3), "--decoder-attention-heads=3 does not divide"),
    ("linear_transformer", dict(linear_roles="decoder,bogus"), "--linear-roles: unknown role 'bogus'"),
    ("linear_transformer", dict(linear_roles="encoder", encoder_attention_heads=3), "--encoder-attention-heads=3"),
    ("abc_transformer", dict(abc_cross_slots=0), "--abc-cross-slots must be >= 1, got 0"),
    ("abc_lm", dict(abc_control_init_gain=-1.0), "--abc-control-init-gain must be a positive number, got -1.0"),
    ("abc_transformer", dict(abc_roles="encoder", abc_encoder_control="window"), "--abc-encoder-control=window"),
    ("memsizer_lm", dict(attention_recompute="maybe"), "--attention-recompute must be on or off, got 'maybe'"),
])
def test_a_module_check_names_the_flag_of_the_model_it_is_built_by(arch, overrides, flag):
    with pytest.raises(ConfigError, match=flag):
        build(arch, **overrides)


@pytest.mark.parametrize("entry", [m for m in LM + MT if not m.baseline], ids=lambda m: m.name)
def test_recompute_off_trains_the_same_function(entry):
    """--attention-recompute off keeps the causal forms' tensors instead of recomputing them: the same loss and
    gradients as on (dropout included: the recomputation replays the forward's masks)."""
    def loss_and_grads(recompute):
        torch.manual_seed(0)
        model = build(entry.arch, **entry.with_slots(5).options, dropout=0.2, attention_dropout=0.2,
                      attention_recompute=recompute).train()
        assert {m.recompute for m in model.modules() if isinstance(m, BoundedAttention)} == {recompute == "on"}
        tokens = torch.randint(4, 50, (2, 13))
        torch.manual_seed(1)
        if entry.kind == "lm":
            logits = model(tokens)[0]
        else:
            logits = model(source_batch()[:2], None, tokens)[0]
        loss = logits.float().logsumexp(-1).sum()
        loss.backward()
        return loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    loss_on, grads_on = loss_and_grads("on")
    loss_off, grads_off = loss_and_grads("off")
    assert torch.allclose(loss_on, loss_off, rtol=1e-6) and grads_on.keys() == grads_off.keys()
    for name in grads_on:
        assert torch.allclose(grads_on[name], grads_off[name], rtol=1e-5, atol=1e-7), name
