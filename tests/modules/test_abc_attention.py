"""AbcAttention as a fairseq module: T x B x C, incremental state, beam reorder, padding, dtypes, errors."""
import pytest
import torch

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.abc_attention import AbcAttention

DIM, HEADS = 16, 4


def module(role="decoder", control="mlp", slots=6, chunk_size=8, **kw):
    return AbcAttention(DIM, HEADS, role, num_slots=slots, control=control, chunk_size=chunk_size, **kw).double().eval()


@pytest.mark.parametrize("control", ["mlp", "linformer", "window"])
@pytest.mark.parametrize("steps", [[1] * 21, [5, 3, 8, 1, 4], [21]])
def test_incremental_calls_continue_the_full_forward(control, steps):
    attn = module(control=control)
    x = torch.randn(21, 3, DIM, dtype=torch.float64)  # T x B x C
    full, _ = attn(x, x, x)
    state, outs, start = {}, [], 0
    for size in steps:
        piece = x[start : start + size]
        outs.append(attn(piece, piece, piece, incremental_state=state)[0])
        start += size
    assert (torch.cat(outs) - full).abs().max() < 1e-10


@pytest.mark.parametrize("control", ["mlp", "linformer", "window"])
def test_state_size_is_constant_in_length(control):
    attn = module(control=control)
    state, sizes = {}, []
    for t in range(40):
        x = torch.randn(1, 2, DIM, dtype=torch.float64)
        attn(x, x, x, incremental_state=state)
        sizes.append(attn.state_bytes(state))
    assert len(set(sizes)) == 1 and sizes[0] > 0


def test_beam_reorder_selects_rows_and_shrinks():
    attn = module()
    x = torch.randn(6, 3, DIM, dtype=torch.float64)
    state = {}
    attn(x[:5], x[:5], x[:5], incremental_state=state)
    order = torch.tensor([2, 2, 0])
    attn.reorder_incremental_state(state, order)
    step = attn(x[5:, order], x[5:, order], x[5:, order], incremental_state=state)[0]
    ref = attn(x[:, order], x[:, order], x[:, order])[0][5:]
    assert (step - ref).abs().max() < 1e-10
    attn.reorder_incremental_state(state, torch.tensor([1]))  # finished hypotheses leave the batch
    assert all(t.shape[0] == 1 for t in attn._get_input_buffer(state).values())


@pytest.mark.parametrize("control", ["mlp", "linformer"])
def test_encoder_left_padding_invariance(control):
    attn = module(role="encoder", control=control)
    x = torch.randn(7, 2, DIM, dtype=torch.float64)
    pad = torch.zeros(2, 7, dtype=torch.bool)
    pad[1, :3] = True
    out, _ = attn(x, x, x, key_padding_mask=pad)
    alone, _ = attn(x[3:, 1:], x[3:, 1:], x[3:, 1:])
    assert (out[3:, 1:] - alone).abs().max() < 1e-10


def test_cross_memory_is_computed_once_per_source(monkeypatch):
    attn = module(role="cross")
    source = torch.randn(11, 2, DIM, dtype=torch.float64)
    calls = []
    original = attn.compress
    monkeypatch.setattr(attn, "compress", lambda *a: calls.append(1) or original(*a))
    state = {}
    steps = [attn(torch.randn(1, 2, DIM, dtype=torch.float64), source, source, incremental_state=state, static_kv=True)
             for _ in range(5)]
    assert len(calls) == 1 and len(steps) == 5
    assert set(attn._get_input_buffer(state)) == {"k_mem", "v_mem"}


def test_cross_attention_masks_source_padding():
    attn = module(role="cross")
    query = torch.randn(4, 2, DIM, dtype=torch.float64)
    source = torch.randn(9, 2, DIM, dtype=torch.float64)
    pad = torch.zeros(2, 9, dtype=torch.bool)
    pad[0, :5] = True
    out, _ = attn(query, source, source, key_padding_mask=pad)
    alone, _ = attn(query[:, :1], source[5:, :1], source[5:, :1])
    assert (out[:, :1] - alone).abs().max() < 1e-10


def test_state_keys_do_not_collide_between_layers():
    layers = [module() for _ in range(3)]
    state = {}
    x = torch.randn(1, 2, DIM, dtype=torch.float64)
    for layer in layers:
        layer(x, x, x, incremental_state=state)
    assert len({key.split(".")[0] for key in state}) == 3


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_8k_tokens_stays_finite(dtype):
    attn = AbcAttention(DIM, HEADS, "decoder", num_slots=16, chunk_size=64)
    attn.control.proj.weight.data.mul_(200.0)  # huge control logits
    attn = attn.to(dtype)
    x = (torch.randn(8192, 1, DIM) * 10).to(dtype).requires_grad_()
    out, _ = attn(x, x, x)
    (grad,) = torch.autograd.grad(out.float().sum(), (x,))
    assert out.dtype == dtype and torch.isfinite(out).all() and torch.isfinite(grad).all()
    state = {}
    step, _ = attn(x[:3].detach(), None, None, incremental_state=state)
    assert attn._get_input_buffer(state)["log_norm"].dtype == torch.float32  # the normaliser stays fp32


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        (dict(slots=0), "num_slots must be >= 1"),
        (dict(control="bogus"), "control: unknown control 'bogus'"),
        (dict(role="encoder", control="window"), "control=window is causal only"),
        (dict(chunk_size=0), "chunk_size must be >= 1"),
        (dict(control="linformer", max_positions=0), "max_positions must be >= 1"),
        (dict(control_init_gain=0.0), "control_init_gain must be a positive number"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, parameter):
    """The module names its own parameters; the flags are named by the builders (tests/models, tests/reliability)."""
    with pytest.raises(ConfigError, match=parameter):
        module(**kwargs)


def test_heads_must_divide_the_dimension():
    with pytest.raises(ConfigError, match="num_heads=3"):
        AbcAttention(DIM, 3, "decoder", num_slots=4)


def test_linformer_rejects_sequences_beyond_its_maximum_length():
    attn = module(control="linformer", max_positions=10)
    x = torch.randn(11, 1, DIM, dtype=torch.float64)
    with pytest.raises(ConfigError, match=r"exceeds the Linformer control's maximum length 10 \(max_positions\)"):
        attn(x, x, x)


@pytest.mark.parametrize("kdim, gain", [(DIM, 2 ** -0.5), (2 * DIM, 1.0)])
def test_cross_projections_start_as_fairseq_multihead_attention(kdim, gain):
    """fairseq's rule: xavier gain 2^-1/2 for q, k, v when the source has the model's width, else 1."""
    torch.manual_seed(0)
    attn = AbcAttention(DIM, HEADS, "cross", num_slots=6, kdim=kdim)
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        bound = gain * (6 / sum(proj.weight.shape)) ** 0.5
        assert 0.9 * bound < proj.weight.abs().max() <= bound


def test_control_init_gain_scales_the_initial_slot_logits():
    torch.manual_seed(0)
    small = module(control_init_gain=0.5).control.proj.weight
    torch.manual_seed(0)
    large = module(control_init_gain=2.0).control.proj.weight
    assert torch.allclose(large, 4 * small)
