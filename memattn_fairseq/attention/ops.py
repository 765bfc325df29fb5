"""Operations shared by the attention math: the precision policy and the chunking of the causal training forms.

Chunking works on the time axis, which is the second-to-last axis of every tensor it is given:
[..., T, X] -> [..., K, C, X] with K = ceil(T / C) chunks of C rows.
"""
import torch
import torch.nn.functional as F


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 -> fp32; fp32 and fp64 (used by gradient checks) unchanged: normalisers, sums and softmaxes run in
    at least fp32 whatever the model's dtype."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def chunks(t: torch.Tensor, size: int, fill: float = 0.0) -> torch.Tensor:
    """[..., T, X] -> [..., K, C, X], padded at the end with ``fill`` rows."""
    extra = -t.shape[-2] % size
    if extra:
        t = F.pad(t, (0, 0, 0, extra), value=fill)
    return t.unflatten(-2, (-1, size))


def unchunk(t: torch.Tensor, length: int) -> torch.Tensor:
    """[..., K, C, X] -> [..., T, X], dropping the end padding."""
    return t.flatten(-3, -2)[..., :length, :]


def exclusive_cumsum(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sum over the chunks before each chunk: [x0, x1, x2] -> [0, x0, x0 + x1] along ``dim``.
    (Not cumsum - x: later chunks can be e^60 times larger than earlier ones, and the difference would cancel.)"""
    shifted = torch.cat([torch.zeros_like(t.narrow(dim, 0, 1)), t.narrow(dim, 0, t.shape[dim] - 1)], dim)
    return torch.cumsum(shifted, dim)
