"""``memsizer_lm``: a decoder-only language model whose self-attention is causal MemSizer.

Presets: ``memsizer_lm`` (fairseq's transformer_lm size), ``memsizer_lm_big`` (transformer_lm_big) and
``memsizer_lm_wiki103``, the official WikiText-103 recipe: Baevski & Auli's adaptive-input model at 32 layers
(d 1024, FFN 4096, 8 heads, pre-norm, no final norm), dropout 0.2, LayerDrop 0.2, k 32, init scales 32 / 1.
Train it with --tokens-per-sample 512 (the recipe's blocks).
"""
from dataclasses import dataclass

from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer_lm import (
    TransformerLanguageModelConfig,
    transformer_lm_baevski_wiki103,
    transformer_lm_big,
)

from ..options.defaults import fill_option_defaults
from ..options.memsizer import MemSizerAttentionBuilder, MemSizerLMConfig
from .language_model import MemAttnLanguageModel


@dataclass
class MemSizerLanguageModelConfig(TransformerLanguageModelConfig, MemSizerLMConfig):
    pass


@register_model("memsizer_lm", dataclass=MemSizerLanguageModelConfig)
class MemSizerLanguageModel(MemAttnLanguageModel):
    @classmethod
    def attention_builder(cls, args):
        return MemSizerAttentionBuilder.for_lm(args)


@register_model_architecture("memsizer_lm", "memsizer_lm_big")
def memsizer_lm_big(args):
    fill_option_defaults(args, MemSizerLMConfig)
    transformer_lm_big(args)


@register_model_architecture("memsizer_lm", "memsizer_lm_wiki103")
def memsizer_lm_wiki103(args):
    args.decoder_layers = getattr(args, "decoder_layers", 32)
    args.dropout = getattr(args, "dropout", 0.2)
    args.decoder_layerdrop = getattr(args, "decoder_layerdrop", 0.2)
    args.memsizer_slots = getattr(args, "memsizer_slots", 32)
    args.memsizer_q_init_scale = getattr(args, "memsizer_q_init_scale", 32.0)
    args.memsizer_kv_init_scale = getattr(args, "memsizer_kv_init_scale", 1.0)
    fill_option_defaults(args, MemSizerLMConfig)  # the options this recipe leaves at their defaults
    transformer_lm_baevski_wiki103(args)  # adaptive input/softmax, d 1024, 8 heads, attention/activation dropout 0.1
