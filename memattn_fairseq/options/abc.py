"""ABC options (flags ``--abc-*``) and the builder that places ABC attention in the chosen roles."""
from dataclasses import dataclass, field
from typing import Optional

from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from ..attention.abc import BIDIRECTIONAL_CONTROLS, CONTROL_INIT_GAIN, CONTROLS
from ..errors import check, flags_named
from ..modules.abc_attention import AbcAttention
from .flags import attention_flags
from .roles import RoleSpec, transformer_roles

CausalControl = ChoiceEnum(list(CONTROLS))
BidirectionalControl = ChoiceEnum(list(BIDIRECTIONAL_CONTROLS))


@dataclass
class AbcCommonConfig(FairseqDataclass):
    abc_linformer_max_len: Optional[int] = field(
        default=None,
        metadata={"help": "longest sequence a linformer control accepts (default: the role's max source/target "
                          "positions); it also caps the model's maximum positions, so fairseq limits generation "
                          "and filters longer inputs"},
    )
    abc_chunk_size: int = field(
        default=64, metadata={"help": "chunk length of the causal training form (memory grows linearly with it)"}
    )
    abc_control_init_gain: float = field(
        default=CONTROL_INIT_GAIN,
        metadata={"help": "xavier gain of the mlp control's projection W_phi: larger starts each slot as a more "
                          "peaked average of the tokens"},
    )


@dataclass
class AbcLMConfig(AbcCommonConfig):
    abc_slots: int = field(default=64, metadata={"help": "memory slots n of each causal self-attention layer"})
    abc_control: CausalControl = field(
        default="mlp", metadata={"help": "how tokens are written to the slots: mlp (ABC_MLP), linformer, window"}
    )


@dataclass
class AbcTranslationConfig(AbcCommonConfig):
    abc_roles: str = field(
        default="encoder,decoder,cross",
        metadata={"help": "comma list of the roles that use ABC (others keep softmax): encoder, decoder, cross"},
    )
    abc_encoder_slots: int = field(default=64, metadata={"help": "slots of encoder self-attention"})
    abc_decoder_slots: int = field(default=64, metadata={"help": "slots of decoder (causal) self-attention"})
    abc_cross_slots: int = field(default=32, metadata={"help": "slots of the compressed source memory"})
    abc_encoder_control: BidirectionalControl = field(default="mlp", metadata={"help": "control of encoder self-attention"})
    abc_decoder_control: CausalControl = field(default="mlp", metadata={"help": "control of decoder self-attention"})
    abc_cross_control: BidirectionalControl = field(default="mlp", metadata={"help": "control of cross-attention"})


class AbcAttentionBuilder:
    """Called by the layers for each role; returns AbcAttention for the roles in ``specs``, else None."""

    def __init__(self, specs, chunk_size: int, linformer_max_len: Optional[int], per_role: bool,
                 control_init_gain: float):
        # None means "the role's maximum positions"; any value given is a length
        check(linformer_max_len is None or linformer_max_len >= 1,
              f"--abc-linformer-max-len must be >= 1, got {linformer_max_len}")
        self.specs, self.chunk_size, self.linformer_max_len = specs, chunk_size, linformer_max_len
        self.per_role, self.control_init_gain = per_role, control_init_gain

    @classmethod
    def for_lm(cls, args):
        spec = RoleSpec(slots=args.abc_slots, control=str(args.abc_control))
        return cls({"decoder": spec}, args.abc_chunk_size, args.abc_linformer_max_len, per_role=False,
                   control_init_gain=args.abc_control_init_gain)

    @classmethod
    def for_translation(cls, args):
        specs = {
            role: RoleSpec(slots=getattr(args, f"abc_{role}_slots"), control=str(getattr(args, f"abc_{role}_control")))
            for role in transformer_roles(args.abc_roles, "--abc-roles", args)
        }
        return cls(specs, args.abc_chunk_size, args.abc_linformer_max_len, per_role=True,
                   control_init_gain=args.abc_control_init_gain)

    def max_positions(self, side: str) -> Optional[int]:
        """The longest sequence the ``side`` ("encoder": the source, "decoder": the target) may have, or None:
        a linformer control accepts --abc-linformer-max-len tokens (the encoder's and the cross role's read the
        source)."""
        roles = ("encoder", "cross") if side == "encoder" else ("decoder",)
        limited = [r for r in roles if r in self.specs and self.specs[r].control == "linformer"]
        return self.linformer_max_len if limited else None

    def __call__(self, role, embed_dim, cfg):
        spec = self.specs.get(role)
        if spec is None:
            return None
        side = cfg.encoder if role == "encoder" else cfg.decoder
        max_positions = cfg.max_target_positions if role == "decoder" else cfg.max_source_positions
        with flags_named(attention_flags("abc", role, self.per_role)):
            return AbcAttention(
                embed_dim,
                side.attention_heads,
                role,
                num_slots=spec.slots,
                control=spec.control,
                dropout=cfg.attention_dropout,
                chunk_size=self.chunk_size,
                max_positions=self.linformer_max_len or max_positions,
                kdim=cfg.encoder.embed_dim if role == "cross" else None,
                control_init_gain=self.control_init_gain,
            )
