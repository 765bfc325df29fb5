"""MemSizer's fairseq models: ``memsizer_lm``, a decoder-only LM whose self-attention is causal MemSizer, and
``memsizer_transformer``, an encoder-decoder translation model with MemSizer in the roles named by
``--memsizer-roles`` (default: decoder self-attention and cross-attention, softmax encoder, as the official WMT
EN-DE recipe).

LM presets: ``memsizer_lm`` (fairseq's transformer_lm size), ``memsizer_lm_big`` (transformer_lm_big) and
``memsizer_lm_wiki103``, the official WikiText-103 recipe: Baevski & Auli's adaptive-input model at 32 layers
(d 1024, FFN 4096, 8 heads, pre-norm, no final norm), dropout 0.2, LayerDrop 0.2, k 32, init scales 32 / 1.
Train it with --tokens-per-sample 512 (the recipe's blocks).

Translation presets mirror fairseq's transformer, transformer_wmt_en_de and transformer_vaswani_wmt_en_de_big; the
official recipe is the big preset with --share-all-embeddings and the default MemSizer options (decoder k 4, cross
k 32, init scales 8 / 8).
"""
from dataclasses import dataclass

from fairseq.models import register_model
from fairseq.models.transformer import base_architecture, transformer_vaswani_wmt_en_de_big, transformer_wmt_en_de
from fairseq.models.transformer_lm import (
    transformer_lm_baevski_wiki103,
    transformer_lm_big,
)

from ..options.memsizer import MemSizerAttentionBuilder, MemSizerLMConfig, MemSizerTranslationConfig
from .language_model import MemAttnLanguageModel, MemAttnLanguageModelConfig
from .presets import register_presets
from .translation_model import MemAttnTransformerModel


@dataclass
class MemSizerLanguageModelConfig(MemAttnLanguageModelConfig, MemSizerLMConfig):
    pass


@register_model("memsizer_lm", dataclass=MemSizerLanguageModelConfig)
class MemSizerLanguageModel(MemAttnLanguageModel):
    options_dataclass = MemSizerLMConfig
    attention_builder = MemSizerAttentionBuilder.for_lm


@register_model("memsizer_transformer")
class MemSizerTransformerModel(MemAttnTransformerModel):
    options_dataclass = MemSizerTranslationConfig
    attention_builder = MemSizerAttentionBuilder.for_translation


register_presets("memsizer_lm", MemSizerLMConfig, {
    "memsizer_lm_big": (transformer_lm_big, {}),
    # adaptive input/softmax, d 1024, 8 heads, attention/activation dropout 0.1 from fairseq's preset
    "memsizer_lm_wiki103": (transformer_lm_baevski_wiki103, dict(
        decoder_layers=32, dropout=0.2, decoder_layerdrop=0.2, memsizer_slots=32, memsizer_q_init_scale=32.0,
        memsizer_kv_init_scale=1.0)),
})
register_presets("memsizer_transformer", MemSizerTranslationConfig, {
    "memsizer_transformer": (base_architecture, {}),
    "memsizer_transformer_wmt_en_de": (transformer_wmt_en_de, {}),
    "memsizer_transformer_vaswani_wmt_en_de_big": (transformer_vaswani_wmt_en_de_big, {}),
})
