"""Plain references for the tests, written from the equations: token-to-token weights, the official
materialised outer-product form, a token loop, and the whole layer from its raw parameters (loops over heads).

Layout as in ``memsizer.py``: slot_probs, keys [B,T,k]; values [B,T,C]; pad_mask [B,T] True at padding.
Quadratic or worse in length; the efficient forms must agree with these.
"""
import torch


def _real(pad_mask, like):
    """[B,T] float: 1 at real tokens, 0 at padding."""
    if pad_mask is None:
        return torch.ones(like.shape[:2], dtype=like.dtype, device=like.device)
    return (~pad_mask).to(like.dtype)


def bidirectional_reference(slot_probs, keys, values, pad_mask=None):
    """o_i = sum_j (a_i . k~_j) / sqrt(M) v~_j over the real j: explicit [B,T,S] weights. keys/values [B,S,*]."""
    real = _real(pad_mask, keys)  # [B,S]
    length = real.sum(1).clamp(min=1)  # M, [B]
    weights = torch.einsum("btk,bsk->bts", slot_probs, keys) * real[:, None, :] / length.sqrt()[:, None, None]
    return weights @ values


def causal_outer_product_reference(slot_probs, keys, values, pad_mask=None):
    """The official training form: every k~_j (x) v~_j materialised ([B,T,k,C]), then a lower-triangular mask with
    row scale 1/sqrt(t), t counting real tokens only."""
    real = _real(pad_mask, keys)  # [B,T]
    length = keys.shape[1]
    outer = torch.einsum("bsk,bsc->bskc", keys * real[..., None], values)  # [B,S,k,C]
    seen = real.cumsum(1).clamp(min=1)  # [B,T]
    visible = torch.ones(length, length, dtype=keys.dtype, device=keys.device).tril()  # [T,S]
    mask = visible[None] / seen.sqrt()[:, :, None]  # [B,T,S]
    prefix = torch.einsum("bts,bskc->btkc", mask, outer)  # [B,T,k,C], S_t / sqrt(t)
    return torch.einsum("btk,btkc->btc", slot_probs, prefix)


def causal_recurrent_reference(slot_probs, keys, values, pad_mask=None):
    """Token by token, as decoding runs: S += k~_t (x) v~_t and n += 1 for real tokens; o_t = a_t S / sqrt(n)."""
    real = _real(pad_mask, keys)
    batch, length, num_slots = keys.shape
    memory = values.new_zeros(batch, num_slots, values.shape[-1])
    count = values.new_zeros(batch)
    outs = []
    for t in range(length):
        memory = memory + real[:, t, None, None] * keys[:, t, :, None] * values[:, t, None, :]
        count = count + real[:, t]
        outs.append((slot_probs[:, t, None, :] @ memory) / count.clamp(min=1).sqrt()[:, None, None])
    return torch.cat(outs, dim=1)


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdim=True)
    var = (x - mean).pow(2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def memsizer_reference(query, source, params, num_heads, causal=False, pad_mask=None, eps=1e-5, per_head=False):
    """The whole attention from raw inputs: query [B,T,C], source [B,S,Cs] (the query itself for self-attention)
    -> [B,T,C]. ``params`` maps the module's parameter names (q_proj.weight [H*k, C], k_proj.weight [k, Cs],
    v_proj.weight [C, Cs], their biases, k_layer_norm.*, v_layer_norm.*) to tensors. ``pad_mask`` is the source's.
    ``per_head``: head h reads value columns h*D:(h+1)*D with its own slot distribution (no averaging)."""
    num_slots = params["k_proj.weight"].shape[0]
    keys = _layer_norm(source @ params["k_proj.weight"].T + params["k_proj.bias"],
                       params["k_layer_norm.weight"], params["k_layer_norm.bias"], eps)
    values = _layer_norm(source @ params["v_proj.weight"].T + params["v_proj.bias"],
                         params["v_layer_norm.weight"], params["v_layer_norm.bias"], eps)
    form = causal_recurrent_reference if causal else bidirectional_reference
    head_probs = []
    for head in range(num_heads):
        rows = slice(head * num_slots, (head + 1) * num_slots)
        logits = query @ params["q_proj.weight"][rows].T + params["q_proj.bias"][rows]  # [B,T,k]
        head_probs.append(torch.softmax(logits, dim=-1))
    if not per_head:
        return form(sum(head_probs) / num_heads, keys, values, pad_mask)
    width = values.shape[-1] // num_heads
    return torch.cat([form(probs, keys, values[..., h * width:(h + 1) * width], pad_mask)
                      for h, probs in enumerate(head_probs)], dim=-1)
