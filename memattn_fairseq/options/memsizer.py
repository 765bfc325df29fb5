"""MemSizer options (flags ``--memsizer-*``) and the builder that places MemSizer attention in the chosen roles.

The defaults are the official recipes' values (put here rather than in the presets, so a bare ``--arch`` gets
them): LM k 32 with init scales 32 / 1; translation decoder k 4, cross k 32, init scales 8 / 8, and MemSizer in
the decoder only (softmax encoder). An encoder in MemSizer uses k 32, as the official code's encoder does.
"""
from dataclasses import dataclass, field
from typing import Dict

from fairseq.dataclass import FairseqDataclass

from ..errors import flags_named
from ..modules.memsizer_attention import MemSizerAttention
from .flags import attention_flags
from .roles import transformer_roles


@dataclass
class MemSizerCommonConfig(FairseqDataclass):
    memsizer_chunk_size: int = field(
        default=64, metadata={"help": "chunk length of the causal training form (memory grows linearly with it)"}
    )
    memsizer_output_projection: bool = field(
        default=False, metadata={"help": "add an output projection after each MemSizer read (as softmax attention "
                                         "has; not in the paper or the official code)"}
    )
    memsizer_per_head_read: bool = field(
        default=False, metadata={"help": "each head reads its own columns of the value memory with its own slot "
                                         "distribution, instead of one read of the heads' averaged distributions "
                                         "(not in the paper or the official code)"}
    )


@dataclass
class MemSizerLMConfig(MemSizerCommonConfig):
    memsizer_slots: int = field(default=32, metadata={"help": "key-memory slots k of each causal self-attention layer"})
    memsizer_q_init_scale: float = field(
        default=32.0, metadata={"help": "init scale of the key memory Phi (xavier gain scale^-1/2)"}
    )
    memsizer_kv_init_scale: float = field(
        default=1.0, metadata={"help": "init scale of W_l and W_r (xavier gain scale^-1/2)"}
    )


@dataclass
class MemSizerTranslationConfig(MemSizerCommonConfig):
    memsizer_roles: str = field(
        default="decoder,cross",
        metadata={"help": "comma list of the roles that use MemSizer (others keep softmax): encoder, decoder, cross"},
    )
    memsizer_encoder_slots: int = field(default=32, metadata={"help": "key-memory slots k of encoder self-attention"})
    memsizer_decoder_slots: int = field(default=4, metadata={"help": "key-memory slots k of decoder self-attention"})
    memsizer_cross_slots: int = field(default=32, metadata={"help": "key-memory slots k of cross-attention"})
    memsizer_q_init_scale: float = field(
        default=8.0, metadata={"help": "init scale of the key memory Phi (xavier gain scale^-1/2)"}
    )
    memsizer_kv_init_scale: float = field(
        default=8.0, metadata={"help": "init scale of W_l and W_r (xavier gain scale^-1/2)"}
    )


class MemSizerAttentionBuilder:
    """Called by the layers for each role; returns MemSizerAttention for the roles in ``slots``, else None.

    ``slots`` maps a role to its k. Slots, chunk size and init scales are checked by MemSizerAttention itself when
    the first layer is built (one check, shared with direct use of the module).
    """

    def __init__(self, slots: Dict[str, int], chunk_size: int, q_init_scale: float, kv_init_scale: float,
                 per_role: bool, output_projection: bool = False, per_head_read: bool = False):
        self.slots, self.chunk_size = slots, chunk_size
        self.q_init_scale, self.kv_init_scale = q_init_scale, kv_init_scale
        self.per_role, self.output_projection, self.per_head_read = per_role, output_projection, per_head_read

    @classmethod
    def for_lm(cls, args):
        return cls({"decoder": args.memsizer_slots}, args.memsizer_chunk_size, args.memsizer_q_init_scale,
                   args.memsizer_kv_init_scale, per_role=False,
                   output_projection=getattr(args, "memsizer_output_projection", False),
                   per_head_read=getattr(args, "memsizer_per_head_read", False))

    @classmethod
    def for_translation(cls, args):
        roles = transformer_roles(args.memsizer_roles, "--memsizer-roles", args)
        slots = {role: getattr(args, f"memsizer_{role}_slots") for role in roles}
        return cls(slots, args.memsizer_chunk_size, args.memsizer_q_init_scale, args.memsizer_kv_init_scale,
                   per_role=True, output_projection=getattr(args, "memsizer_output_projection", False),
                   per_head_read=getattr(args, "memsizer_per_head_read", False))

    def __call__(self, role, embed_dim, cfg):
        if role not in self.slots:
            return None
        side = cfg.encoder if role == "encoder" else cfg.decoder
        with flags_named(attention_flags("memsizer", role, self.per_role)):
            return MemSizerAttention(
                embed_dim,
                side.attention_heads,
                role,
                num_slots=self.slots[role],
                dropout=cfg.attention_dropout,
                chunk_size=self.chunk_size,
                q_init_scale=self.q_init_scale,
                kv_init_scale=self.kv_init_scale,
                kdim=cfg.encoder.embed_dim if role == "cross" else None,
                output_projection=self.output_projection,
                per_head_read=self.per_head_read,
            )
