"""MemSizer: linearised attention with an unbalanced key-value memory (Zhang & Cai, EMNLP 2022).

Internal layout (every tensor in this file): batch-first, no head axis (the heads are averaged before any read).
    slot_probs   [B, T, k]   query side: mean over heads of a softmax over the k learned key slots (A-bar)
    keys         [B, T, k]   LN(x W_l): how much each token writes into each slot (K~)
    values       [B, T, C]   LN(x W_r): what each token writes (V~)
    memory       [B, k, C]   the value memory S
    pad_mask     [B, T]      True at padding
    count        [B]         long, real tokens summed into a causal state

Bidirectional (encoder self-attention, cross-attention), M = real tokens of the source:
    S = K~^T V~ / sqrt(M),   o_i = a_i S.
Causal (decoder self-attention), t = real tokens seen up to and including position t:
    S_t = sum_{j<=t} k~_j (x) v~_j,   o_t = a_t S_t / sqrt(t).
The causal form runs chunk by chunk from a carried state {sum [B,k,C], count [B]}, so training on whole sequences
and decoding token by token share one code path. Per chunk it needs a [c, c] score block and one [k, C] partial sum,
so memory is linear in length (no [T, k, C] tensor of outer products). Pads contribute nothing on either side:
their keys are zeroed and they are not counted, so left padding does not shift t for the real tokens.
Sums are kept in fp32 (fp64 stays fp64) whatever the model's dtype; plain references live in
``memsizer_reference.py``.

Per-head read (an option, not in the paper): slot_probs [B,T,H,k] are not averaged; head h reads the columns
h*D:(h+1)*D of the same memory S with its own distribution. That is H single-head problems sharing the keys, so
``read_per_head`` and ``causal_per_head`` fold the heads into the batch ([B*H,...], row b*H + h) and reuse the forms
above; the state stays {sum [B,k,C], count [B]}.
"""
from typing import Callable, Dict, Optional, Tuple

import torch

from .ops import at_least_fp32, chunks, exclusive_cumsum

State = Dict[str, torch.Tensor]
Dropout = Callable[[torch.Tensor], torch.Tensor]


def slot_distribution(logits: torch.Tensor, num_heads: int, dropout: Optional[Dropout] = None,
                      per_head: bool = False) -> torch.Tensor:
    """logits [B,T,H*k] -> slot_probs [B,T,k]: a softmax over the k slots per head, averaged over the H heads
    (``per_head``: [B,T,H,k], not averaged).

    Averaging before the read makes H heads cost one read-out ("as light as a single-head model").
    """
    batch, length, _ = logits.shape
    probs = torch.softmax(at_least_fp32(logits).view(batch, length, num_heads, -1), dim=-1)  # [B,T,H,k]
    if dropout is not None:
        probs = dropout(probs)
    return probs if per_head else probs.mean(dim=2)


def _real(pad_mask: Optional[torch.Tensor], keys: torch.Tensor) -> torch.Tensor:
    """[B,T] long: 1 at real tokens, 0 at padding."""
    if pad_mask is None:
        return torch.ones(keys.shape[:2], dtype=torch.long, device=keys.device)
    return (~pad_mask).long()


def _zero_pads(keys: torch.Tensor, pad_mask: Optional[torch.Tensor]) -> torch.Tensor:
    return keys if pad_mask is None else keys.masked_fill(pad_mask.unsqueeze(-1), 0.0)


