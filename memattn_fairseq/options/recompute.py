"""The one option every bounded-attention model shares (flag ``--attention-recompute``), and where it is applied."""
from dataclasses import dataclass, field

from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from torch import nn

from ..errors import check
from ..modules.bounded_attention import set_recompute

RECOMPUTE_CHOICES = ("on", "off")


@dataclass
class RecomputeConfig(FairseqDataclass):
    attention_recompute: ChoiceEnum(list(RECOMPUTE_CHOICES)) = field(
        default="on", metadata={"help": "on: the causal attention forms recompute their chunk tensors in the backward "
                                        "pass instead of keeping them (less memory per layer, more time); off: keep "
                                        "them"})


def apply_recompute(model: nn.Module, args) -> nn.Module:
    """Sets ``args.attention_recompute`` (default on) on every bounded attention of ``model``; returns the model."""
    value = str(getattr(args, "attention_recompute", None) or "on")
    check(value in RECOMPUTE_CHOICES, f"--attention-recompute must be on or off, got {value!r}")
    set_recompute(model, value == "on")
    return model
