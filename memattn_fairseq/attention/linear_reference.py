"""Plain reference of linear attention for the tests: the T x S score matrix written out, quadratic in length.

Layout as in ``linear.py``: q, k, v [B, H, T|S, D], already through the feature map; pad_mask [B, S] True = pad.
"""
import torch

from .linear import EPS


def linear_attention_reference(q, k, v, causal: bool, pad_mask=None):
    scores = q @ k.transpose(-1, -2)  # [B,H,T,S]
    if pad_mask is not None:
        scores = scores.masked_fill(pad_mask[:, None, None, :], 0.0)
    if causal:
        future = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, 0.0)
    return (scores @ v) / (scores.sum(-1, keepdim=True) + EPS)
