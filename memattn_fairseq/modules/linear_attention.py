"""Linear attention as a fairseq attention module (T x B x C at the boundary; see bounded_attention.py).

Projections follow fairseq's MultiheadAttention (q, k, v, out with biases); q and k go through the feature map of
``attention/linear.py``. There is no attention matrix to drop out of, so ``dropout`` is not a parameter here. The
math runs in fp32 whatever the model's dtype.

Memory and state per layer (B = batch x beam):
    cross / encoder memory, decoder state   kv [B,H,D,D], k_sum [B,H,D]
"""
from typing import Dict, Optional

import torch.nn as nn
from torch import Tensor

from ..attention import linear
from ..attention.ops import at_least_fp32
from ..errors import check_parameter
from .bounded_attention import BoundedAttention


class LinearAttention(BoundedAttention):
    softmax_parameters = BoundedAttention.PROJECTIONS

    def __init__(self, embed_dim: int, num_heads: int, role: str, chunk_size: int = 64, kdim: Optional[int] = None):
        super().__init__(embed_dim, num_heads, role)
        check_parameter(chunk_size >= 1, "chunk_size", f"{{name}} must be >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        self.add_projections(kdim)
        self.reset_projections()

    def _features(self, proj: nn.Linear, x: Tensor) -> Tensor:
        """[B,T,C] -> phi(proj(x)) [B,H,T,D] in at least fp32"""
        return linear.feature_map(at_least_fp32(self.split_heads(proj(x))))

    def compress(self, source: Tensor, pad_mask: Optional[Tensor]) -> Dict[str, Tensor]:
        """source [B,S,C] -> {kv [B,H,D,D], k_sum [B,H,D]}"""
        values = at_least_fp32(self.split_heads(self.v_proj(source)))
        return linear.compress(self._features(self.k_proj, source), values, pad_mask)

    def read(self, query: Tensor, memory: Dict[str, Tensor]) -> Tensor:
        """query [B,T,C] -> [B,T,C]"""
        out = linear.read(self._features(self.q_proj, query), memory)
        return self.out_proj(self.merge_heads(out).type_as(query))

    def causal(self, x: Tensor, pad_mask: Optional[Tensor], state: Optional[Dict[str, Tensor]]):
        """x [B,T,C] -> ([B,T,C], state); the state continues the sequence exactly at the next call."""
        q, k = self._features(self.q_proj, x), self._features(self.k_proj, x)
        v = at_least_fp32(self.split_heads(self.v_proj(x)))
        out, state = self.causal_form(linear.causal, q, k, v, pad_mask, state, self.chunk_size)
        return self.out_proj(self.merge_heads(out).type_as(x)), state

    def extra_repr(self) -> str:
        return f"role={self.role}, heads={self.num_heads}"
