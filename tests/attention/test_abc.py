"""ABC math: chunked causal form == token recurrence == quadratic reference, outputs and gradients."""
import pytest
import torch

from memattn_fairseq.attention import abc
from memattn_fairseq.attention.abc import LinformerControl, MlpControl, WindowControl, read_slots
from memattn_fairseq.attention.abc_reference import (
    linformer_phi_causal,
    mlp_phi_bidirectional,
    mlp_phi_causal,
    mlp_recurrent_reference,
    slot_attention_reference,
    window_phi_causal,
)

B, H, D, N, C_IN, CHUNK = 2, 2, 8, 5, 12, 32
LENGTHS = [1, 31, 32, 33, 63, 64, 65, 100]


def inputs(length, dtype=torch.float64):
    tensors = [torch.randn(B, H, length, D, dtype=dtype, requires_grad=True) for _ in range(3)]
    x = torch.randn(B, length, C_IN, dtype=dtype, requires_grad=True)
    return (*tensors, x)


def grads(out, *tensors):
    return torch.autograd.grad(out.pow(2).sum(), tensors, allow_unused=False)


def assert_close(a, b, tol):
    err = (a - b).abs().max().item()
    assert err < tol, f"max abs error {err}"


def mlp_control(scale=1.0, dtype=torch.float64):
    control = MlpControl(C_IN, H, N).to(dtype)
    control.proj.weight.data.mul_(scale)
    return control


@pytest.mark.parametrize("length", LENGTHS)
def test_mlp_chunked_equals_reference_and_recurrence(length):
    q, k, v, x = inputs(length)
    control = mlp_control(scale=4.0)
    out, _ = control.causal(q, k, v, x, None, None, CHUNK)
    logits = control.logits(x, None)
    ref = slot_attention_reference(q, k, v, mlp_phi_causal(logits))
    rec = mlp_recurrent_reference(q, k, v, logits)
    assert_close(out, ref, 1e-10)
    assert_close(rec, ref, 1e-10)
    params = (q, k, v, x, control.proj.weight)
    for g_out, g_ref in zip(grads(out, *params), grads(ref, *params)):
        assert_close(g_out, g_ref, 1e-9)


@pytest.mark.parametrize("block_tokens", [32, 64, 96])
@pytest.mark.parametrize("length", [65, 128, 129, 200])
def test_mlp_blocks_carry_the_state_exactly(monkeypatch, block_tokens, length):
    """Long inputs run block by block (a whole number of chunks each); block edges change nothing."""
    monkeypatch.setattr(abc, "BLOCK_TOKENS", block_tokens)
    q, k, v, x = inputs(length)
    control = mlp_control(scale=4.0)
    out, state = control.causal(q, k, v, x, None, None, CHUNK)
    logits = control.logits(x, None)
    ref = slot_attention_reference(q, k, v, mlp_phi_causal(logits))
    assert_close(out, ref, 1e-10)
    params = (q, k, v, x, control.proj.weight)
    for g_out, g_ref in zip(grads(out, *params), grads(ref, *params)):
        assert_close(g_out, g_ref, 1e-9)
    monkeypatch.setattr(abc, "BLOCK_TOKENS", 10**6)
    _, one_pass = control.causal(q, k, v, x, None, None, CHUNK)
    for name in ("k_mem", "v_mem", "log_norm"):
        assert_close(state[name], one_pass[name], 1e-10)


@pytest.mark.parametrize("length", [1, 63, 100, 1000])
@pytest.mark.parametrize("scale", [4.0, 1000.0])
def test_mlp_fp32_matches_fp64_reference(length, scale):
    """fp32 stays within 1e-5 of the exact answer, also when logits saturate the clamp (scale 1000)."""
    q, k, v, x = inputs(length)
    control = mlp_control(scale=scale)
    ref = mlp_recurrent_reference(q, k, v, control.logits(x, None))
    out32, _ = control.float().causal(q.float(), k.float(), v.float(), x.float(), None, None, CHUNK)
    assert_close(out32.double(), ref, 1e-5)


@pytest.mark.parametrize("split", [1, 17, 32, 45])
def test_mlp_state_continues_exactly(split):
    """Two calls (prefix, then rest) from the carried state equal one call over the whole sequence."""
    q, k, v, x = inputs(77)
    control = mlp_control(scale=4.0)
    whole, _ = control.causal(q, k, v, x, None, None, CHUNK)
    first, state = control.causal(q[:, :, :split], k[:, :, :split], v[:, :, :split], x[:, :split], None, None, CHUNK)
    rest, _ = control.causal(q[:, :, split:], k[:, :, split:], v[:, :, split:], x[:, split:], None, state, CHUNK)
    assert_close(torch.cat([first, rest], -2), whole, 1e-10)


