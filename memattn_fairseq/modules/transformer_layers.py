"""fairseq's transformer encoder/decoder with the attention of each role supplied by a builder.

A builder is ``builder(role, embed_dim, cfg) -> nn.Module | None`` with role in {"encoder", "decoder", "cross"};
None keeps fairseq's softmax MultiheadAttention for that role. Everything else (embeddings, layer norms, FFN,
dropout, layerdrop, activation checkpointing) is fairseq's own, reached through its ``build_*`` hooks.
"""
from typing import Callable, Optional

import torch.nn as nn
from fairseq.distributed import fsdp_wrap
from fairseq.models.transformer import TransformerDecoderBase, TransformerEncoderBase
from fairseq.modules.checkpoint_activations import checkpoint_wrapper
from fairseq.modules.transformer_layer import TransformerDecoderLayerBase, TransformerEncoderLayerBase

AttentionBuilder = Callable[[str, int, object], Optional[nn.Module]]


def _capped(max_positions: int, attention_builder, side: str) -> int:
    """fairseq's maximum positions of ``side``, lowered to what the builder's attention accepts (a builder may
    say so with ``max_positions(side)``), so that fairseq caps generation and filters longer inputs itself."""
    limit = getattr(attention_builder, "max_positions", None)
    limit = limit(side) if limit else None
    return max_positions if limit is None else min(max_positions, limit)


def _wrap(layer: nn.Module, cfg) -> nn.Module:
    """Activation checkpointing and FSDP wrapping, as fairseq's own build_*_layer does."""
    checkpoint = cfg.checkpoint_activations
    if checkpoint:
        layer = checkpoint_wrapper(layer, offload_to_cpu=cfg.offload_activations)
    return fsdp_wrap(layer, min_num_params=cfg.min_params_to_wrap if not checkpoint else 0)


class MemAttnEncoderLayer(TransformerEncoderLayerBase):
    def __init__(self, cfg, attention_builder: AttentionBuilder, return_fc: bool = False):
        self.attention_builder = attention_builder  # read by build_self_attention inside super().__init__
        super().__init__(cfg, return_fc=return_fc)

    def build_self_attention(self, embed_dim, cfg):
        return self.attention_builder("encoder", embed_dim, cfg) or super().build_self_attention(embed_dim, cfg)


class MemAttnDecoderLayer(TransformerDecoderLayerBase):
    def __init__(self, cfg, attention_builder: AttentionBuilder, no_encoder_attn: bool = False):
        self.attention_builder = attention_builder
        super().__init__(cfg, no_encoder_attn=no_encoder_attn)

    def build_self_attention(self, embed_dim, cfg, add_bias_kv=False, add_zero_attn=False):
        return self.attention_builder("decoder", embed_dim, cfg) or super().build_self_attention(
            embed_dim, cfg, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn
        )

    def build_encoder_attention(self, embed_dim, cfg):
        return self.attention_builder("cross", embed_dim, cfg) or super().build_encoder_attention(embed_dim, cfg)


class MemAttnEncoder(TransformerEncoderBase):
    def __init__(self, cfg, dictionary, embed_tokens, attention_builder: AttentionBuilder, return_fc=False):
        self.attention_builder = attention_builder
        super().__init__(cfg, dictionary, embed_tokens, return_fc=return_fc)

    def build_encoder_layer(self, cfg):
        return _wrap(MemAttnEncoderLayer(cfg, self.attention_builder, return_fc=self.return_fc), cfg)

    def max_positions(self):
        return _capped(super().max_positions(), self.attention_builder, "encoder")


class MemAttnDecoder(TransformerDecoderBase):
    def __init__(self, cfg, dictionary, embed_tokens, attention_builder: AttentionBuilder, no_encoder_attn=False):
        self.attention_builder = attention_builder
        super().__init__(cfg, dictionary, embed_tokens, no_encoder_attn=no_encoder_attn)

    def build_decoder_layer(self, cfg, no_encoder_attn=False):
        return _wrap(MemAttnDecoderLayer(cfg, self.attention_builder, no_encoder_attn), cfg)

    def max_positions(self):
        return _capped(super().max_positions(), self.attention_builder, "decoder")
