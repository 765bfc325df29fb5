"""The models compared, all at one width and depth: fairseq's transformer and each plugin model that is registered."""
from dataclasses import dataclass, field
from typing import Dict, List

from fairseq.models import ARCH_MODEL_REGISTRY


@dataclass
class Spec:
    name: str  # column name in the report
    arch: str
    options: Dict[str, object] = field(default_factory=dict)  # plugin options, given the slot count


def lm_specs(slots: int, max_length: int) -> List[Spec]:
    specs = [
        Spec("transformer", "transformer_lm"),
        Spec("abc_mlp", "abc_lm", dict(abc_control="mlp", abc_slots=slots)),
        Spec("abc_linformer", "abc_lm", dict(abc_control="linformer", abc_slots=slots, abc_linformer_max_len=max_length)),
        Spec("abc_window", "abc_lm", dict(abc_control="window", abc_slots=slots)),
        Spec("memsizer", "memsizer_lm", dict(memsizer_slots=slots)),
        Spec("memformer", "memformer_lm", dict(memformer_slots=slots)),
    ]
    return [s for s in specs if s.arch in ARCH_MODEL_REGISTRY]


def mt_specs(slots: int) -> List[Spec]:
    """Translation models with a bounded cross-attention memory (decoder self + cross), beside the transformer."""
    specs = [
        Spec("transformer", "transformer"),
        Spec("abc_mlp", "abc_transformer", dict(abc_roles="decoder,cross", abc_decoder_slots=slots, abc_cross_slots=slots)),
        Spec("memsizer", "memsizer_transformer", dict(memsizer_roles="decoder,cross", memsizer_decoder_slots=slots,
                                                      memsizer_cross_slots=slots)),
    ]
    return [s for s in specs if s.arch in ARCH_MODEL_REGISTRY]