def test_mlp_steps_without_autograd_run_in_place_and_equal_the_autograd_steps():
    """Generation (no autograd) updates the carried memory in place; the steps are the same operations, so every
    output and the final state are bit for bit those of the steps under autograd, which leave the state alone."""
    q, k, v, x = (t.detach() for t in inputs(30))
    control = mlp_control(scale=4.0)

    def prefix_then_steps(tracked: bool):
        with torch.set_grad_enabled(tracked):
            out, state = control.causal(q[:, :, :20], k[:, :, :20], v[:, :, :20], x[:, :20], None, None, CHUNK)
            outs, memories = [out], []
            for t in range(20, 30):
                memories.append(state["k_mem"])
                out, state = control.causal(q[:, :, t:t + 1], k[:, :, t:t + 1], v[:, :, t:t + 1], x[:, t:t + 1],
                                            None, state, CHUNK)
                outs.append(out)
            return torch.cat(outs, -2), state, {m.data_ptr() for m in memories + [state["k_mem"]]}

    tracked, tracked_state, tracked_buffers = prefix_then_steps(True)
    in_place, in_place_state, in_place_buffers = prefix_then_steps(False)
    assert torch.equal(in_place, tracked) and all(torch.equal(in_place_state[n], tracked_state[n])
                                                  for n in tracked_state)
    assert len(in_place_buffers) == 1 and len(tracked_buffers) == 11


def test_restarting_the_normaliser_would_be_wrong():
    """The carried log-normaliser matters: dropping it (starting the rest from zero mass) changes the output."""
    q, k, v, x = inputs(40)
    control = mlp_control(scale=4.0)
    whole, _ = control.causal(q, k, v, x, None, None, CHUNK)
    _, state = control.causal(q[:, :, :20], k[:, :, :20], v[:, :, :20], x[:, :20], None, None, CHUNK)
    state = dict(state, log_norm=torch.full_like(state["log_norm"], -1e30))
    rest, _ = control.causal(q[:, :, 20:], k[:, :, 20:], v[:, :, 20:], x[:, 20:], None, state, CHUNK)
    assert (rest - whole[:, :, 20:]).abs().max() > 1e-3


@pytest.mark.parametrize("length", LENGTHS)
def test_linformer_chunked_equals_reference(length):
    q, k, v, x = inputs(length)
    control = LinformerControl(N, 128).double()
    out, _ = control.causal(q, k, v, x, None, None, CHUNK)
    ref = slot_attention_reference(q, k, v, linformer_phi_causal(control.weights(torch.arange(length))))
    assert_close(out, ref, 1e-10)
    params = (q, k, v, control.position_weights)
    for g_out, g_ref in zip(grads(out, *params), grads(ref, *params)):
        assert_close(g_out, g_ref, 1e-9)


@pytest.mark.parametrize("length", LENGTHS)
def test_window_chunked_equals_reference(length):
    q, k, v, x = inputs(length)
    control = WindowControl(N)
    out, _ = control.causal(q, k, v, x, None, None, CHUNK)
    phi, empty = window_phi_causal(length, N)
    ref = slot_attention_reference(q, k, v, phi.double(), empty)
    assert_close(out, ref, 1e-10)
    for g_out, g_ref in zip(grads(out, q, k, v), grads(ref, q, k, v)):
        assert_close(g_out, g_ref, 1e-9)


@pytest.mark.parametrize("control", [LinformerControl(N, 128).double(), WindowControl(N)], ids=["linformer", "window"])
def test_context_agnostic_state_continues_exactly(control):
    q, k, v, x = inputs(70)
    whole, _ = control.causal(q, k, v, x, None, None, CHUNK)
    pieces, state, start = [], None, 0
    for size in (1, 3, 33, 2, 31):
        sl = slice(start, start + size)
        out, state = control.causal(q[:, :, sl], k[:, :, sl], v[:, :, sl], x[:, sl], None, state, CHUNK)
        pieces.append(out)
        start += size
    assert_close(torch.cat(pieces, -2), whole, 1e-10)


def test_mlp_bidirectional_equals_reference_with_left_padding():
    q, k, v, x = inputs(9)
    pad = torch.zeros(B, 9, dtype=torch.bool)
    pad[0, :4] = True
    control = mlp_control(scale=3.0)
    memory = control.compress(k, v, x, pad)
    out = read_slots(q, memory["k_mem"], memory["v_mem"])
    ref = slot_attention_reference(q, k, v, mlp_phi_bidirectional(control.logits(x, pad), 9))
    assert_close(out, ref, 1e-10)
    # the padded row equals its unpadded sentence alone
    alone = control.compress(k[:1, :, 4:], v[:1, :, 4:], x[:1, 4:], None)
    assert_close(memory["k_mem"][:1], alone["k_mem"], 1e-10)
    assert_close(memory["v_mem"][:1], alone["v_mem"], 1e-10)


