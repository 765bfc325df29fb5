"""ABC: attention with bounded-memory control (Peng et al., ACL 2022).

Internal layout (every tensor in this file): batch-first, heads second.
    q, k, v          [B, H, T, D]   (q already scaled by D^-1/2)
    slot logits      [B, H, T, N]   N = number of memory slots
    k_mem, v_mem     [B, H, N, D]   the compressed memory K~, V~
    pad_mask         [B, T]         True at padding

A control decides how each token is written into the N slots:
    K~_t = sum_{i<=t} phi_i^(t) (x) k_i,  V~_t likewise,  o_t = softmax(q_t K~_t^T) V~_t.
Three controls are implemented, each with a bidirectional form (encoder self-attention, cross-attention) and a
causal form that runs chunk by chunk from a carried state, so the same code trains on whole sequences and decodes
one token at a time. Quadratic references for the tests live in ``reference.py``.

- ``mlp`` (ABC_MLP): phi_i = exp(W_phi x_i) normalised over the positions written so far, per slot; every slot
  is a weighted average of tokens. The log-normaliser is carried in fp32 and logits are clamped to
  +-LOGIT_CLAMP, so every exponent below stays in the fp32 range for any input.
- ``linformer``: phi_i = E[:, i], a learned column per absolute position (unnormalised, causal via prefix sums,
  so lengths are limited to ``max_positions``).
- ``window``: first-in-first-out slots holding the last N tokens (sliding-window attention); causal only.
"""
import math
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import check

State = Dict[str, torch.Tensor]
Dropout = Callable[[torch.Tensor], torch.Tensor]

LOGIT_CLAMP = 30.0
PAD_LOGIT = -1.0e4  # exp(PAD_LOGIT - anything real) == 0 in fp32, without the inf - inf of a -inf fill
NO_MASS = -1.0e30  # log-normaliser before the first token


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 -> fp32; fp32 and fp64 (used by gradient checks) unchanged."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def read_slots(q, k_mem, v_mem, slot_mask=None, dropout: Optional[Dropout] = None):
    """Softmax over N slots. q [B,H,T,D], k_mem/v_mem [B,H,N,D], slot_mask [B,1|H,1|T,N] True = empty."""
    logits = q @ k_mem.transpose(-1, -2)  # [B,H,T,N]
    if slot_mask is not None:
        logits = logits.masked_fill(slot_mask, float("-inf"))
    probs = torch.softmax(at_least_fp32(logits), dim=-1).type_as(v_mem)
    if dropout is not None:
        probs = dropout(probs)
    return probs @ v_mem  # [B,H,T,D]


def _causal_chunk(q, k, v, write, k_mem, v_mem, rescale=None, decay=None, carry=None, dropout=None):
    """One chunk of C tokens of the causal form, in matmuls only (no [C, C, N] or [T, N, D] tensor).

    The memory seen by row t of the chunk is
        K~_t[m] = decay[t,m] * k_mem[m] + rescale[t,m] * sum_{i<=t in chunk} write[i,m] * k_i
    (decay, rescale default to 1) and the memory after the chunk is carry * k_mem + write^T k.
    Shapes: q, k, v [B,H,C,D]; write, rescale, decay [B,H,C,N] or [C,N]; carry [B,H,N]; k_mem, v_mem [B,H,N,D].
    """
    size = q.shape[-2]
    future = torch.ones(size, size, dtype=torch.bool, device=q.device).triu_(1)
    scores = (q @ k.transpose(-1, -2)).masked_fill(future, 0.0)  # [B,H,C,C]
    logits = scores @ write  # [B,H,C,N]
    if rescale is not None:
        logits = logits * rescale
    memory_logits = q @ k_mem.transpose(-1, -2)  # [B,H,C,N]
    if decay is not None:
        memory_logits = memory_logits * decay
    probs = torch.softmax(logits + memory_logits, dim=-1)
    if dropout is not None:
        probs = dropout(probs)
    intra = probs * rescale if rescale is not None else probs
    mixing = (intra @ write.transpose(-1, -2)).masked_fill(future, 0.0)  # [B,H,C,C]
    from_memory = probs * decay if decay is not None else probs
    out = mixing @ v + from_memory @ v_mem  # [B,H,C,D]
    if carry is not None:
        k_mem, v_mem = carry.unsqueeze(-1) * k_mem, carry.unsqueeze(-1) * v_mem
    write_t = write.transpose(-1, -2)  # [B,H,N,C] or [N,C]
    return out, k_mem + write_t @ k, v_mem + write_t @ v


