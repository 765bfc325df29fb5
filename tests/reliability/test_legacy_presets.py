"""Presets built from an argparse Namespace, fairseq's legacy path (``fairseq.models.build_model(args, task)`` with
only the flags given), carry the plugin's option defaults."""
import argparse
from types import SimpleNamespace

import fairseq.models
import pytest
from builders import dictionary
from memattn_fairseq.options.abc import AbcLMConfig
from memattn_fairseq.options.memsizer import MemSizerLMConfig

SMALL = dict(decoder_layers=1, decoder_embed_dim=32, decoder_input_dim=32, decoder_output_dim=32,
             decoder_ffn_embed_dim=64, decoder_attention_heads=4, tokens_per_sample=64,
             adaptive_input_cutoff="20,40", adaptive_softmax_cutoff="20,40")  # the wiki103 presets' adaptive input


@pytest.mark.parametrize(
    "arch, options",
    [
        ("abc_lm_big", AbcLMConfig),
        ("abc_lm_wiki103", AbcLMConfig),
        ("memsizer_lm_big", MemSizerLMConfig),
        ("memsizer_lm_wiki103", MemSizerLMConfig),
    ],
)
def test_a_preset_from_a_namespace_has_the_plugin_defaults(arch, options):
    d = dictionary(64)
    args = argparse.Namespace(arch=arch, **SMALL)
    model = fairseq.models.build_model(args, SimpleNamespace(source_dictionary=d, target_dictionary=d))
    defaults = options()
    for name in ("abc_slots", "abc_control", "abc_chunk_size", "memsizer_slots", "memsizer_chunk_size"):
        if hasattr(defaults, name):
            assert getattr(args, name) == getattr(defaults, name), name
    attention = model.decoder.layers[0].self_attn
    expected = getattr(defaults, "abc_slots", None) or getattr(defaults, "memsizer_slots")
    assert attention.num_slots == expected
