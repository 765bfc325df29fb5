"""Build plugin and baseline models in-process (no CLI), with tiny sizes, for module and model tests."""
import argparse
from dataclasses import MISSING, fields
from types import SimpleNamespace

from fairseq.data import Dictionary
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_DATACLASS_REGISTRY

TINY = dict(
    encoder_layers=2, decoder_layers=2, encoder_embed_dim=32, decoder_embed_dim=32, decoder_input_dim=32,
    decoder_output_dim=32, encoder_ffn_embed_dim=64, decoder_ffn_embed_dim=64, encoder_attention_heads=4,
    decoder_attention_heads=4, dropout=0.0, attention_dropout=0.0,
)


def dictionary(size: int = 50) -> Dictionary:
    d = Dictionary()
    for i in range(size):
        d.add_symbol(f"w{i}")
    return d


def _dataclass_defaults(dc) -> dict:
    values = {}
    for fld in fields(dc):
        value = fld.default if fld.default is not MISSING else (
            fld.default_factory() if fld.default_factory is not MISSING else None)
        values[fld.name] = None if isinstance(value, str) and value.startswith("${") else value
    return values


def build(arch: str, vocab: int = 50, **overrides):
    """Model of a registered arch at TINY size (overridable), in eval mode."""
    d = dictionary(vocab)
    model_cls = ARCH_MODEL_REGISTRY[arch]
    values = {}
    model_name = next((n for n, c in MODEL_DATACLASS_REGISTRY.items() if n in (arch,)), None)
    if model_name:
        values.update(_dataclass_defaults(MODEL_DATACLASS_REGISTRY[model_name]))
    values.update({k: v for k, v in TINY.items()})
    values.update(tokens_per_sample=256, max_target_positions=None, max_source_positions=256, arch=arch)
    values.update(overrides)
    args = argparse.Namespace(**values)
    ARCH_CONFIG_REGISTRY[arch](args)
    task = SimpleNamespace(source_dictionary=d, target_dictionary=d, args=args)
    return model_cls.build_model(args, task).eval()