def _empty_memory(q, num_slots):
    batch, heads, _, dim = q.shape
    return q.new_zeros(batch, heads, num_slots, dim), q.new_zeros(batch, heads, num_slots, dim)


class MlpControl(nn.Module):
    """ABC_MLP: slot logits W_phi x per head, normalised over positions (a learned, contextual control)."""

    name = "mlp"

    def __init__(self, input_dim: int, num_heads: int, num_slots: int):
        super().__init__()
        self.num_heads, self.num_slots = num_heads, num_slots
        self.proj = nn.Linear(input_dim, num_heads * num_slots, bias=False)
        nn.init.xavier_uniform_(self.proj.weight, gain=2 ** -0.5)

    def logits(self, x: torch.Tensor, pad_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """x [B,T,C] -> fp32 logits [B,H,T,N], clamped, PAD_LOGIT at padding."""
        batch, length, _ = x.shape
        logits = at_least_fp32(self.proj(x)).view(batch, length, self.num_heads, self.num_slots).transpose(1, 2)
        logits = logits.clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
        if pad_mask is not None:
            logits = logits.masked_fill(pad_mask[:, None, :, None], PAD_LOGIT)
        return logits

    def compress(self, k, v, x, pad_mask):
        """Bidirectional memory: each slot is a softmax-over-positions average of the tokens."""
        weights = torch.softmax(self.logits(x, pad_mask), dim=-2)  # [B,H,S,N], normalised over S
        weights_t = weights.transpose(-1, -2)  # [B,H,N,S]
        return {"k_mem": weights_t @ k, "v_mem": weights_t @ v}

    def causal(self, q, k, v, x, pad_mask, state: Optional[State], chunk_size: int, dropout=None):
        """Causal form from ``state`` (k_mem, v_mem normalised; log_norm [B,H,N] = log sum exp of logits so far)."""
        logits = self.logits(x, pad_mask)
        if state is None:
            k_mem, v_mem = _empty_memory(q, self.num_slots)
            log_norm = q.new_full(logits.shape[:2] + (self.num_slots,), NO_MASS)
        else:
            k_mem, v_mem, log_norm = state["k_mem"], state["v_mem"], state["log_norm"]
        if q.shape[-2] == 1:
            return self._step(q, k, v, logits[:, :, 0], k_mem, v_mem, log_norm, dropout)
        # Rows of a chunk are rescaled by exp(z_end - z_t); for real tokens the exponent is at most
        # 2 * LOGIT_CLAMP + log(chunk + 1). The cap only binds on padding rows, keeping them finite.
        exponent_cap = 2 * LOGIT_CLAMP + math.log(chunk_size + 1) + 1.0
        outs = []
        for start in range(0, q.shape[-2], chunk_size):
            chunk = slice(start, start + chunk_size)
            s = logits[:, :, chunk]  # [B,H,C,N]
            z = torch.logaddexp(log_norm.unsqueeze(-2), torch.logcumsumexp(s, dim=-2))  # log Z_t, [B,H,C,N]
            z_end = z[:, :, -1]  # [B,H,N]
            write = torch.exp(s - z_end.unsqueeze(-2))  # <= 1
            rescale = torch.exp((z_end.unsqueeze(-2) - z).clamp(max=exponent_cap))  # >= 1
            decay = torch.exp(log_norm.unsqueeze(-2) - z)  # <= 1
            carry = torch.exp(log_norm - z_end)  # <= 1
            out, k_mem, v_mem = _causal_chunk(
                q[:, :, chunk], k[:, :, chunk], v[:, :, chunk], write, k_mem, v_mem, rescale, decay, carry, dropout
            )
            outs.append(out)
            log_norm = z_end
        return torch.cat(outs, dim=-2), {"k_mem": k_mem, "v_mem": v_mem, "log_norm": log_norm}


    @staticmethod
    def _step(q, k, v, logits, k_mem, v_mem, log_norm, dropout):
        """One decoding step of the recurrence (the chunked form with C = 1, without its masks).

        q, k, v [B,H,1,D]; logits, log_norm [B,H,N]; k_mem, v_mem [B,H,N,D].
        """
        new_norm = torch.logaddexp(log_norm, logits)
        decay = torch.exp(log_norm - new_norm).unsqueeze(-1)  # [B,H,N,1]
        write = torch.exp(logits - new_norm).unsqueeze(-1)  # [B,H,N,1]
        k_mem = torch.addcmul(decay * k_mem, write, k)  # k broadcasts over the N slots
        v_mem = torch.addcmul(decay * v_mem, write, v)
        out = read_slots(q, k_mem, v_mem, dropout=dropout)
        return out, {"k_mem": k_mem, "v_mem": v_mem, "log_norm": new_norm}


class LinformerControl(nn.Module):
    """Causal Linformer as ABC: token at position p writes E[:, p] (a learned, context-agnostic control)."""

    name = "linformer"

    def __init__(self, num_slots: int, max_positions: int):
        super().__init__()
        self.num_slots, self.max_positions = num_slots, max_positions
        self.position_weights = nn.Parameter(torch.empty(max_positions, num_slots))  # E^T, [P, N]
        nn.init.xavier_uniform_(self.position_weights, gain=2 ** -0.5)

    def weights(self, positions: torch.Tensor, flag: str = "--abc-linformer-max-len") -> torch.Tensor:
        """positions (any shape, long) -> E^T rows [..., N] in fp32."""
        if positions.numel():
            longest = int(positions.max()) + 1
            check(
                longest <= self.max_positions,
                f"sequence length {longest} exceeds the Linformer control's maximum length "
                f"{self.max_positions} ({flag})",
            )
        return at_least_fp32(self.position_weights)[positions]

    def compress(self, k, v, x, pad_mask):
        """Bidirectional memory E K over the real tokens; positions count from the first real token."""
        if pad_mask is None:
            positions = torch.arange(k.shape[-2], device=k.device).expand(k.shape[0], -1)
            weights = self.weights(positions)  # [B,S,N]
        else:
            positions = ((~pad_mask).long().cumsum(-1) - 1).clamp(min=0)
            weights = self.weights(positions).masked_fill(pad_mask.unsqueeze(-1), 0.0)
        weights_t = weights.transpose(-1, -2).unsqueeze(1)  # [B,1,N,S]
        return {"k_mem": weights_t @ k, "v_mem": weights_t @ v}

    def causal(self, q, k, v, x, pad_mask, state: Optional[State], chunk_size: int, dropout=None):
        """Prefix sums of E[:, p] (x) k_p. State: k_mem, v_mem (sums) and position [B] (tokens seen)."""
        batch, _, length, _ = q.shape
        if state is None:
            k_mem, v_mem = _empty_memory(q, self.num_slots)
            start_position = 0
        else:
            k_mem, v_mem = state["k_mem"], state["v_mem"]
            start_position = int(state["position"][0])  # decoder inputs are never left-padded: rows agree
        if pad_mask is not None:
            keep = (~pad_mask)[:, None, :, None].type_as(k)
            k, v = k * keep, v * keep
        write = self.weights(torch.arange(start_position, start_position + length, device=q.device))  # [T,N]
        outs = []
        for start in range(0, length, chunk_size):
            chunk = slice(start, start + chunk_size)
            out, k_mem, v_mem = _causal_chunk(
                q[:, :, chunk], k[:, :, chunk], v[:, :, chunk], write[chunk], k_mem, v_mem, dropout=dropout
            )
            outs.append(out)
        position = torch.full((batch,), start_position + length, dtype=torch.long, device=q.device)
        return torch.cat(outs, dim=-2), {"k_mem": k_mem, "v_mem": v_mem, "position": position}


class WindowControl(nn.Module):
    """Sliding window as ABC: N first-in-first-out slots; token p lives in slot p mod N until overwritten."""

    name = "window"

    def __init__(self, num_slots: int):
        super().__init__()
        self.num_slots = num_slots

    def compress(self, k, v, x, pad_mask):
        raise AssertionError("the window control is causal only; the model builder rejects other roles")

    def causal(self, q, k, v, x, pad_mask, state: Optional[State], chunk_size: int, dropout=None):
        """Each new token attends to itself and the N - 1 tokens before it (buffered or new).

        State: k_buf, v_buf [B,H,N,D] (slot p mod N holds token p) and position [B] (tokens seen).
        """
        batch, heads, length, dim = q.shape
        window = self.num_slots
        device = q.device
        if state is None:
            k_buf, v_buf = _empty_memory(q, window)
            position = torch.zeros(batch, dtype=torch.long, device=device)
        else:
            k_buf, v_buf, position = state["k_buf"], state["v_buf"], state["position"]
        # age of each buffered token (0 = most recent) and whether a token was ever written there
        slots = torch.arange(window, device=device)
        age = (position[:, None] - 1 - slots) % window  # [B,N]
        empty = slots >= position[:, None]  # [B,N]
        steps = torch.arange(length, device=device)
        outs = []
        for start in range(0, length, chunk_size):
            rows = steps[start : start + chunk_size]  # [C]
            first = max(0, start - window + 1)
            cols = steps[first : start + chunk_size]  # [K]
            # buffered token at distance age + 1 + t from new token t
            buf_hidden = empty[:, None, :] | (age[:, None, :] + 1 + rows[None, :, None] > window - 1)  # [B,C,N]
            distance = rows[:, None] - cols[None, :]  # [C,K]
            new_hidden = (distance < 0) | (distance > window - 1)  # [C,K]
            new_hidden = new_hidden.expand(batch, -1, -1)
            if pad_mask is not None:
                new_hidden = new_hidden | pad_mask[:, None, first : start + chunk_size]
            qc = q[:, :, start : start + chunk_size]
            keys = torch.cat([k_buf, k[:, :, first : start + chunk_size]], -2)  # [B,H,N+K,D]
            logits = qc @ keys.transpose(-1, -2)  # [B,H,C,N+K]
            hidden = torch.cat([buf_hidden, new_hidden], -1).unsqueeze(1)  # [B,1,C,N+K]
            probs = torch.softmax(logits.masked_fill(hidden, float("-inf")), dim=-1)
            if dropout is not None:
                probs = dropout(probs)
            values = torch.cat([v_buf, v[:, :, first : start + chunk_size]], -2)  # [B,H,N+K,D]
            outs.append(probs @ values)
        # the last min(T, N) new tokens overwrite their slots
        kept = min(length, window)
        targets = ((position[:, None] + steps[length - kept :]) % window)[:, None, :, None].expand(-1, heads, -1, dim)
        k_buf = k_buf.scatter(2, targets, k[:, :, length - kept :])
        v_buf = v_buf.scatter(2, targets, v[:, :, length - kept :])
        return torch.cat(outs, dim=-2), {"k_buf": k_buf, "v_buf": v_buf, "position": position + length}


CONTROLS = ("mlp", "linformer", "window")
BIDIRECTIONAL_CONTROLS = ("mlp", "linformer")


def build_control(name: str, input_dim: int, num_heads: int, num_slots: int, max_positions: int) -> nn.Module:
    if name == "mlp":
        return MlpControl(input_dim, num_heads, num_slots)
    if name == "linformer":
        return LinformerControl(num_slots, max_positions)
    if name == "window":
        return WindowControl(num_slots)
    raise AssertionError(name)
