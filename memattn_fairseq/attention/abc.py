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
one token at a time (ABC_MLP's training form runs long inputs in blocks of BLOCK_TOKENS, carrying that state).
Quadratic references for the tests live in ``abc_reference.py``.

- ``mlp`` (ABC_MLP): phi_i = exp(W_phi x_i) normalised over the positions written so far, per slot; every slot
  is a weighted average of tokens. The log-normaliser is carried in fp32 and logits are clamped to
  +-LOGIT_CLAMP, so every exponent below stays in the fp32 range for any input.
- ``linformer``: phi_i = E[:, i], a learned column per absolute position (unnormalised, causal via prefix sums,
  so lengths are limited to ``max_positions``).
- ``window``: first-in-first-out slots holding the last N tokens (sliding-window attention); causal only.
"""
import math
from typing import Callable, Dict, Optional

import torch
import torch.nn as nn

from ..errors import check
from .ops import at_least_fp32, chunks, exclusive_cumsum, unchunk

State = Dict[str, torch.Tensor]
Dropout = Callable[[torch.Tensor], torch.Tensor]

LOGIT_CLAMP = 30.0
PAD_LOGIT = -1.0e4  # exp(PAD_LOGIT - anything real) == 0 in fp32, without the inf - inf of a -inf fill
NO_MASS = -1.0e30  # log-normaliser before the first token
CONTROL_INIT_GAIN = 2 ** -0.5  # xavier gain of the mlp control's W_phi, as fairseq's attention projections


def read_slots(q, k_mem, v_mem, slot_mask=None, dropout: Optional[Dropout] = None):
    """Softmax over N slots. q [B,H,T,D], k_mem/v_mem [B,H,N,D], slot_mask [B,1|H,1|T,N] True = empty."""
    logits = q @ k_mem.transpose(-1, -2)  # [B,H,T,N]
    if slot_mask is not None:
        logits = logits.masked_fill(slot_mask, float("-inf"))
    probs = torch.softmax(at_least_fp32(logits), dim=-1).type_as(v_mem)
    if dropout is not None:
        probs = dropout(probs)
    return probs @ v_mem  # [B,H,T,D]


def _chunked_causal(q, k, v, write, k_start, v_start, rescale=None, dropout=None):
    """The causal form for all chunks at once, in matmuls (no [C, C, N] or [T, N, D] tensor, no Python loop).

    Row t of chunk c sees the memory
        K~_t[m] = rescale[t,m] * (k_start[c,m] + sum_{i<=t in c} write[i,m] * k_i)
    (rescale defaults to 1; V~ likewise). Shapes: q, k, v [B,H,K,C,D]; write, rescale [B,H,K,C,N] or [K,C,N];
    k_start, v_start [B,H,K,N,D], the memory each chunk starts from, on the scale of ``write``. Returns [B,H,K,C,D].
    """
    scores = torch.tril(q @ k.transpose(-1, -2))  # [B,H,K,C,C], the future zeroed (tril: no mask, no fill)
    logits = scores @ write + q @ k_start.transpose(-1, -2)  # [B,H,K,C,N]
    if rescale is not None:
        logits = logits * rescale
    probs = torch.softmax(logits, dim=-1)
    if dropout is not None:
        probs = dropout(probs)
    if rescale is not None:
        probs = probs * rescale
    mixing = torch.tril(probs @ write.transpose(-1, -2))  # [B,H,K,C,C]
    return mixing @ v + probs @ v_start  # [B,H,K,C,D]


def _exponent_cap(tokens: int) -> float:
    """Bound on |log Z_t - log Z_s| within a sequence: real logits are clamped to +-LOGIT_CLAMP, so normaliser
    ratios stay below e^cap; clamping to it only ever binds on padding, and keeps padding finite."""
    return 2 * LOGIT_CLAMP + math.log(tokens + 1) + 1.0


def _chunk_normalisers(logits: torch.Tensor, log_norm: torch.Tensor):
    """The running normaliser Z_t = Z_0 + sum_{i<=t} exp(logits_i) of ABC_MLP, as factors relative to each chunk.

    logits [B,H,K,C,N] (fp32); log_norm [B,H,N] = log Z_0. Returns
        write   exp(logits_t - log Z_end(c))         [B,H,K,C,N] <= 1
        rescale Z_end(c) / Z_t                       [B,H,K,C,N] >= 1
        z_end   log Z at each chunk's end            [B,H,K,N]
    Within a chunk, log Z_t is a plain prefix sum shifted by the chunk's own maximum m: every term exp(l_i - m) lies
    in [e^-2 LOGIT_CLAMP, 1], so the sums, their logs and every gradient stay within e^(2 LOGIT_CLAMP) of 1 (a shift
    shared by a whole sequence would not: its gradients reach e^(2 cap) and overflow fp32 when logits saturate).
    Across chunks the K chunk totals are combined in log space, so the exponents never grow with the length.
    """
    shift = logits.amax(dim=-2, keepdim=True)  # [B,H,K,1,N], the chunk's largest logit
    local = torch.exp(logits - shift).cumsum(dim=-2)  # [B,H,K,C,N]; 0 only before a chunk's first real token
    seen = local > 0
    log_local = torch.where(seen, torch.log(torch.where(seen, local, 1.0)), PAD_LOGIT) + shift  # no 1/0 in backward
    totals = log_local[..., -1, :]  # [B,H,K,N], log of each chunk's whole sum
    before = torch.cat([log_norm.unsqueeze(2), totals[:, :, :-1]], dim=2)  # [B,H,K,N]
    z = torch.logaddexp(torch.logcumsumexp(before, dim=2).unsqueeze(-2), log_local)  # [B,H,K,C,N]
    z_end = z[..., -1, :]  # [B,H,K,N]
    cap = _exponent_cap(logits.shape[2] * logits.shape[3])
    write = torch.exp(logits - z_end.unsqueeze(-2))
    rescale = torch.exp((z_end.unsqueeze(-2) - z).clamp(max=cap))
    return write, rescale, z_end


BLOCK_TOKENS = 1024  # long sequences run block by block, carrying the state, so the chunk tensors stay cache-sized


def _blocks(length: int, chunk_size: int):
    """Slices of about BLOCK_TOKENS tokens (a whole number of chunks) covering [0, length)."""
    step = chunk_size * max(1, BLOCK_TOKENS // chunk_size)
    return [slice(start, min(start + step, length)) for start in range(0, length, step)]


def _empty_memory(q, num_slots):
    batch, heads, _, dim = q.shape
    return q.new_zeros(batch, heads, num_slots, dim), q.new_zeros(batch, heads, num_slots, dim)


class MlpControl(nn.Module):
    """ABC_MLP: slot logits W_phi x per head, normalised over positions (a learned, contextual control)."""

    name = "mlp"

    def __init__(self, input_dim: int, num_heads: int, num_slots: int, init_gain: float = CONTROL_INIT_GAIN):
        super().__init__()
        self.num_heads, self.num_slots = num_heads, num_slots
        self.proj = nn.Linear(input_dim, num_heads * num_slots, bias=False)
        # the gain sets the spread of the initial logits, so how peaked each slot's average over tokens starts
        nn.init.xavier_uniform_(self.proj.weight, gain=init_gain)

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
        chunk_size = min(chunk_size, q.shape[-2])  # short sequences (translation) are not padded to a whole chunk
        outs = []
        for block in _blocks(q.shape[-2], chunk_size):
            out, k_mem, v_mem, log_norm = self._chunked(
                q[..., block, :], k[..., block, :], v[..., block, :], logits[..., block, :], k_mem, v_mem, log_norm,
                chunk_size, dropout)
            outs.append(out)
        return torch.cat(outs, dim=-2), {"k_mem": k_mem, "v_mem": v_mem, "log_norm": log_norm}

    @staticmethod
    def _chunked(q, k, v, logits, k_mem, v_mem, log_norm, chunk_size: int, dropout):
        """One block of the causal form: q, k, v [B,H,T,D]; logits [B,H,T,N]; memory and log_norm as in the state.
        Returns (out [B,H,T,D], k_mem, v_mem, log_norm) with the memory after the block."""
        length = q.shape[-2]
        logits = chunks(logits, chunk_size, PAD_LOGIT)  # [B,H,K,C,N]; end padding adds no mass
        write, rescale, z_end = _chunk_normalisers(logits, log_norm)
        # Memory at each chunk start, kept on the scale of the final normaliser r (so the chunk contributions
        # simply add up), then moved to the scale of its chunk's end, where ``write`` lives:
        # M_c * Z_start_c / Z_r = M_0 * Z_0 / Z_r + sum_{c'<c} write_c'^T k_c' * Z_end_c' / Z_r.
        final_norm = z_end[:, :, -1]  # r, [B,H,N]
        cap = _exponent_cap(z_end.shape[2] * chunk_size)
        to_final = torch.exp(z_end - final_norm.unsqueeze(2)).unsqueeze(-1)  # Z_end_c / Z_r <= 1, [B,H,K,N,1]
        from_final = torch.exp((final_norm.unsqueeze(2) - z_end).clamp(max=cap)).unsqueeze(-1)  # >= 1
        initial = torch.exp(log_norm - final_norm).unsqueeze(-1).unsqueeze(2)  # [B,H,1,N,1], 0 before any token
        qc, kc, vc = (chunks(t, chunk_size) for t in (q, k, v))  # [B,H,K,C,D]
        k_added = (write.transpose(-1, -2) @ kc) * to_final  # [B,H,K,N,D]
        v_added = (write.transpose(-1, -2) @ vc) * to_final
        k_scaled = k_mem.unsqueeze(2) * initial + exclusive_cumsum(k_added, dim=2)
        v_scaled = v_mem.unsqueeze(2) * initial + exclusive_cumsum(v_added, dim=2)
        out = _chunked_causal(qc, kc, vc, write, k_scaled * from_final, v_scaled * from_final, rescale, dropout)
        k_mem = k_scaled[:, :, -1] + k_added[:, :, -1]  # normalised by Z at the end
        v_mem = v_scaled[:, :, -1] + v_added[:, :, -1]
        return unchunk(out, length), k_mem, v_mem, final_norm

    @staticmethod
    def _step(q, k, v, logits, k_mem, v_mem, log_norm, dropout):
        """One decoding step of the recurrence (the chunked form with C = 1, without its masks).

        q, k, v [B,H,1,D]; logits, log_norm [B,H,N]; k_mem, v_mem [B,H,N,D]. Without autograd (generation) the
        memory is updated in place, so a step allocates no [B,H,N,D] tensor: the state passed in is consumed.
        """
        new_norm = torch.logaddexp(log_norm, logits)
        decay = torch.exp(log_norm - new_norm).unsqueeze(-1)  # [B,H,N,1]
        write = torch.exp(logits - new_norm).unsqueeze(-1)  # [B,H,N,1]
        if torch.is_grad_enabled():
            k_mem = torch.addcmul(decay * k_mem, write, k)  # k broadcasts over the N slots
            v_mem = torch.addcmul(decay * v_mem, write, v)
        else:  # the same operations, in place
            k_mem = k_mem.mul_(decay).addcmul_(write, k)
            v_mem = v_mem.mul_(decay).addcmul_(write, v)
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

    def weights(self, positions: torch.Tensor) -> torch.Tensor:
        """positions (any shape, long) -> E^T rows [..., N] in fp32."""
        if positions.numel():
            longest = int(positions.max()) + 1
            check(
                longest <= self.max_positions,
                f"sequence length {longest} exceeds the Linformer control's maximum length "
                f"{self.max_positions} (max_positions)",
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
        position = torch.full((batch,), start_position + length, dtype=torch.long, device=q.device)
        if length == 1:  # decoding step: add E[:, p] (x) k_p, then read
            k_mem = torch.addcmul(k_mem, write[0, :, None], k)  # [B,H,N,D]
            v_mem = torch.addcmul(v_mem, write[0, :, None], v)
            out = read_slots(q, k_mem, v_mem, dropout=dropout)
            return out, {"k_mem": k_mem, "v_mem": v_mem, "position": position}
        chunk_size = min(chunk_size, length)  # short sequences are not padded to a whole chunk
        qc, kc, vc = (chunks(t, chunk_size) for t in (q, k, v))  # [B,H,K,C,D]
        write = chunks(write, chunk_size)  # [K,C,N], zero rows past the end
        k_added = write.transpose(-1, -2) @ kc  # [B,H,K,N,D]
        v_added = write.transpose(-1, -2) @ vc
        k_start = k_mem.unsqueeze(2) + exclusive_cumsum(k_added, dim=2)
        v_start = v_mem.unsqueeze(2) + exclusive_cumsum(v_added, dim=2)
        out = unchunk(_chunked_causal(qc, kc, vc, write, k_start, v_start, dropout=dropout), length)
        k_mem, v_mem = k_start[:, :, -1] + k_added[:, :, -1], v_start[:, :, -1] + v_added[:, :, -1]
        return out, {"k_mem": k_mem, "v_mem": v_mem, "position": position}


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
        if length == 1 and pad_mask is None:  # decoding step: overwrite the oldest slot, then read
            slot = (position % window)[:, None, None, None].expand(-1, heads, 1, dim)  # [B,H,1,D]
            k_buf, v_buf = k_buf.scatter(2, slot, k), v_buf.scatter(2, slot, v)
            empty = torch.arange(window, device=device) > position[:, None]  # [B,N]
            out = read_slots(q, k_buf, v_buf, empty[:, None, None, :], dropout)
            return out, {"k_buf": k_buf, "v_buf": v_buf, "position": position + 1}
        # age of each buffered token (0 = most recent) and whether a token was ever written there
        slots = torch.arange(window, device=device)
        age = (position[:, None] - 1 - slots) % window  # [B,N]
        empty = slots >= position[:, None]  # [B,N]
        steps = torch.arange(length, device=device)
        # chunks of queries; each sees the buffer and the chunks reaching back N - 1 tokens (split, not sliced,
        # so the backward pass is a concatenation rather than a full-size zero tensor per chunk)
        q_chunks, k_chunks, v_chunks = (t.split(chunk_size, dim=-2) for t in (q, k, v))
        back = -(-(window - 1) // chunk_size)  # ceil((N - 1) / C)
        outs = []
        for index, qc in enumerate(q_chunks):
            start, first_chunk = index * chunk_size, max(0, index - back)
            first = first_chunk * chunk_size
            rows = steps[start : start + qc.shape[-2]]  # [C]
            cols = steps[first : start + qc.shape[-2]]  # [K]
            # buffered token at distance age + 1 + t from new token t
            buf_hidden = empty[:, None, :] | (age[:, None, :] + 1 + rows[None, :, None] > window - 1)  # [B,C,N]
            distance = rows[:, None] - cols[None, :]  # [C,K]
            new_hidden = ((distance < 0) | (distance > window - 1)).expand(batch, -1, -1)  # [B,C,K]
            if pad_mask is not None:  # pads are hidden as keys, except from themselves: no row is all hidden
                new_hidden = new_hidden | (pad_mask[:, None, first : start + qc.shape[-2]] & (distance != 0))
            keys = torch.cat([k_buf, *k_chunks[first_chunk : index + 1]], -2)  # [B,H,N+K,D]
            values = torch.cat([v_buf, *v_chunks[first_chunk : index + 1]], -2)  # [B,H,N+K,D]
            logits = qc @ keys.transpose(-1, -2)  # [B,H,C,N+K]
            hidden = torch.cat([buf_hidden, new_hidden], -1).unsqueeze(1)  # [B,1,C,N+K]
            probs = torch.softmax(logits.masked_fill(hidden, float("-inf")), dim=-1)
            if dropout is not None:
                probs = dropout(probs)
            outs.append(probs @ values)
        # the last min(T, N) new tokens overwrite their slots
        kept = min(length, window)
        targets = ((position[:, None] + steps[length - kept :]) % window)[:, None, :, None].expand(-1, heads, -1, dim)
        k_buf = k_buf.scatter(2, targets, k[:, :, length - kept :])
        v_buf = v_buf.scatter(2, targets, v[:, :, length - kept :])
        return torch.cat(outs, dim=-2), {"k_buf": k_buf, "v_buf": v_buf, "position": position + length}


CONTROLS = ("mlp", "linformer", "window")
BIDIRECTIONAL_CONTROLS = ("mlp", "linformer")


def build_control(name: str, input_dim: int, num_heads: int, num_slots: int, max_positions: int,
                  init_gain: float = CONTROL_INIT_GAIN) -> nn.Module:
    """``init_gain``: the xavier gain of the mlp control's W_phi (the other controls have no such projection)."""
    if name == "mlp":
        return MlpControl(input_dim, num_heads, num_slots, init_gain)
    if name == "linformer":
        return LinformerControl(num_slots, max_positions)
    if name == "window":
        return WindowControl(num_slots)
    raise AssertionError(name)
