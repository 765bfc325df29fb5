"""Every YAML preset under configs/model/ agrees with the preset it spells out for fairseq-hydra-train (which does
not run the arch functions of dataclass models): each value equals what ``--arch <file name>`` gives fairseq-train,
or, for a YAML-only variant (``abc_lm_linformer``), what its ``_name`` gives outside the options it changes."""
import argparse
import glob
import os

import pytest
from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY, MODEL_DATACLASS_REGISTRY
from fairseq.models.transformer_lm import TransformerLanguageModel, base_lm_architecture
from omegaconf import OmegaConf

from memattn_fairseq.options.defaults import fill_option_defaults

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "configs", "model")
YAMLS = sorted(glob.glob(os.path.join(CONFIGS, "*.yaml")))
RECIPE_FLAGS = {"share_all_embeddings"}  # the WMT recipes share embeddings where fairseq's preset does not
FAMILIES = ("abc_", "memsizer_", "memformer_", "linear_")


def preset_values(arch: str) -> dict:
    """What ``--arch arch`` gives under fairseq-train: the arch function, an LM's base_lm_architecture at build
    time, then the model's dataclass defaults for anything still unset."""
    args = argparse.Namespace()
    ARCH_CONFIG_REGISTRY[arch](args)
    model = ARCH_MODEL_REGISTRY[arch]
    if issubclass(model, TransformerLanguageModel):
        base_lm_architecture(args)
    for name, dataclass in MODEL_DATACLASS_REGISTRY.items():
        if ARCH_MODEL_REGISTRY.get(name) is model:
            fill_option_defaults(args, dataclass)
    return vars(args)


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: os.path.basename(p)[:-5])
def test_yaml_preset_agrees_with_its_arch(path):
    stem = os.path.basename(path)[: -len(".yaml")]
    yaml = OmegaConf.to_container(OmegaConf.load(path))
    name = yaml.pop("_name")
    assert name in ARCH_MODEL_REGISTRY, f"{stem}.yaml: _name {name} is not registered"
    variant = stem not in ARCH_CONFIG_REGISTRY
    expected = preset_values(name if variant else stem)
    for key, value in yaml.items():
        if key in RECIPE_FLAGS or (variant and key.startswith(FAMILIES)):
            continue
        assert key in expected and str(value) == str(expected[key]), f"{stem}.yaml: {key}={value}, " \
                                                                     f"preset {expected.get(key)}"


def test_every_preset_of_the_plugin_has_a_yaml_twin():
    """memformer_lm's base arch is reached through configs/memformer_lm.yaml (model: memformer_lm_small)."""
    plugin = {arch for arch, model in ARCH_MODEL_REGISTRY.items() if model.__module__.startswith("memattn_fairseq")}
    twins = {os.path.basename(p)[: -len(".yaml")] for p in YAMLS}
    assert plugin - {"memformer_lm"} <= twins, sorted(plugin - twins)
