"""MemSizer math: chunked causal form == token recurrence == the official outer-product form, outputs and
gradients; bidirectional memory; padding; state continuation; fp32 accuracy; memory linear in length."""
import pytest
import torch

from memattn_fairseq.attention.memsizer import causal, compress, read, slot_distribution
from memattn_fairseq.attention.memsizer_reference import (
    bidirectional_reference,
    causal_outer_product_reference,
    causal_recurrent_reference,
)

B, H, K, C, CHUNK = 2, 3, 5, 8, 32
LENGTHS = [1, 31, 32, 33, 63, 64, 65, 100]


def inputs(length, batch=B, dtype=torch.float64):
    """slot_probs (a real head-averaged distribution), keys, values [B,T,*], all requiring grad."""
    logits = torch.randn(batch, length, H * K, dtype=dtype, requires_grad=True)
    keys = torch.randn(batch, length, K, dtype=dtype, requires_grad=True)
    values = torch.randn(batch, length, C, dtype=dtype, requires_grad=True)
    return logits, keys, values


def grads(out, *tensors):
    return torch.autograd.grad(out.pow(2).sum(), tensors, retain_graph=True)  # the inputs share one graph


def assert_close(a, b, tol):
    err = (a - b).abs().max().item()
    assert err < tol, f"max abs error {err}"


