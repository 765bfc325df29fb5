"""Precision policy shared by the attention math: normalisers, sums and softmaxes run in at least fp32."""
import torch


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 -> fp32; fp32 and fp64 (used by gradient checks) unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
