"""Memformer's memory: slot-attention writer (sparsity, temperature, identity self-value, padding), biased memory
normalisation (forgetting, initial memory), the memory-reading encoder, and one-line errors."""
import math

import pytest
import torch

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.memformer_memory import BiasedMemoryNorm, SlotAttentionWriter

DIM, HEADS, SLOTS = 16, 4, 5


def writer(**kw):
    return SlotAttentionWriter(DIM, HEADS, **kw).double().eval()


def reference_write(w: SlotAttentionWriter, memory, tokens, pad=None):
    """The paper's equations, one slot and one head at a time."""
    batch, slots, _ = memory.shape
    d = w.head_dim
    out = torch.zeros_like(memory)
    for b in range(batch):
        for i in range(slots):
            m = memory[b, i]
            keep = tokens[b] if pad is None else tokens[b][~pad[b]]
            for h in range(w.num_heads):
                cut = slice(h * d, (h + 1) * d)
                q = w.q_proj(m)[cut] / math.sqrt(d)
                keys = torch.cat([w.k_proj(m)[cut][None], w.k_proj(keep)[:, cut]])  # [1+S,D]
                self_value = m[cut] if w.self_value == "identity" else w.v_proj(m)[cut]
                values = torch.cat([self_value[None], w.v_proj(keep)[:, cut]])
                weights = torch.softmax(keys @ q / w.temperature, dim=0)
                out[b, i, cut] = weights @ values
    return out


@pytest.mark.parametrize("self_value", ["identity", "projected"])
@pytest.mark.parametrize("temperature", [0.5, 1.0])
def test_writer_matches_the_equations(self_value, temperature):
    w = writer(temperature=temperature, self_value=self_value)
    memory, tokens = torch.randn(2, SLOTS, DIM, dtype=torch.float64), torch.randn(2, 7, DIM, dtype=torch.float64)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, 4:] = True
    assert (w(memory, tokens, pad) - reference_write(w, memory, tokens, pad)).abs().max() < 1e-12


def test_a_slot_never_reads_other_slots():
    w = writer()
    memory, tokens = torch.randn(1, SLOTS, DIM, dtype=torch.float64), torch.randn(1, 6, DIM, dtype=torch.float64)
    changed = memory.clone()
    changed[0, 3] += 5.0
    diff = (w(memory, tokens) - w(changed, tokens)).abs().amax(-1)[0]  # [K]
    assert diff[3] > 1e-3 and torch.all(diff[[0, 1, 2, 4]] < 1e-12)


def test_identity_self_value_copies_a_slot_that_attends_only_to_itself():
    w = writer()
    memory, tokens = torch.randn(2, SLOTS, DIM, dtype=torch.float64), torch.randn(2, 3, DIM, dtype=torch.float64)
    all_pad = torch.ones(2, 3, dtype=torch.bool)
    assert (w(memory, tokens, all_pad) - memory).abs().max() < 1e-12


def test_temperature_interpolates_between_argmax_and_uniform():
    """tau -> 0: each slot takes the value of its best-scoring candidate; tau -> inf: the mean of all candidates."""
    sharp = SlotAttentionWriter(DIM, 1, temperature=1e-4).double()
    flat = SlotAttentionWriter(DIM, 1, temperature=1e4).double()
    flat.load_state_dict(sharp.state_dict())
    memory, tokens = torch.randn(1, SLOTS, DIM, dtype=torch.float64), torch.randn(1, 6, DIM, dtype=torch.float64)
    q = sharp.q_proj(memory)[0]  # [K,C]
    keys = torch.cat([sharp.k_proj(memory)[0][:, None], sharp.k_proj(tokens)[0][None].expand(SLOTS, -1, -1)], 1)
    values = torch.cat([memory[0][:, None], sharp.v_proj(tokens)[0][None].expand(SLOTS, -1, -1)], 1)  # [K,1+S,C]
    best = (keys @ q[:, :, None]).squeeze(-1).argmax(-1)  # [K]
    assert (sharp(memory, tokens)[0] - values[torch.arange(SLOTS), best]).abs().max() < 1e-6
    assert (flat(memory, tokens)[0] - values.mean(1)).abs().max() < 1e-3


