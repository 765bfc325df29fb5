"""ABC's fairseq models: ``abc_lm``, a decoder-only LM whose self-attention is ABC (presets mirror fairseq's
transformer_lm), and ``abc_transformer``, an encoder-decoder translation model with ABC in the roles named by
``--abc-roles`` (presets mirror fairseq's transformer, transformer_wmt_en_de and transformer_vaswani_wmt_en_de_big).
"""
from dataclasses import dataclass

from fairseq.models import register_model
from fairseq.models.transformer import base_architecture, transformer_vaswani_wmt_en_de_big, transformer_wmt_en_de
from fairseq.models.transformer_lm import (
    transformer_lm_baevski_wiki103,
    transformer_lm_big,
)

from ..errors import check
from ..options.abc import AbcAttentionBuilder, AbcLMConfig, AbcTranslationConfig
from .language_model import MemAttnLanguageModel, MemAttnLanguageModelConfig
from .presets import register_presets
from .translation_model import MemAttnTransformerModel


@dataclass
class AbcLanguageModelConfig(MemAttnLanguageModelConfig, AbcLMConfig):
    pass


@register_model("abc_lm", dataclass=AbcLanguageModelConfig)
class AbcLanguageModel(MemAttnLanguageModel):
    options_dataclass = AbcLMConfig
    attention_builder = AbcAttentionBuilder.for_lm

    @classmethod
    def validate(cls, args, task):
        if str(args.abc_control) == "linformer":
            limit = args.abc_linformer_max_len or args.max_target_positions
            length = getattr(args, "tokens_per_sample", None) or 0
            check(length <= limit, f"--tokens-per-sample={length} exceeds the Linformer control's maximum "
                                   f"length {limit} (--abc-linformer-max-len)")


@register_model("abc_transformer")
class AbcTransformerModel(MemAttnTransformerModel):
    options_dataclass = AbcTranslationConfig
    attention_builder = AbcAttentionBuilder.for_translation


register_presets("abc_lm", AbcLMConfig, {
    "abc_lm_big": (transformer_lm_big, {}),
    "abc_lm_wiki103": (transformer_lm_baevski_wiki103, {}),
})
register_presets("abc_transformer", AbcTranslationConfig, {
    "abc_transformer": (base_architecture, {}),
    "abc_transformer_wmt_en_de": (transformer_wmt_en_de, {}),
    "abc_transformer_vaswani_wmt_en_de_big": (transformer_vaswani_wmt_en_de_big, {}),
})
