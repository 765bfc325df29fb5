"""Presets (``--arch`` names) of the plugin's language and translation models.

A preset is one of fairseq's own presets plus the family's option defaults and the preset's own values. Each is set
only where the config leaves it unset, so it holds however fairseq builds the model: from fairseq-train's argparse
flags, from Hydra YAML that names some fields, or from a Namespace (``fairseq.models.build_model(args, task)``).
"""
from typing import Callable, Dict, Tuple

from fairseq.models import register_model_architecture

from ..options.defaults import fill_option_defaults

Preset = Tuple[Callable, Dict[str, object]]  # fairseq's preset function, the plugin's values


def register_presets(model: str, options_dataclass, presets: Dict[str, Preset]) -> None:
    for arch, (fairseq_preset, values) in presets.items():
        register_model_architecture(model, arch)(_preset(arch, options_dataclass, fairseq_preset, values))


def _preset(arch: str, options_dataclass, fairseq_preset: Callable, values: Dict[str, object]) -> Callable:
    def preset(args):
        for name, value in values.items():
            if getattr(args, name, None) is None:
                setattr(args, name, value)
        fill_option_defaults(args, options_dataclass)
        fairseq_preset(args)

    preset.__name__ = arch
    return preset
