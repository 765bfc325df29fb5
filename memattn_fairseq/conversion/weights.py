"""Which weights of a softmax transformer carry over into a bounded model built with the same architecture.

The bounded model differs from its source only in the attention modules of the converted roles. Every other
tensor (embeddings, FFNs, layer norms, the softmax attention of roles left as they were) has the same name and
shape in both and is copied. Inside a converted attention module, the submodules named by the module's
``softmax_parameters`` (ABC and linear attention: q, k, v and out projections; MemSizer: the value projection) are
copied; the rest keeps the bounded model's own initialisation. The source's other attention tensors are dropped.
"""
from dataclasses import dataclass, field
from typing import Dict, List

import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from ..modules.bounded_attention import BoundedAttention


@dataclass
class Conversion:
    """The converted state dict and what became of each tensor (names as in the state dicts)."""

    state: Dict[str, Tensor]
    copied: List[str] = field(default_factory=list)
    initialised: List[str] = field(default_factory=list)  # the bounded model's own initialisation
    dropped: List[str] = field(default_factory=list)  # source tensors of converted attention with no twin

    def summary(self) -> str:
        return (f"{len(self.copied)} tensors copied, {len(self.initialised)} initialised as the bounded model's "
                f"own, {len(self.dropped)} softmax-attention tensors dropped")


def bounded_attention(model: nn.Module) -> Dict[str, BoundedAttention]:
    """The model's bounded attention modules by name (``decoder.layers.0.self_attn``, ...)."""
    return {name: module for name, module in model.named_modules() if isinstance(module, BoundedAttention)}


def _owner(key: str, attention: Dict[str, BoundedAttention]):
    """(module name, module) of the bounded attention holding ``key``, or (None, None)."""
    for name, module in attention.items():
        if key.startswith(name + "."):
            return name, module
    return None, None


def convert_weights(source: Dict[str, Tensor], target: nn.Module) -> Conversion:
    """The state dict of ``target`` with every shared tensor taken from the softmax ``source`` state dict.

    Raises ConfigError naming the tensors when the source does not match the target's architecture.
    """
    attention = bounded_attention(target)
    conversion = Conversion(state=dict(target.state_dict()))
    missing, mismatched = [], []
    for key, own in conversion.state.items():
        name, module = _owner(key, attention)
        if name is not None and key[len(name) + 1:].split(".")[0] not in module.softmax_parameters:
            conversion.initialised.append(key)
            continue
        if key not in source:
            missing.append(key)
        elif source[key].shape != own.shape:
            mismatched.append(f"{key} {tuple(source[key].shape)} vs {tuple(own.shape)}")
        else:
            conversion.state[key] = source[key].to(own.dtype).clone()
            conversion.copied.append(key)
    copied, unknown = set(conversion.copied), []
    for key in source:
        if key in copied:
            continue
        if _owner(key, attention)[0] is not None:
            conversion.dropped.append(key)
        elif key not in conversion.state:  # (a key in both but not copied is already reported as mismatched)
            unknown.append(key)
    if missing:
        raise ConfigError(f"the source checkpoint lacks {len(missing)} tensors of the converted model, "
                          f"e.g. {missing[0]}")
    if mismatched:
        raise ConfigError(f"the source checkpoint's shapes differ from the converted model's: {mismatched[0]}")
    if unknown:
        raise ConfigError(f"the source checkpoint has {len(unknown)} tensors the converted model has no place for, "
                          f"e.g. {unknown[0]}")
    return conversion