def test_padding_tokens_do_not_change_the_write():
    w = writer()
    memory, tokens = torch.randn(1, SLOTS, DIM, dtype=torch.float64), torch.randn(1, 6, DIM, dtype=torch.float64)
    padded = torch.cat([tokens, torch.randn(1, 3, DIM, dtype=torch.float64)], dim=1)
    pad = torch.zeros(1, 9, dtype=torch.bool)
    pad[0, 6:] = True
    assert (w(memory, padded, pad) - w(memory, tokens)).abs().max() < 1e-12


@pytest.mark.parametrize("norm, radius", [("l2", 1.0), ("scaled_l2", math.sqrt(DIM))])
def test_memory_normalisation_puts_slots_on_a_sphere(norm, radius):
    bmn = BiasedMemoryNorm(SLOTS, DIM, norm=norm).double()
    out = bmn(torch.randn(3, SLOTS, DIM, dtype=torch.float64) * 50)
    assert torch.allclose(out.norm(dim=-1), torch.full((3, SLOTS), radius, dtype=torch.float64))
    init = bmn.initial(3)
    assert init.shape == (3, SLOTS, DIM) and torch.allclose(init[0], init[2])
    assert torch.allclose(init[0], radius * bmn.bias / bmn.bias.norm(dim=-1, keepdim=True))


def test_forgetting_drifts_unwritten_slots_to_their_bias_direction():
    """With nothing to read (all tokens padded), m <- normalise(m + v_bias) converges to v_bias / |v_bias|."""
    w, bmn = writer(), BiasedMemoryNorm(SLOTS, DIM).double()
    memory = bmn.normalise(torch.randn(1, SLOTS, DIM, dtype=torch.float64))
    tokens, all_pad = torch.randn(1, 2, DIM, dtype=torch.float64), torch.ones(1, 2, dtype=torch.bool)
    target = bmn.bias / bmn.bias.norm(dim=-1, keepdim=True)
    cosines = []
    for _ in range(60):
        memory = bmn(w(memory, tokens, all_pad))
        cosines.append(torch.cosine_similarity(memory[0], target, dim=-1).min().item())
    assert cosines[-1] > 0.99 and cosines[-1] > cosines[0]


def test_without_forgetting_an_unwritten_slot_is_kept():
    w, bmn = writer(), BiasedMemoryNorm(SLOTS, DIM, forgetting=False).double()
    memory = bmn.normalise(torch.randn(1, SLOTS, DIM, dtype=torch.float64))
    all_pad = torch.ones(1, 2, dtype=torch.bool)
    assert (bmn(w(memory, torch.randn(1, 2, DIM, dtype=torch.float64), all_pad)) - memory).abs().max() < 1e-12


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_normalisation_is_finite(dtype):
    bmn = BiasedMemoryNorm(SLOTS, DIM).to(dtype)
    out = bmn(torch.full((2, SLOTS, DIM), 300.0, dtype=dtype))
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert torch.allclose(out.float().norm(dim=-1), torch.ones(2, SLOTS), atol=1e-2)


@pytest.mark.parametrize(
    "build, parameter",
    [
        (lambda: SlotAttentionWriter(DIM, 3), "num_heads=3"),
        (lambda: SlotAttentionWriter(DIM, HEADS, temperature=0.0), "temperature must be > 0"),
        (lambda: SlotAttentionWriter(DIM, HEADS, self_value="bogus"), "self_value: unknown 'bogus'"),
        (lambda: BiasedMemoryNorm(0, DIM), "num_slots must be >= 1"),
        (lambda: BiasedMemoryNorm(SLOTS, DIM, norm="bogus"), "norm: unknown 'bogus'"),
    ],
)
def test_bad_settings_name_the_parameter(build, parameter):
    """The modules name their own parameters; the model names the flags (tests/models/test_memformer_model.py)."""
    with pytest.raises(ConfigError, match=parameter):
        build()
