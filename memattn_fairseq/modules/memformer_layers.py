"""Memformer's two transformer stacks, built from fairseq's layers through their build hooks.

Segment encoder: bidirectional self-attention, a memory reader in every layer, then FFN. Each layer is fairseq's
decoder layer run without a causal mask, its encoder-decoder attention pointed at the memory slots (the *memory
reader*: queries from tokens, keys and values from the K slots, no mask):

    x = x + SelfAttn(LN(x))            bidirectional within the segment (pad keys masked)
    x = x + CrossAttn(LN(x), M)        memory reader
    x = x + FFN(LN(x))

Segment decoder: fairseq's transformer decoder (causal self-attention, cross-attention to the encoder's outputs
H, FFN) whose cross-attention caches H's keys and values per hypothesis. fairseq's cross-attention reorders its
cache only when the batch shrinks (it assumes one encoder output per source sentence); Memformer's hypotheses
write different segments, so their H differ and the cache must follow every beam reorder.

Layout: tokens [B,S] in; hidden states [S,B,C] (fairseq's time-first order); memory [B,K,C].
"""
import copy
from typing import Dict, Optional, Tuple

from fairseq.models.transformer import TransformerConfig, TransformerDecoderBase, TransformerEncoderBase
from fairseq.modules import MultiheadAttention
from fairseq.modules.transformer_layer import TransformerDecoderLayerBase
from torch import Tensor

from .incremental_state import reorder_rows


def reader_config(cfg: TransformerConfig) -> TransformerConfig:
    """A copy of ``cfg`` whose decoder side is the encoder side (fairseq's decoder layer reads cfg.decoder.*);
    the memory reader's key/value width, cfg.encoder.embed_dim, is the slot width."""
    out = copy.deepcopy(cfg)
    for name in ("embed_dim", "ffn_embed_dim", "attention_heads", "normalize_before", "learned_pos", "layerdrop"):
        setattr(out.decoder, name, getattr(cfg.encoder, name))
    out.decoder.input_dim = out.decoder.output_dim = cfg.encoder.embed_dim
    out.cross_self_attention = False
    return out


class MemoryReadingLayer(TransformerDecoderLayerBase):
    def __init__(self, cfg: TransformerConfig):
        super().__init__(reader_config(cfg))
        self.need_attn = False  # never compute reader attention weights

    def read(self, x: Tensor, pad_mask: Optional[Tensor], memory: Tensor) -> Tensor:
        """x [S,B,C], pad_mask [B,S] (True = pad) or None, memory [K,B,C] -> [S,B,C]"""
        out, _, _ = super().forward(x, encoder_out=memory, self_attn_padding_mask=pad_mask)
        return out


class SegmentEncoder(TransformerEncoderBase):
    """fairseq's encoder (embeddings, per-segment positions, final LayerNorm) over memory-reading layers."""

    def build_encoder_layer(self, cfg):
        return MemoryReadingLayer(cfg)

    def upgrade_state_dict_named(self, state_dict, name):
        return state_dict  # no legacy checkpoints to upgrade (fairseq's version expects encoder layers)

    def forward(self, tokens: Tensor, memory: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """tokens [B,S] (right-padded), memory [B,K,C] -> (hidden [S,B,C], pad_mask [B,S] or None)"""
        pad_mask = tokens.eq(self.padding_idx)
        has_pad = bool(pad_mask.any())
        x, _ = self.forward_embedding(tokens)  # [B,S,C]
        if has_pad:
            x = x * (1 - pad_mask.unsqueeze(-1).type_as(x))
        x = x.transpose(0, 1)  # [S,B,C]
        slots = memory.transpose(0, 1)  # [K,B,C]
        for layer in self.layers:
            x = layer.read(x, pad_mask if has_pad else None, slots)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x, (pad_mask if has_pad else None)


class PerHypothesisCrossAttention(MultiheadAttention):
    """Cross-attention whose cached keys/values [B,...] are reordered like any other per-hypothesis state."""

    def set_beam_size(self, beam_size):
        pass  # fairseq's beamable form shares keys across a beam; Memformer's hypotheses have their own

    def reorder_incremental_state(self, incremental_state: Dict[str, Dict[str, Optional[Tensor]]], new_order: Tensor):
        buffer = self._get_input_buffer(incremental_state)
        if buffer:
            incremental_state = self._set_input_buffer(incremental_state, reorder_rows(buffer, new_order))
        return incremental_state


class SegmentDecoderLayer(TransformerDecoderLayerBase):
    def build_encoder_attention(self, embed_dim, cfg):
        return PerHypothesisCrossAttention(
            embed_dim,
            cfg.decoder.attention_heads,
            kdim=cfg.encoder.embed_dim,
            vdim=cfg.encoder.embed_dim,
            dropout=cfg.attention_dropout,
            encoder_decoder_attention=True,
            q_noise=self.quant_noise,
            qn_block_size=self.quant_noise_block_size,
        )


class SegmentDecoder(TransformerDecoderBase):
    def build_decoder_layer(self, cfg, no_encoder_attn=False):
        return SegmentDecoderLayer(cfg, no_encoder_attn)