def left_and_right_padding(length):
    pad = torch.zeros(B, length, dtype=torch.bool)
    pad[0, : length // 3] = True  # row 0 left-padded
    pad[1, length - length // 4 :] = True  # row 1 right-padded
    return pad


def test_slot_distribution_averages_head_softmaxes():
    logits, _, _ = inputs(7)
    probs = slot_distribution(logits, H)
    by_head = torch.softmax(logits.view(B, 7, H, K), -1)
    assert_close(probs, by_head.mean(2), 1e-12)
    assert_close(probs.sum(-1), torch.ones(B, 7, dtype=torch.float64), 1e-12)


@pytest.mark.parametrize("length", LENGTHS)
def test_chunked_causal_equals_references_with_gradients(length):
    logits, keys, values = inputs(length)
    probs = slot_distribution(logits, H)
    out, _ = causal(probs, keys, values, None, None, CHUNK)
    outer = causal_outer_product_reference(probs, keys, values)
    rec = causal_recurrent_reference(probs, keys, values)
    assert_close(out, outer, 1e-10)
    assert_close(rec, outer, 1e-10)
    for g_out, g_ref in zip(grads(out, logits, keys, values), grads(outer, logits, keys, values)):
        assert_close(g_out, g_ref, 1e-9)


@pytest.mark.parametrize("length", [5, 33, 64, 100])
def test_causal_padding_on_either_side_matches_each_sentence_alone(length):
    """Pads write nothing and are not counted: left padding does not shift t for the real tokens."""
    logits, keys, values = inputs(length)
    probs = slot_distribution(logits, H)
    pad = left_and_right_padding(length)
    out, state = causal(probs, keys, values, pad, None, CHUNK)
    assert_close(out, causal_outer_product_reference(probs, keys, values, pad), 1e-10)
    assert_close(out, causal_recurrent_reference(probs, keys, values, pad), 1e-10)
    assert torch.isfinite(out).all()
    for row in range(B):
        real = ~pad[row]
        alone, alone_state = causal(probs[row : row + 1, real], keys[row : row + 1, real],
                                    values[row : row + 1, real], None, None, CHUNK)
        assert_close(out[row, real], alone[0], 1e-10)
        assert_close(state["sum"][row], alone_state["sum"][0], 1e-10)
        assert int(state["count"][row]) == int(real.sum())
    left = length // 3
    assert (out[0, :left] == 0).all()  # nothing seen yet at the left pads


@pytest.mark.parametrize("split", [1, 17, 32, 45, 76])
def test_state_continues_exactly(split):
    """Two calls (prefix, then rest) from the carried state equal one call over the whole sequence."""
    logits, keys, values = inputs(77)
    probs = slot_distribution(logits, H)
    whole, whole_state = causal(probs, keys, values, None, None, CHUNK)
    first, state = causal(probs[:, :split], keys[:, :split], values[:, :split], None, None, CHUNK)
    rest, end_state = causal(probs[:, split:], keys[:, split:], values[:, split:], None, state, CHUNK)
    assert_close(torch.cat([first, rest], 1), whole, 1e-10)
    assert_close(end_state["sum"], whole_state["sum"], 1e-10)
    assert torch.equal(end_state["count"], whole_state["count"])


def test_token_by_token_steps_equal_the_full_form():
    logits, keys, values = inputs(40)
    probs = slot_distribution(logits, H)
    whole, _ = causal(probs, keys, values, None, None, CHUNK)
    state, steps = None, []
    for t in range(40):
        out, state = causal(probs[:, t : t + 1], keys[:, t : t + 1], values[:, t : t + 1], None, state, CHUNK)
        steps.append(out)
    assert_close(torch.cat(steps, 1), whole, 1e-10)
    assert state["count"].tolist() == [40] * B


def test_steps_without_autograd_run_in_place_and_equal_the_autograd_steps():
    """Generation (no autograd) updates the sum and the count in place; the steps are the same operations, so
    every output and the final state are bit for bit those of the steps under autograd. A pad step counts nothing."""
    logits, keys, values = (t.detach() for t in inputs(30))
    probs = slot_distribution(logits, H)
    step_pads = torch.zeros(B, 30, dtype=torch.bool)
    step_pads[0, 25] = True

    def prefix_then_steps(tracked: bool):
        with torch.set_grad_enabled(tracked):
            out, state = causal(probs[:, :20], keys[:, :20], values[:, :20], None, None, CHUNK)
            outs, sums = [out], []
            for t in range(20, 30):
                sums.append(state["sum"])
                out, state = causal(probs[:, t:t + 1], keys[:, t:t + 1], values[:, t:t + 1], step_pads[:, t:t + 1],
                                    state, CHUNK)
                outs.append(out)
            return torch.cat(outs, 1), state, {s.data_ptr() for s in sums + [state["sum"]]}

    tracked, tracked_state, tracked_buffers = prefix_then_steps(True)
    in_place, in_place_state, in_place_buffers = prefix_then_steps(False)
    assert torch.equal(in_place, tracked) and all(torch.equal(in_place_state[n], tracked_state[n])
                                                  for n in tracked_state)
    assert in_place_state["count"].tolist() == [29, 30]
    assert len(in_place_buffers) == 1 and len(tracked_buffers) == 11


def test_the_count_matters():
    """Restarting the count (keeping the sum) changes the 1/sqrt(t) scale, so the carried count is load-bearing."""
    logits, keys, values = inputs(40)
    probs = slot_distribution(logits, H)
    whole, _ = causal(probs, keys, values, None, None, CHUNK)
    _, state = causal(probs[:, :20], keys[:, :20], values[:, :20], None, None, CHUNK)
    state = dict(state, count=torch.zeros_like(state["count"]))
    rest, _ = causal(probs[:, 20:], keys[:, 20:], values[:, 20:], None, state, CHUNK)
    assert (rest - whole[:, 20:]).abs().max() > 1e-3


@pytest.mark.parametrize("length", [1, 63, 100, 1000])
def test_fp32_matches_fp64_reference(length):
    logits, keys, values = inputs(length)
    probs = slot_distribution(logits, H)
    ref = causal_recurrent_reference(probs, keys, values)
    out32, _ = causal(probs.float(), keys.float(), values.float(), None, None, CHUNK)
    assert out32.dtype == torch.float32
    assert_close(out32.double(), ref, 1e-5)


@pytest.mark.parametrize("length", [1, 9, 40])
def test_bidirectional_equals_reference_with_left_and_right_padding(length):
    logits, keys, values = inputs(length)
    probs = slot_distribution(logits, H)
    pad = left_and_right_padding(length)
    out = read(probs, compress(keys, values, pad))
    assert_close(out, bidirectional_reference(probs, keys, values, pad), 1e-10)
    for row in range(B):
        real = ~pad[row]
        memory_alone = compress(keys[row : row + 1, real], values[row : row + 1, real], None)
        assert_close(compress(keys, values, pad)[row], memory_alone[0], 1e-10)
    ref = bidirectional_reference(probs, keys, values, pad)
    for g_out, g_ref in zip(grads(out, logits, keys, values), grads(ref, logits, keys, values)):
        assert_close(g_out, g_ref, 1e-9)


def test_bidirectional_is_the_causal_form_at_the_last_position():
    logits, keys, values = inputs(23)
    probs = slot_distribution(logits, H)
    out, _ = causal(probs, keys, values, None, None, CHUNK)
    last = read(probs[:, -1:], compress(keys, values, None))
    assert_close(out[:, -1:], last, 1e-10)


def test_memory_is_linear_in_length():
    """Saved activations grow linearly with T, and no saved tensor is as large as the [T, k, C] outer products
    that the official training form materialises."""
    num_slots, dim = 32, 64

    def saved_numels(length):
        sizes = []
        probs = torch.rand(1, length, num_slots, requires_grad=True)
        keys = torch.randn(1, length, num_slots, requires_grad=True)
        values = torch.randn(1, length, dim, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
            causal(probs, keys, values, None, None, 64)
        return sizes

    short, long = saved_numels(1024), saved_numels(4096)
    assert max(long) < 4096 * num_slots * dim / 8
    assert sum(long) < 4.5 * sum(short)


def test_no_overflow_at_8k_tokens():
    length = 8192
    probs = torch.softmax(torch.randn(1, length, K) * 30, -1).requires_grad_()
    keys = torch.randn(1, length, K, requires_grad=True)
    values = torch.randn(1, length, C, requires_grad=True)
    out, state = causal(probs, keys, values, None, None, 64)
    grad_values, = torch.autograd.grad(out.sum(), (values,))
    assert torch.isfinite(out).all() and torch.isfinite(grad_values).all()
    assert all(torch.isfinite(t).all() for t in state.values()) and int(state["count"]) == length
