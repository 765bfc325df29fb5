"""Linear-attention math: the chunked causal form and the bidirectional memory equal the quadratic reference,
outputs and gradients, at odd lengths and chunk boundaries, with padding; a carried state continues the sequence."""
import pytest
import torch

from memattn_fairseq.attention import linear
from memattn_fairseq.attention.linear_reference import linear_attention_reference

B, H, D, CHUNK = 2, 3, 8, 32
LENGTHS = [1, 31, 32, 33, 63, 64, 65, 100]


def inputs(length, dtype=torch.float64):
    """phi(q), phi(k), v [B,H,T,D], the raw tensors requiring grad."""
    raw = [torch.randn(B, H, length, D, dtype=dtype, requires_grad=True) for _ in range(3)]
    return raw, (linear.feature_map(raw[0]), linear.feature_map(raw[1]), raw[2])


def left_padding(length):
    pad = torch.zeros(B, length, dtype=torch.bool)
    pad[1, : length // 3] = True
    return pad


def assert_same(out, ref, raw, tol=1e-10):
    assert (out - ref).abs().max().item() < tol
    for g, g_ref in zip(torch.autograd.grad(out.pow(2).sum(), raw, retain_graph=True),
                        torch.autograd.grad(ref.pow(2).sum(), raw, retain_graph=True)):
        assert (g - g_ref).abs().max().item() < tol


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("padded", [False, True])
def test_causal_form_equals_the_reference(length, padded):
    raw, (q, k, v) = inputs(length)
    pad = left_padding(length) if padded else None
    out, _ = linear.causal(q, k, v, pad, None, CHUNK)
    assert_same(out, linear_attention_reference(q, k, v, causal=True, pad_mask=pad), raw)


@pytest.mark.parametrize("length", [1, 33, 100])
def test_bidirectional_memory_equals_the_reference(length):
    raw, (q, k, v) = inputs(length)
    pad = left_padding(length)
    out = linear.read(q, linear.compress(k, v, pad))
    assert_same(out, linear_attention_reference(q, k, v, causal=False, pad_mask=pad), raw)


@pytest.mark.parametrize("split", [1, 7, 32, 33])
def test_a_carried_state_continues_the_sequence(split):
    _, (q, k, v) = inputs(70)
    whole, whole_state = linear.causal(q, k, v, None, None, CHUNK)
    first, state = linear.causal(q[:, :, :split], k[:, :, :split], v[:, :, :split], None, None, CHUNK)
    outs = [first]
    for t in range(split, 70):  # then one token at a time, as decoding does
        out, state = linear.causal(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], None, state, CHUNK)
        outs.append(out)
    assert (torch.cat(outs, dim=2) - whole).abs().max().item() < 1e-10
    for name in whole_state:
        assert (state[name] - whole_state[name]).abs().max().item() < 1e-10


def test_a_row_of_padding_only_reads_zeros():
    _, (q, k, v) = inputs(5)
    pad = torch.ones(B, 5, dtype=torch.bool)
    out, _ = linear.causal(q, k, v, pad, None, CHUNK)
    assert torch.isfinite(out).all() and out.abs().max() == 0