def _inverse_sqrt(count: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """count (long, any shape) -> 1/sqrt(count) in ``like``'s dtype; an empty memory (count 0) reads as zeros anyway."""
    return count.clamp(min=1).to(like.dtype).rsqrt()


def compress(keys: torch.Tensor, values: torch.Tensor, pad_mask: Optional[torch.Tensor]) -> torch.Tensor:
    """keys [B,S,k], values [B,S,C] -> memory S = K~^T V~ / sqrt(M) [B,k,C], M the real length of each row."""
    memory = _zero_pads(keys, pad_mask).transpose(1, 2) @ values  # [B,k,C]
    return memory * _inverse_sqrt(_real(pad_mask, keys).sum(1), memory)[:, None, None]


def read(slot_probs: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """slot_probs [B,T,k], memory [B,k,C] -> [B,T,C]."""
    return slot_probs @ memory


def empty_state(keys: torch.Tensor, values: torch.Tensor) -> State:
    batch, _, num_slots = keys.shape
    return {
        "sum": values.new_zeros(batch, num_slots, values.shape[-1]),
        "count": torch.zeros(batch, dtype=torch.long, device=keys.device),
    }


def causal(
    slot_probs: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    pad_mask: Optional[torch.Tensor],
    state: Optional[State],
    chunk_size: int,
) -> Tuple[torch.Tensor, State]:
    """Causal MemSizer from ``state`` ({sum [B,k,C] un-normalised, count [B]}; None = nothing seen yet).

    slot_probs, keys [B,T,k]; values [B,T,C] -> (out [B,T,C], state after the T tokens).
    """
    if state is None:
        state = empty_state(keys, values)
    keys = _zero_pads(keys, pad_mask)
    if keys.shape[1] == 1:
        return _step(slot_probs, keys, values, pad_mask, state)
    seen = state["count"][:, None] + _real(pad_mask, keys).cumsum(1)  # [B,T], real tokens up to and including t
    scale = _inverse_sqrt(seen, values).unsqueeze(-1)  # [B,T,1]
    length = keys.shape[1]
    size = min(chunk_size, length)
    probs_c, keys_c, values_c = chunks(slot_probs, size), chunks(keys, size), chunks(values, size)  # [B,K,c,*]
    added = keys_c.transpose(-1, -2) @ values_c  # [B,K,k,C], what each chunk writes
    start = state["sum"].unsqueeze(1) + exclusive_cumsum(added, dim=1)  # [B,K,k,C], the sum before each chunk
    weights = torch.tril(probs_c @ keys_c.transpose(-1, -2))  # [B,K,c,c], a_t . k~_j for j <= t
    out = weights @ values_c + probs_c @ start  # [B,K,c,C]
    out = out.flatten(1, 2)[:, :length] * scale  # [B,T,C]
    return out, {"sum": start[:, -1] + added[:, -1], "count": seen[:, -1]}


def _step(slot_probs, keys, values, pad_mask, state: State) -> Tuple[torch.Tensor, State]:
    """One decoding step: add k~ (x) v~ to the sum, count the token, read. slot_probs, keys (pads zeroed) [B,1,k];
    values [B,1,C]. Without autograd (generation) the state is updated in place, so a step allocates no [B,k,C]
    tensor: the state passed in is consumed."""
    real = 1 if pad_mask is None else (~pad_mask[:, 0]).long()  # [B] or 1
    if torch.is_grad_enabled():
        total = torch.baddbmm(state["sum"], keys.transpose(1, 2), values)  # [B,k,1] @ [B,1,C] -> [B,k,C]
        count = state["count"] + real
    else:  # the same operations, in place
        total = state["sum"].baddbmm_(keys.transpose(1, 2), values)
        count = state["count"].add_(real)
    return (slot_probs @ total) * _inverse_sqrt(count, values)[:, None, None], {"sum": total, "count": count}


def _heads_in_batch(columns: torch.Tensor, heads: int) -> torch.Tensor:
    """[B,X,C] -> [B*H,X,D]: head h's columns as row b*H + h (the memory [B,k,C], the values [B,T,C])."""
    return columns.unflatten(-1, (heads, -1)).transpose(1, 2).flatten(0, 1)


def _probs_in_batch(slot_probs: torch.Tensor) -> torch.Tensor:
    """[B,T,H,k] -> [B*H,T,k], rows ordered as in ``_heads_in_batch``."""
    return slot_probs.transpose(1, 2).flatten(0, 1)


def _heads_out_of_batch(per_head: torch.Tensor, heads: int) -> torch.Tensor:
    """[B*H,X,D] -> [B,X,C], the inverse of ``_heads_in_batch``."""
    return per_head.unflatten(0, (-1, heads)).transpose(1, 2).flatten(2)


def read_per_head(slot_probs: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
    """slot_probs [B,T,H,k], memory [B,k,C] -> [B,T,C]."""
    heads = slot_probs.shape[2]
    return _heads_out_of_batch(read(_probs_in_batch(slot_probs), _heads_in_batch(memory, heads)), heads)


def causal_per_head(
    slot_probs: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    pad_mask: Optional[torch.Tensor],
    state: Optional[State],
    chunk_size: int,
) -> Tuple[torch.Tensor, State]:
    """``causal`` with a per-head read: slot_probs [B,T,H,k], keys [B,T,k], values [B,T,C] -> (out [B,T,C], state)."""
    heads = slot_probs.shape[2]
    probs = _probs_in_batch(slot_probs)  # [B*H,T,k]
    keys = keys.repeat_interleave(heads, dim=0)  # [B*H,T,k]
    values = _heads_in_batch(values, heads)  # [B*H,T,D]
    pad_mask = None if pad_mask is None else pad_mask.repeat_interleave(heads, dim=0)  # [B*H,T]
    if state is not None:
        state = {"sum": _heads_in_batch(state["sum"], heads), "count": state["count"].repeat_interleave(heads)}
    out, state = causal(probs, keys, values, pad_mask, state, chunk_size)  # [B*H,T,D]
    return _heads_out_of_batch(out, heads), {"sum": _heads_out_of_batch(state["sum"], heads),
                                             "count": state["count"].view(-1, heads)[:, 0]}
