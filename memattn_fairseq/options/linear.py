"""Linear-attention options (flags ``--linear-*``) and the builder that places linear attention in the chosen roles."""
from dataclasses import dataclass, field
from typing import Tuple

from fairseq.dataclass import FairseqDataclass

from ..errors import flags_named
from ..modules.linear_attention import LinearAttention
from .flags import attention_flags
from .roles import transformer_roles


@dataclass
class LinearLMConfig(FairseqDataclass):
    linear_chunk_size: int = field(
        default=64, metadata={"help": "chunk length of the causal training form (memory grows linearly with it)"}
    )


@dataclass
class LinearTranslationConfig(LinearLMConfig):
    linear_roles: str = field(
        default="decoder,cross",
        metadata={"help": "comma list of the roles that use linear attention (others keep softmax): encoder, "
                          "decoder, cross"},
    )


class LinearAttentionBuilder:
    """Called by the layers for each role; returns LinearAttention for the roles in ``roles``, else None."""

    def __init__(self, roles: Tuple[str, ...], chunk_size: int):
        self.roles, self.chunk_size = roles, chunk_size

    @classmethod
    def for_lm(cls, args):
        return cls(("decoder",), args.linear_chunk_size)

    @classmethod
    def for_translation(cls, args):
        return cls(transformer_roles(args.linear_roles, "--linear-roles", args), args.linear_chunk_size)

    def __call__(self, role, embed_dim, cfg):
        if role not in self.roles:
            return None
        side = cfg.encoder if role == "encoder" else cfg.decoder
        with flags_named(attention_flags("linear", role, per_role=False)):
            return LinearAttention(embed_dim, side.attention_heads, role, chunk_size=self.chunk_size,
                                   kdim=cfg.encoder.embed_dim if role == "cross" else None)
