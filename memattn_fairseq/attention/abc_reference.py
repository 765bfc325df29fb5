"""Plain references for the tests: every memory written out explicitly, quadratic in length.

Layout as in ``abc.py``: q, k, v [B, H, T, D]; control weights phi [B, H, T, S, N] give, for each query row t,
how much key/value i contributes to slot m. The efficient forms must agree with these.
"""
import torch

from .abc import PAD_LOGIT


def slot_attention_reference(q, k, v, phi, empty_slots=None):
    """o_t = softmax(q_t K~_t^T) V~_t with K~_t = sum_i phi[t, i] (x) k_i.

    q [B,H,T,D]; k, v [B,H,S,D]; phi [B|1,H|1,T,S,N]; empty_slots [B|1,H|1,T,N] True = slot holds nothing.
    """
    k_mem = torch.einsum("bhtsn,bhsd->bhtnd", phi.expand(q.shape[0], q.shape[1], -1, -1, -1), k)
    v_mem = torch.einsum("bhtsn,bhsd->bhtnd", phi.expand(q.shape[0], q.shape[1], -1, -1, -1), v)
    logits = torch.einsum("bhtd,bhtnd->bhtn", q, k_mem)
    if empty_slots is not None:
        logits = logits.masked_fill(empty_slots, float("-inf"))
    return torch.einsum("bhtn,bhtnd->bhtd", torch.softmax(logits, -1), v_mem)


def mlp_phi_causal(logits):
    """logits [B,H,T,N] -> phi [B,H,T,T,N]: softmax over positions i <= t, per slot."""
    length = logits.shape[-2]
    future = torch.ones(length, length, dtype=torch.bool, device=logits.device).triu(1)
    expanded = logits.unsqueeze(2).expand(-1, -1, length, -1, -1)  # [B,H,T(query),T(key),N]
    return torch.softmax(expanded.masked_fill(future[:, :, None], float("-inf")), dim=3)


def mlp_phi_bidirectional(logits, length):
    """logits [B,H,S,N] (pads already PAD_LOGIT) -> phi [B,H,T,S,N], the same for every query row."""
    return torch.softmax(logits, dim=-2).unsqueeze(2).expand(-1, -1, length, -1, -1)


def linformer_phi_causal(position_weights):
    """position_weights [T,N] (E^T rows of the positions) -> phi [1,1,T,T,N] with the future zeroed."""
    length = position_weights.shape[0]
    visible = torch.ones(length, length, device=position_weights.device).tril()
    return (visible[:, :, None] * position_weights[None]).unsqueeze(0).unsqueeze(0)


def window_phi_causal(length, num_slots, device=None):
    """phi [1,1,T,T,N] and empty slots [1,1,T,N] for a FIFO memory of the last num_slots tokens."""
    t = torch.arange(length, device=device)
    in_window = (t[None, :] <= t[:, None]) & (t[None, :] > t[:, None] - num_slots)  # [T,T]
    slot_of = torch.nn.functional.one_hot(t % num_slots, num_slots).float()  # [T,N]
    phi = in_window[:, :, None].float() * slot_of[None]
    empty = phi.sum(1) == 0  # [T,N]
    return phi[None, None], empty[None, None]


def mlp_recurrent_reference(q, k, v, logits):
    """Token-by-token recurrence with a carried log-normaliser (the decoding view). Shapes as above."""
    batch, heads, length, dim = q.shape
    num_slots = logits.shape[-1]
    k_mem = q.new_zeros(batch, heads, num_slots, dim)
    v_mem = q.new_zeros(batch, heads, num_slots, dim)
    log_norm = q.new_full((batch, heads, num_slots), float("-inf"))
    outs = []
    for t in range(length):
        new_norm = torch.logaddexp(log_norm, logits[:, :, t])
        decay = torch.exp(log_norm - new_norm).unsqueeze(-1)
        write = torch.exp(logits[:, :, t] - new_norm).unsqueeze(-1)
        k_mem = decay * k_mem + write * k[:, :, t, None]
        v_mem = decay * v_mem + write * v[:, :, t, None]
        log_norm = new_norm
        probs = torch.softmax(q[:, :, t, None] @ k_mem.transpose(-1, -2), -1)
        outs.append(probs @ v_mem)
    return torch.cat(outs, dim=-2)


__all__ = [
    "PAD_LOGIT",
    "slot_attention_reference",
    "mlp_phi_causal",
    "mlp_phi_bidirectional",
    "linformer_phi_causal",
    "window_phi_causal",
    "mlp_recurrent_reference",
]
