"""MemSizerAttention as a fairseq module: the layer against a per-head reference, T x B x C, incremental state,
beam reorder, padding on either side, cross memory cached once, dtypes, init, parameter counts, errors."""
import math

import pytest
import torch

from memattn_fairseq.attention.memsizer_reference import memsizer_reference
from memattn_fairseq.errors import ConfigError
from memattn_fairseq.modules.memsizer_attention import MemSizerAttention

DIM, HEADS = 16, 4


def module(role="decoder", slots=6, chunk_size=8, dtype=torch.float64, **kw):
    return MemSizerAttention(DIM, HEADS, role, num_slots=slots, chunk_size=chunk_size, **kw).to(dtype).eval()


def randomise(attn):
    """Non-trivial LayerNorm affines and biases, so the reference checks every parameter."""
    with torch.no_grad():
        for name, p in attn.named_parameters():
            if not name.endswith("proj.weight"):
                p.add_(torch.randn_like(p) * 0.3)
    return attn


def params(attn):
    return dict(attn.named_parameters())


def padding(length, batch=3):
    pad = torch.zeros(batch, length, dtype=torch.bool)
    pad[0, : length // 3] = True  # left-padded
    pad[2, length - length // 4 :] = True  # right-padded
    return pad


def assert_rows_match_alone(attn, x, pad, source=None):
    """Every padded row equals its sentence run alone (self roles: the real tokens of x; cross: of the source)."""
    out, _ = attn(x, source if source is not None else x, None, key_padding_mask=pad)
    for row in range(x.shape[1]):
        real = ~pad[row]
        if source is None:
            alone, _ = attn(x[real, row : row + 1], None, None)
            assert (out[real, row] - alone[:, 0]).abs().max() < 1e-10
        else:
            alone, _ = attn(x[:, row : row + 1], source[real, row : row + 1], None)
            assert (out[:, row] - alone[:, 0]).abs().max() < 1e-10


@pytest.mark.parametrize("role", ["encoder", "decoder", "cross"])
def test_module_equals_per_head_reference(role):
    attn = randomise(module(role=role, kdim=12 if role == "cross" else None))
    x = torch.randn(10, 3, DIM, dtype=torch.float64)
    source = torch.randn(7, 3, 12, dtype=torch.float64) if role == "cross" else x
    x.requires_grad_()
    pad = padding(source.shape[0])
    out, weights = attn(x, source, source, key_padding_mask=pad)
    ref = memsizer_reference(x.transpose(0, 1), source.transpose(0, 1), params(attn), HEADS,
                             causal=role == "decoder", pad_mask=pad).transpose(0, 1)
    assert weights is None and out.shape == x.shape
    assert (out - ref).abs().max() < 1e-10
    inputs = (x, *attn.parameters())
    grads = torch.autograd.grad(out.pow(2).sum(), inputs)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), inputs)
    assert max((g - r).abs().max().item() for g, r in zip(grads, ref_grads)) < 1e-9


@pytest.mark.parametrize("role", ["encoder", "decoder", "cross"])
def test_output_projection_follows_the_reference_read(role):
    attn = randomise(module(role=role, kdim=12 if role == "cross" else None, output_projection=True))
    assert "out_proj" in attn.softmax_parameters and "out_proj" not in MemSizerAttention.softmax_parameters
    x = torch.randn(11, 2, DIM, dtype=torch.float64, requires_grad=True)
    source = torch.randn(7, 2, 12, dtype=torch.float64) if role == "cross" else x
    out, _ = attn(x, source, source)
    read = memsizer_reference(x.transpose(0, 1), source.transpose(0, 1), params(attn), HEADS,
                              causal=role == "decoder").transpose(0, 1)
    ref = torch.nn.functional.linear(read, attn.out_proj.weight, attn.out_proj.bias)
    assert (out - ref).abs().max() < 1e-10
    inputs = (x, *attn.parameters())
    grads = torch.autograd.grad(out.pow(2).sum(), inputs)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), inputs, allow_unused=True)
    assert max((g - r).abs().max().item() for g, r in zip(grads, ref_grads)) < 1e-9
    if role == "decoder":
        state, outs = {}, []
        for piece in x.detach().split([4, 1, 6]):
            outs.append(attn(piece, piece, piece, incremental_state=state)[0])
        assert (torch.cat(outs) - out).abs().max() < 1e-10


