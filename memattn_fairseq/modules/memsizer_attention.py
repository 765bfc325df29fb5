"""MemSizer attention as a fairseq attention module (T x B x C at the boundary; see bounded_attention.py).

Parameters keep the official names, so state dicts map one to one:
    q_proj        [C -> H*k]   the key memory Phi: k learned, input-independent slots seen through H heads
    k_proj        [Cs -> k]    W_l, then k_layer_norm (over the k slots)
    v_proj        [Cs -> C]    W_r, then v_layer_norm (over C)
There is no output projection and no 1/sqrt(d) logit scale: the init gains (scale^-1/2) set the initial
temperature. Heads share one value memory, so ``head_dim`` is exposed for fairseq's layers but unused.
``output_projection=True`` adds one (out_proj [C -> C], fairseq's init) after the read: not in the paper or the
official code, it gives the layer the head mixing and the parameters a softmax attention has.
``per_head_read=True`` lets each head read its own D columns of the value memory with its own slot distribution
instead of averaging the H distributions into one read (also not in the paper; the state is unchanged).
Cs is the source width (the encoder's for cross-attention).

Memory and state per layer (B = batch x beam), always at least fp32 whatever the model's dtype:
    cross / encoder memory   memory [B,k,C]   (S, already scaled by 1/sqrt(M))
    decoder state            sum [B,k,C], count [B] (long)
"""
from typing import Dict, Optional

import torch.nn as nn
import torch.nn.functional as F
from fairseq.modules.fairseq_dropout import FairseqDropout
from torch import Tensor

from ..attention import memsizer
from ..attention.ops import at_least_fp32
from ..errors import check_parameter, check_positive_number
from .bounded_attention import BoundedAttention


def _layer_norm_fp32(norm: nn.LayerNorm, x: Tensor) -> Tensor:
    """LayerNorm computed in at least fp32 (the sums built from it are kept in fp32 too)."""
    weight, bias = at_least_fp32(norm.weight), at_least_fp32(norm.bias)
    return F.layer_norm(at_least_fp32(x), norm.normalized_shape, weight, bias, norm.eps)


class MemSizerAttention(BoundedAttention):
    softmax_parameters = ("v_proj",)  # the value projection; the slots (q_proj, k_proj) have no softmax twin

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        role: str,
        num_slots: int,
        dropout: float = 0.0,
        chunk_size: int = 64,
        q_init_scale: float = 8.0,
        kv_init_scale: float = 8.0,
        kdim: Optional[int] = None,
        output_projection: bool = False,
        per_head_read: bool = False,
    ):
        super().__init__(embed_dim, num_heads, role)
        check_parameter(isinstance(num_slots, int) and num_slots >= 1, "num_slots",
                        f"{{name}} must be an integer >= 1, got {num_slots}")
        check_parameter(chunk_size >= 1, "chunk_size", f"{{name}} must be >= 1, got {chunk_size}")
        check_positive_number(q_init_scale, "q_init_scale")
        check_positive_number(kv_init_scale, "kv_init_scale")
        self.num_slots, self.chunk_size, self.per_head_read = num_slots, chunk_size, per_head_read
        self.q_init_scale, self.kv_init_scale = q_init_scale, kv_init_scale
        source_dim = kdim or embed_dim
        self.q_proj = nn.Linear(embed_dim, num_heads * num_slots)
        self.k_proj = nn.Linear(source_dim, num_slots)
        self.v_proj = nn.Linear(source_dim, embed_dim)
        self.k_layer_norm = nn.LayerNorm(num_slots)
        self.v_layer_norm = nn.LayerNorm(embed_dim)
        self.out_proj = nn.Linear(embed_dim, embed_dim) if output_projection else None
        if output_projection:
            self.softmax_parameters = MemSizerAttention.softmax_parameters + ("out_proj",)
        self.dropout_module = FairseqDropout(dropout, module_name=type(self).__name__)
        self.reset_parameters()

    def reset_parameters(self):
        # as the official code: xavier with gain scale^-1/2, zero biases, default LayerNorms
        nn.init.xavier_uniform_(self.q_proj.weight, gain=self.q_init_scale ** -0.5)
        nn.init.xavier_uniform_(self.k_proj.weight, gain=self.kv_init_scale ** -0.5)
        nn.init.xavier_uniform_(self.v_proj.weight, gain=self.kv_init_scale ** -0.5)
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.zeros_(proj.bias)
        self.k_layer_norm.reset_parameters()
        self.v_layer_norm.reset_parameters()
        if self.out_proj is not None:  # as fairseq's MultiheadAttention
            nn.init.xavier_uniform_(self.out_proj.weight)
            nn.init.zeros_(self.out_proj.bias)

    def _output(self, read: Tensor, like: Tensor) -> Tensor:
        """read [B,T,C] (fp32 at least) -> [B,T,C] in ``like``'s dtype, through out_proj where there is one."""
        read = read.type_as(like)
        return read if self.out_proj is None else self.out_proj(read)

    def _slot_probs(self, query: Tensor) -> Tensor:
        """[B,T,C] -> [B,T,k], per-head read [B,T,H,k] (fp32 at least)"""
        return memsizer.slot_distribution(self.q_proj(query), self.num_heads, self.dropout_module,
                                          per_head=self.per_head_read)

    def _keys_values(self, source: Tensor):
        """[B,S,Cs] -> keys [B,S,k], values [B,S,C] (fp32 at least)"""
        keys = _layer_norm_fp32(self.k_layer_norm, self.k_proj(source))
        values = _layer_norm_fp32(self.v_layer_norm, self.v_proj(source))
        return keys, values

    def compress(self, source: Tensor, pad_mask: Optional[Tensor]) -> Dict[str, Tensor]:
        """source [B,S,Cs] -> {memory: [B,k,C]}"""
        keys, values = self._keys_values(source)
        return {"memory": memsizer.compress(keys, values, pad_mask)}

    def read(self, query: Tensor, memory: Dict[str, Tensor]) -> Tensor:
        """query [B,T,C] -> [B,T,C]"""
        read = memsizer.read_per_head if self.per_head_read else memsizer.read
        return self._output(read(self._slot_probs(query), memory["memory"]), query)

    def causal(self, x: Tensor, pad_mask: Optional[Tensor], state: Optional[Dict[str, Tensor]]):
        """x [B,T,C] -> ([B,T,C], state); the state continues the sequence exactly at the next call."""
        keys, values = self._keys_values(x)
        form = memsizer.causal_per_head if self.per_head_read else memsizer.causal
        out, state = self.causal_form(form, self._slot_probs(x), keys, values, pad_mask, state, self.chunk_size)
        return self._output(out, x), state

    def extra_repr(self) -> str:
        return f"role={self.role}, slots={self.num_slots}, heads={self.num_heads}"
