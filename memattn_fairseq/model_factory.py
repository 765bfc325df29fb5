"""Build any registered fairseq model in-process from an arch name and overrides, without a task or data.

Used by the benchmark and the tests: ``build("abc_lm", vocab_size=10000, decoder_layers=6, abc_slots=64)``.
The arch function fills every field not given, as ``--arch`` does on the command line.
"""
import argparse
from dataclasses import MISSING, fields
from types import SimpleNamespace

from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_DATACLASS_REGISTRY

from .errors import check


def dictionary(vocab_size: int) -> Dictionary:
    """A dictionary of ``vocab_size`` entries in all (fairseq's 4 specials included)."""
    d = Dictionary()
    for i in range(vocab_size - len(d)):
        d.add_symbol(f"w{i}")
    return d


def _dataclass_defaults(dc) -> dict:
    values = {}
    for fld in fields(dc):
        if fld.default is not MISSING:
            value = fld.default
        elif fld.default_factory is not MISSING:
            value = fld.default_factory()
        else:
            value = None
        values[fld.name] = None if isinstance(value, str) and value.startswith("${") else value  # interpolations
    return values


def build(arch: str, vocab_size: int = 64, **overrides):
    """Model of a registered arch in eval mode; ``overrides`` are model fields (``decoder_layers=2``, ...)."""
    check(arch in ARCH_MODEL_REGISTRY, f"unknown arch {arch!r}")
    model_cls = ARCH_MODEL_REGISTRY[arch]
    values = {}
    for name, dc in MODEL_DATACLASS_REGISTRY.items():
        if ARCH_MODEL_REGISTRY.get(name) is model_cls:
            values.update(_dataclass_defaults(dc))
    values.update(tokens_per_sample=1024, max_target_positions=None, max_source_positions=1024, arch=arch)
    values.update(overrides)
    args = argparse.Namespace(**values)
    ARCH_CONFIG_REGISTRY[arch](args)
    d = dictionary(vocab_size)
    task = SimpleNamespace(source_dictionary=d, target_dictionary=d, dictionary=d, args=args)
    return model_cls.build_model(args, task).eval()
