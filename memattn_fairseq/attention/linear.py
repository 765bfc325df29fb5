"""Linear attention (Katharopoulos et al., ICML 2020, "Transformers are RNNs").

Internal layout (every tensor in this file): batch-first, heads second.
    q, k, v        [B, H, T, D]   q and k already through the feature map phi(x) = elu(x) + 1 (positive)
    kv             [B, H, D, D]   the memory S = sum_j phi(k_j) (x) v_j
    k_sum          [B, H, D]      the normaliser z = sum_j phi(k_j)
    pad_mask       [B, T]         True at padding

    o_t = phi(q_t) S_t / (phi(q_t) . z_t + EPS)
Bidirectional (encoder self-attention, cross-attention): S and z sum over the whole source. Causal: S_t and z_t sum
over j <= t, chunk by chunk from a carried state {kv, k_sum}, so one code path trains on whole sequences and decodes
token by token with a state of D x D per head, whatever the length. Pads write nothing (their keys are zeroed).
The plain quadratic reference for the tests lives in ``linear_reference.py``.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from .ops import chunks, exclusive_cumsum, unchunk

State = Dict[str, torch.Tensor]
EPS = 1e-6  # keeps a row that has seen only padding finite (it reads zeros)


def feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


def _zero_pads(k: torch.Tensor, pad_mask: Optional[torch.Tensor]) -> torch.Tensor:
    return k if pad_mask is None else k.masked_fill(pad_mask[:, None, :, None], 0.0)


def compress(k: torch.Tensor, v: torch.Tensor, pad_mask: Optional[torch.Tensor]) -> State:
    """k, v [B,H,S,D] -> {kv [B,H,D,D], k_sum [B,H,D]} over the real tokens."""
    k = _zero_pads(k, pad_mask)
    return {"kv": k.transpose(-1, -2) @ v, "k_sum": k.sum(-2)}


def read(q: torch.Tensor, memory: State) -> torch.Tensor:
    """q [B,H,T,D] -> [B,H,T,D]."""
    numerator = q @ memory["kv"]  # [B,H,T,D]
    denominator = q @ memory["k_sum"].unsqueeze(-1)  # [B,H,T,1]
    return numerator / (denominator + EPS)


def causal(q, k, v, pad_mask: Optional[torch.Tensor], state: Optional[State], chunk_size: int
           ) -> Tuple[torch.Tensor, State]:
    """q, k, v [B,H,T,D] -> (out [B,H,T,D], state after the T tokens); ``state`` None = nothing seen yet."""
    batch, heads, length, dim = q.shape
    if state is None:
        state = {"kv": q.new_zeros(batch, heads, dim, dim), "k_sum": q.new_zeros(batch, heads, dim)}
    k = _zero_pads(k, pad_mask)
    if length == 1:  # decoding step: add phi(k) (x) v, then read
        memory = {"kv": state["kv"] + k.transpose(-1, -2) @ v, "k_sum": state["k_sum"] + k[:, :, 0]}
        return read(q, memory), memory
    size = min(chunk_size, length)
    qc, kc, vc = (chunks(t, size) for t in (q, k, v))  # [B,H,K,C,D]
    kv_added = kc.transpose(-1, -2) @ vc  # [B,H,K,D,D], what each chunk writes
    k_added = kc.sum(-2)  # [B,H,K,D]
    kv_start = state["kv"].unsqueeze(2) + exclusive_cumsum(kv_added, dim=2)  # [B,H,K,D,D], before each chunk
    k_start = state["k_sum"].unsqueeze(2) + exclusive_cumsum(k_added, dim=2)  # [B,H,K,D]
    scores = torch.tril(qc @ kc.transpose(-1, -2))  # [B,H,K,C,C], phi(q_t) . phi(k_j), j <= t
    numerator = scores @ vc + qc @ kv_start  # [B,H,K,C,D]
    denominator = scores.sum(-1, keepdim=True) + qc @ k_start.unsqueeze(-1)  # [B,H,K,C,1]
    out = unchunk(numerator / (denominator + EPS), length)  # [B,H,T,D]
    return out, {"kv": kv_start[:, :, -1] + kv_added[:, :, -1], "k_sum": k_start[:, :, -1] + k_added[:, :, -1]}