@pytest.mark.parametrize("role", ["encoder", "decoder", "cross"])
def test_per_head_read_equals_its_reference(role):
    """Each head reads its own value columns with its own slot distribution: outputs and gradients against the
    reference's loop over heads, with padding, across chunk boundaries (21 tokens, chunks of 8)."""
    attn = randomise(module(role=role, kdim=12 if role == "cross" else None, per_head_read=True))
    x = torch.randn(21, 3, DIM, dtype=torch.float64, requires_grad=True)
    source = torch.randn(9, 3, 12, dtype=torch.float64) if role == "cross" else x
    pad = padding(source.shape[0])
    out, _ = attn(x, source, source, key_padding_mask=pad)
    ref = memsizer_reference(x.transpose(0, 1), source.transpose(0, 1), params(attn), HEADS,
                             causal=role == "decoder", pad_mask=pad, per_head=True).transpose(0, 1)
    averaged = memsizer_reference(x.transpose(0, 1), source.transpose(0, 1), params(attn), HEADS,
                                  causal=role == "decoder", pad_mask=pad).transpose(0, 1)
    assert (out - ref).abs().max() < 1e-10 and (out - averaged).abs().max() > 1e-3  # a different read
    inputs = (x, *attn.parameters())
    grads = torch.autograd.grad(out.pow(2).sum(), inputs)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), inputs)
    assert max((g - r).abs().max().item() for g, r in zip(grads, ref_grads)) < 1e-9
    if role == "decoder":  # decoding continues the full forward from the same [B,k,C] state
        state, outs = {}, []
        for piece in x.detach().split([5, 1, 8, 7]):
            outs.append(attn(piece, piece, piece, incremental_state=state)[0])
        assert (torch.cat(outs) - attn(x.detach(), x.detach(), x.detach())[0]).abs().max() < 1e-10
        assert attn._get_input_buffer(state)["sum"].shape == (3, 6, DIM)


@pytest.mark.parametrize("steps", [[1] * 21, [5, 3, 8, 1, 4], [21]])
def test_incremental_calls_continue_the_full_forward(steps):
    attn = randomise(module())
    x = torch.randn(21, 3, DIM, dtype=torch.float64)  # T x B x C
    full, _ = attn(x, x, x)
    state, outs, start = {}, [], 0
    for size in steps:
        piece = x[start : start + size]
        outs.append(attn(piece, piece, piece, incremental_state=state)[0])
        start += size
    assert (torch.cat(outs) - full).abs().max() < 1e-10


def test_fp32_decoding_matches_the_full_forward_to_1e5():
    attn = module(dtype=torch.float32, slots=32, chunk_size=64)
    x = torch.randn(300, 2, DIM)
    full, _ = attn(x, x, x)
    state = {}
    steps = torch.cat([attn(x[t : t + 1], None, None, incremental_state=state)[0] for t in range(300)])
    assert (steps - full).abs().max() < 1e-5


def test_state_size_is_constant_in_length_and_kept_in_fp32():
    attn = module(dtype=torch.float32)
    state, sizes = {}, []
    for _ in range(40):
        x = torch.randn(1, 2, DIM)
        attn(x, x, x, incremental_state=state)
        sizes.append(attn.state_bytes(state))
    buffer = attn._get_input_buffer(state)
    assert len(set(sizes)) == 1 and set(buffer) == {"sum", "count"}
    assert buffer["sum"].shape == (2, 6, DIM) and buffer["count"].tolist() == [40, 40]


def test_beam_reorder_selects_rows_and_shrinks():
    attn = randomise(module())
    x = torch.randn(6, 3, DIM, dtype=torch.float64)
    state = {}
    attn(x[:5], x[:5], x[:5], incremental_state=state)
    order = torch.tensor([2, 2, 0])
    attn.reorder_incremental_state(state, order)
    step = attn(x[5:, order], None, None, incremental_state=state)[0]
    ref = attn(x[:, order], None, None)[0][5:]
    assert (step - ref).abs().max() < 1e-10
    attn.reorder_incremental_state(state, torch.tensor([1]))  # finished hypotheses leave the batch
    assert all(t.shape[0] == 1 for t in attn._get_input_buffer(state).values())


@pytest.mark.parametrize("role", ["encoder", "decoder"])
def test_self_attention_padding_invariance_left_and_right(role):
    attn = randomise(module(role=role))
    x = torch.randn(12, 3, DIM, dtype=torch.float64)
    assert_rows_match_alone(attn, x, padding(12))


def test_cross_attention_padding_invariance_left_and_right():
    attn = randomise(module(role="cross"))
    query = torch.randn(4, 3, DIM, dtype=torch.float64)
    source = torch.randn(9, 3, DIM, dtype=torch.float64)
    assert_rows_match_alone(attn, query, padding(9), source)


def test_cross_memory_is_computed_once_and_its_size_ignores_the_source_length(monkeypatch):
    attn = module(role="cross")
    calls = []
    original = attn.compress
    monkeypatch.setattr(attn, "compress", lambda *a: calls.append(1) or original(*a))
    sizes = []
    for source_length in (5, 500):
        source = torch.randn(source_length, 2, DIM, dtype=torch.float64)
        state = {}
        for _ in range(4):
            attn(torch.randn(1, 2, DIM, dtype=torch.float64), source, source, incremental_state=state, static_kv=True)
        sizes.append(attn.state_bytes(state))
        assert set(attn._get_input_buffer(state)) == {"memory"}
    assert len(calls) == 2 and sizes[0] == sizes[1]