def test_bidirectional_is_the_causal_form_at_the_last_position():
    q, k, v, x = inputs(23)
    control = mlp_control(scale=3.0)
    causal, _ = control.causal(q, k, v, x, None, None, CHUNK)
    memory = control.compress(k, v, x, None)
    last = read_slots(q[:, :, -1:], memory["k_mem"], memory["v_mem"])
    assert_close(causal[:, :, -1:], last, 1e-10)


def test_linformer_bidirectional_is_padding_invariant():
    q, k, v, x = inputs(9)
    pad = torch.zeros(B, 9, dtype=torch.bool)
    pad[1, :3] = True
    control = LinformerControl(N, 16).double()
    memory = control.compress(k, v, x, pad)
    alone = control.compress(k[1:, :, 3:], v[1:, :, 3:], x[1:, 3:], None)
    assert_close(memory["k_mem"][1:], alone["k_mem"], 1e-10)


def test_causal_padding_contributes_nothing():
    """Left pads in the causal form: real tokens see exactly what they see without the pads, and stay finite."""
    q, k, v, x = inputs(20)
    pad = torch.zeros(B, 20, dtype=torch.bool)
    pad[0, :7] = True
    control = mlp_control(scale=30.0)
    out, _ = control.causal(q, k, v, x, pad, None, 8)
    alone, _ = control.causal(q[:1, :, 7:], k[:1, :, 7:], v[:1, :, 7:], x[:1, 7:], None, None, 8)
    assert_close(out[:1, :, 7:], alone, 1e-9)
    (gq,) = torch.autograd.grad(out[:, :, 7:].sum(), (q,))
    assert torch.isfinite(out).all() and torch.isfinite(gq).all()


def test_no_overflow_at_8k_tokens_with_large_logits():
    length = 8192
    q, k, v = (torch.randn(1, H, length, D, requires_grad=True) for _ in range(3))
    x = torch.randn(1, length, C_IN) * 50
    control = mlp_control(scale=100.0, dtype=torch.float32)  # logits far beyond any exp range before clamping
    out, state = control.causal(q, k, v, x, None, None, 64)
    grad_q, = torch.autograd.grad(out.sum(), (q,))
    assert torch.isfinite(out).all() and torch.isfinite(grad_q).all()
    assert all(torch.isfinite(t).all() for t in state.values())


def test_saturated_logits_at_8k_tokens_keep_exact_finite_gradients():
    """Control logits spread over the whole clamp range, unclamped (so they take gradients): the fp32 outputs and
    gradients of the causal form match fp64, where a prefix sum with one shift per sequence overflows."""
    length = 8192
    torch.manual_seed(0)
    logits = (torch.rand(1, length, H * N, dtype=torch.float64) * 2 - 1) * (abc.LOGIT_CLAMP - 0.5)
    x64 = torch.cat([logits, torch.zeros(1, length, C_IN - H * N, dtype=torch.float64)], -1)
    q64, k64, v64 = (torch.randn(1, H, length, D, dtype=torch.float64) for _ in range(3))
    results = {}
    for dtype in (torch.float64, torch.float32):
        control = mlp_control(dtype=dtype)
        control.proj.weight.data.copy_(torch.eye(H * N, C_IN))  # logits = x[..., :H*N]
        q, k, v, x = (t.to(dtype).requires_grad_() for t in (q64, k64, v64, x64))
        out, _ = control.causal(q, k, v, x, None, None, 64)
        results[dtype] = (out, *grads(out, q, x))
    for exact, fp32 in zip(results[torch.float64], results[torch.float32]):
        assert torch.isfinite(fp32).all()
        assert (fp32.double() - exact).abs().max() <= 1e-3 * exact.abs().max()


def test_window_right_padding_longer_than_the_window_stays_finite():
    """A padding run longer than the window leaves pad rows nothing real to attend to; they must stay finite."""
    q, k, v, x = inputs(40)
    pad = torch.zeros(B, 40, dtype=torch.bool)
    pad[0, 12:] = True
    out, _ = WindowControl(N).causal(q, k, v, x, pad, None, 16)
    alone, _ = WindowControl(N).causal(q[:1, :, :12], k[:1, :, :12], v[:1, :, :12], x[:1, :12], None, None, 16)
    assert_close(out[:1, :, :12], alone, 1e-10)
    (grad,) = torch.autograd.grad(out[:, :, :12].sum(), (q,))
    assert torch.isfinite(out).all() and torch.isfinite(grad).all()
