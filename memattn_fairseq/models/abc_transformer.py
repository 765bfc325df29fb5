"""``abc_transformer``: an encoder-decoder translation model with ABC in the roles named by ``--abc-roles``.
Presets mirror fairseq's transformer, transformer_wmt_en_de and transformer_vaswani_wmt_en_de_big."""
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import (
    base_architecture,
    transformer_vaswani_wmt_en_de_big,
    transformer_wmt_en_de,
)

from ..options.abc import AbcAttentionBuilder, AbcTranslationConfig
from ..options.defaults import fill_option_defaults
from .translation_model import MemAttnTransformerModel


@register_model("abc_transformer")
class AbcTransformerModel(MemAttnTransformerModel):
    options_dataclass = AbcTranslationConfig

    @classmethod
    def attention_builder(cls, args):
        return AbcAttentionBuilder.for_translation(args)


@register_model_architecture("abc_transformer", "abc_transformer")
def abc_transformer_base(args):
    fill_option_defaults(args, AbcTranslationConfig)
    base_architecture(args)


@register_model_architecture("abc_transformer", "abc_transformer_wmt_en_de")
def abc_transformer_wmt_en_de(args):
    fill_option_defaults(args, AbcTranslationConfig)
    transformer_wmt_en_de(args)


@register_model_architecture("abc_transformer", "abc_transformer_vaswani_wmt_en_de_big")
def abc_transformer_vaswani_wmt_en_de_big(args):
    fill_option_defaults(args, AbcTranslationConfig)
    transformer_vaswani_wmt_en_de_big(args)