def test_state_keys_do_not_collide_between_layers():
    layers = [module() for _ in range(3)]
    state = {}
    x = torch.randn(1, 2, DIM, dtype=torch.float64)
    for layer in layers:
        layer(x, x, x, incremental_state=state)
    assert len({key.split(".")[0] for key in state}) == 3


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_8k_tokens_stays_finite(dtype):
    attn = MemSizerAttention(DIM, HEADS, "decoder", num_slots=16, chunk_size=64, q_init_scale=0.01).to(dtype)
    x = (torch.randn(8192, 1, DIM) * 10).to(dtype).requires_grad_()
    out, _ = attn(x, x, x)
    (grad,) = torch.autograd.grad(out.float().sum(), (x,))
    assert out.dtype == dtype and torch.isfinite(out).all() and torch.isfinite(grad).all()
    state = {}
    attn(x[:3000].detach(), None, None, incremental_state=state)
    step, _ = attn(x[3000:3001].detach(), None, None, incremental_state=state)
    buffer = attn._get_input_buffer(state)
    assert buffer["sum"].dtype == torch.float32 and buffer["count"].item() == 3001  # no fp16 counter stall at 2048
    assert (step.float() - out[3000:3001].detach().float()).abs().max() < 0.05 * out.detach().float().abs().max()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("role", ["encoder", "cross"])
def test_half_precision_8k_token_source_stays_finite(dtype, role):
    attn = MemSizerAttention(DIM, HEADS, role, num_slots=16, q_init_scale=0.01).to(dtype)
    source = (torch.randn(8192, 1, DIM) * 10).to(dtype).requires_grad_()
    query = source if role == "encoder" else (torch.randn(5, 1, DIM) * 10).to(dtype)
    out, _ = attn(query, source, source)
    (grad,) = torch.autograd.grad(out.float().sum(), (source,))
    assert out.dtype == dtype and torch.isfinite(out).all() and torch.isfinite(grad).all()
    if role == "cross":
        state = {}
        attn(query[:1].detach(), source.detach(), source.detach(), incremental_state=state)
        assert attn._get_input_buffer(state)["memory"].dtype == torch.float32  # the cached memory stays fp32


def test_parameters_keep_the_official_names_and_init():
    attn = MemSizerAttention(64, 4, "decoder", num_slots=8, q_init_scale=32.0, kv_init_scale=2.0)
    names = {name for name, _ in attn.named_parameters()}
    assert names == {f"{m}.{p}" for m in ("q_proj", "k_proj", "v_proj", "k_layer_norm", "v_layer_norm")
                     for p in ("weight", "bias")}
    assert attn.num_heads == 4 and attn.head_dim == 16  # read by fairseq's decoder layer
    bound = lambda w, scale: scale ** -0.5 * math.sqrt(6.0 / (w.shape[0] + w.shape[1]))  # xavier_uniform
    assert attn.q_proj.weight.abs().max() <= bound(attn.q_proj.weight, 32.0)
    assert attn.q_proj.weight.abs().max() > 0.8 * bound(attn.q_proj.weight, 32.0)
    assert attn.v_proj.weight.abs().max() <= bound(attn.v_proj.weight, 2.0)
    assert all((getattr(attn, m).bias == 0).all() for m in ("q_proj", "k_proj", "v_proj"))


def test_parameter_counts_of_the_official_translation_decoder():
    """Transformer-big decoder: causal k=4 ~ 1.12M, cross k=32 ~ 1.61M parameters (no output projection)."""
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert count(MemSizerAttention(1024, 16, "decoder", num_slots=4)) == 1_121_356
    assert count(MemSizerAttention(1024, 16, "cross", num_slots=32)) == 1_609_312


def test_attention_dropout_applies_only_in_training():
    attn = module(dropout=0.5)
    x = torch.randn(9, 2, DIM, dtype=torch.float64)
    assert torch.equal(attn(x, x, x)[0], attn(x, x, x)[0])
    attn.train()
    assert not torch.equal(attn(x, x, x)[0], attn(x, x, x)[0])


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        (dict(slots=0), "num_slots must be an integer >= 1"),
        (dict(slots=-3), "num_slots must be an integer >= 1, got -3"),
        (dict(q_init_scale=0.0), "q_init_scale must be a positive number"),
        (dict(q_init_scale=float("nan")), "q_init_scale must be a positive number"),
        (dict(kv_init_scale=-1.0), "kv_init_scale must be a positive number"),
        (dict(chunk_size=0), "chunk_size must be >= 1"),
        (dict(role="bogus"), "unknown attention role"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs, parameter):
    """The module names its own parameters; the flags are named by the builders (tests/models)."""
    with pytest.raises(ConfigError, match=parameter):
        module(**kwargs)


def test_heads_must_divide_the_dimension():
    with pytest.raises(ConfigError, match="num_heads=3"):
        MemSizerAttention(DIM, 3, "decoder", num_slots=4)
