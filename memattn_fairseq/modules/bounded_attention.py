"""The fairseq face shared by every bounded-memory attention: roles, incremental state and beam reorder.

fairseq calls attention modules with T x B x C tensors and a B x S padding mask (True = pad). Subclasses work
batch-first on B x T x C and implement three methods:

    compress(source [B,S,C], pad_mask [B,S] | None) -> memory dict      (encoder self-attention, cross-attention)
    read(query [B,T,C], memory) -> [B,T,C]
    causal(x [B,T,C], pad_mask [B,T] | None, state dict | None) -> ([B,T,C], state dict)   (decoder self-attention)

Roles:
    "encoder"  bidirectional self-attention: read(x, compress(x)).
    "decoder"  causal self-attention; under incremental decoding the constant-size state is carried between calls,
               so any number of new tokens per call continues the sequence exactly.
    "cross"    encoder-decoder attention; the compressed source memory is computed once per source and cached.

Every cached tensor is batch-first ([B, ...], one row per hypothesis), so beam search reorders it with
index_select on dim 0, whether the batch is permuted, duplicated or shrunk as hypotheses finish.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from fairseq.incremental_decoding_utils import with_incremental_state
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ..errors import check, check_parameter
from .incremental_state import reorder_rows, tensor_bytes

ROLES = ("encoder", "decoder", "cross")


def recomputed_in_backward(fn, *args):
    """``fn(*args)``; under autograd its intermediates (the chunk tensors of a causal training form) are not kept
    but recomputed during the backward pass, as fused softmax-attention kernels do, so a layer keeps only its
    inputs per token. Dropout masks replay identically (the RNG state is restored for the recomputation)."""
    if torch.is_grad_enabled() and any(torch.is_tensor(a) and a.requires_grad for a in args):
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def set_recompute(model: nn.Module, enabled: bool) -> None:
    """Whether every bounded attention of ``model`` recomputes its causal form in the backward pass."""
    for module in model.modules():
        if isinstance(module, BoundedAttention):
            module.recompute = enabled


@with_incremental_state
class BoundedAttention(nn.Module):
    """Base class. ``embed_dim`` is the model width, ``num_heads`` the heads (``head_dim`` = embed_dim / heads).

    ``softmax_parameters`` names the submodules that play the same part as fairseq's MultiheadAttention submodules
    of the same name (and shape); converting a softmax checkpoint copies them (``conversion/weights.py``)."""

    softmax_parameters: Tuple[str, ...] = ()
    PROJECTIONS = ("q_proj", "k_proj", "v_proj", "out_proj")  # made by add_projections
    recompute = True  # the causal form's intermediates are recomputed in the backward pass (set_recompute)

    def __init__(self, embed_dim: int, num_heads: int, role: str):
        super().__init__()
        check(role in ROLES, f"unknown attention role {role!r}; expected one of {ROLES}")
        check_parameter(num_heads >= 1 and embed_dim % num_heads == 0, "num_heads",
                        f"{{name}}={num_heads} does not divide the model dimension {embed_dim}")
        self.embed_dim, self.num_heads, self.role = embed_dim, num_heads, role
        self.head_dim = embed_dim // num_heads
        self.self_attention = role != "cross"
        self.encoder_decoder_attention = role == "cross"

    # -- to implement ------------------------------------------------------------------------------------
    def compress(self, source: Tensor, pad_mask: Optional[Tensor]) -> Dict[str, Tensor]:
        raise NotImplementedError(f"{type(self).__name__} has no bidirectional form")

    def read(self, query: Tensor, memory: Dict[str, Tensor]) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no bidirectional form")

    def causal(self, x: Tensor, pad_mask: Optional[Tensor], state: Optional[Dict[str, Tensor]]):
        raise NotImplementedError(f"{type(self).__name__} has no causal form")

    # -- fairseq's MultiheadAttention interface ------------------------------------------------------------
    def forward(
        self,
        query: Tensor,
        key: Optional[Tensor] = None,
        value: Optional[Tensor] = None,
        key_padding_mask: Optional[Tensor] = None,
        incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
        need_weights: bool = False,
        static_kv: bool = False,
        attn_mask: Optional[Tensor] = None,
        **unused,
    ) -> Tuple[Tensor, None]:
        """query [T,B,C]; key/value [S,B,C] (cross only); key_padding_mask [B,S] True = pad.

        ``attn_mask`` (fairseq's future mask) is ignored: causality comes from the causal form itself.
        Returns ([T,B,C], None): there are no token-level attention weights to report.
        """
        x = query.transpose(0, 1)  # [B,T,C]
        pad_mask = key_padding_mask.bool() if key_padding_mask is not None else None
        if self.role == "decoder":
            state = self._get_input_buffer(incremental_state) if incremental_state is not None else None
            out, new_state = self.causal(x, pad_mask, state or None)
            if incremental_state is not None:
                self._set_input_buffer(incremental_state, new_state)
        elif self.role == "cross":
            memory = self._get_input_buffer(incremental_state) if incremental_state is not None else None
            if not memory:
                memory = self.compress(key.transpose(0, 1), pad_mask)
                if incremental_state is not None:
                    self._set_input_buffer(incremental_state, memory)
            out = self.read(x, memory)
        else:
            out = self.read(x, self.compress(x, pad_mask))
        return out.transpose(0, 1), None  # [T,B,C]

    def _get_input_buffer(self, incremental_state) -> Dict[str, Tensor]:
        return self.get_incremental_state(incremental_state, "attn_state") or {}

    def _set_input_buffer(self, incremental_state, buffer: Dict[str, Tensor]):
        return self.set_incremental_state(incremental_state, "attn_state", buffer)

    @torch.jit.export
    def reorder_incremental_state(self, incremental_state, new_order: Tensor):
        """Beam search: every cached tensor is [B, ...]; select the surviving hypotheses' rows."""
        buffer = self._get_input_buffer(incremental_state)
        if buffer:
            self._set_input_buffer(incremental_state, reorder_rows(buffer, new_order))
        return incremental_state

    def state_bytes(self, incremental_state) -> int:
        """Bytes this module holds in ``incremental_state`` (constant in length for every bounded form)."""
        return tensor_bytes(self._get_input_buffer(incremental_state).values())

    # -- helpers for subclasses ------------------------------------------------------------------------------
    def causal_form(self, fn, *args):
        """``fn(*args)``, a causal training form: recomputed in the backward pass when ``recompute`` is set."""
        return recomputed_in_backward(fn, *args) if self.recompute else fn(*args)

    def add_projections(self, kdim: Optional[int]) -> None:
        """q, k, v and out projections with biases, as fairseq's MultiheadAttention (k, v read width ``kdim``)."""
        kdim = kdim or self.embed_dim
        self.q_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.k_proj = nn.Linear(kdim, self.embed_dim)
        self.v_proj = nn.Linear(kdim, self.embed_dim)
        self.out_proj = nn.Linear(self.embed_dim, self.embed_dim)

    def reset_projections(self) -> None:
        """fairseq's MultiheadAttention initialisation of the projections of ``add_projections``: q, k, v with
        xavier gain 2^-1/2 when the source has the model's width (self-attention, and cross-attention between
        equal widths), gain 1 otherwise."""
        gain = 2 ** -0.5 if self.k_proj.in_features == self.embed_dim else 1.0  # fairseq's qkv_same_dim
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(proj.weight, gain=gain)
        nn.init.xavier_uniform_(self.out_proj.weight)
        nn.init.constant_(self.out_proj.bias, 0.0)

    def split_heads(self, x: Tensor) -> Tensor:
        """[B,T,H*D] -> [B,H,T,D]"""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: Tensor) -> Tensor:
        """[B,H,T,D] -> [B,T,H*D]"""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.embed_dim)
