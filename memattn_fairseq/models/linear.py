"""Linear attention's fairseq models: ``linear_lm``, a decoder-only LM whose self-attention is causal linear
attention, and ``linear_transformer``, an encoder-decoder translation model with linear attention in the roles named
by ``--linear-roles`` (default: decoder self-attention and cross-attention). Presets mirror fairseq's."""
from dataclasses import dataclass

from fairseq.models import register_model
from fairseq.models.transformer import base_architecture

from ..options.linear import LinearAttentionBuilder, LinearLMConfig, LinearTranslationConfig
from .language_model import MemAttnLanguageModel, MemAttnLanguageModelConfig
from .presets import register_presets
from .translation_model import MemAttnTransformerModel


@dataclass
class LinearLanguageModelConfig(MemAttnLanguageModelConfig, LinearLMConfig):
    pass


@register_model("linear_lm", dataclass=LinearLanguageModelConfig)
class LinearLanguageModel(MemAttnLanguageModel):
    options_dataclass = LinearLMConfig
    attention_builder = LinearAttentionBuilder.for_lm


@register_model("linear_transformer")
class LinearTransformerModel(MemAttnTransformerModel):
    options_dataclass = LinearTranslationConfig
    attention_builder = LinearAttentionBuilder.for_translation


register_presets("linear_transformer", LinearTranslationConfig, {"linear_transformer": (base_architecture, {})})
