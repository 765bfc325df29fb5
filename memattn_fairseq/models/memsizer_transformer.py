"""``memsizer_transformer``: an encoder-decoder translation model with MemSizer in the roles named by
``--memsizer-roles`` (default: decoder self-attention and cross-attention, softmax encoder, as the official WMT
EN-DE recipe). Presets mirror fairseq's transformer, transformer_wmt_en_de and transformer_vaswani_wmt_en_de_big;
the official recipe is the big preset with --share-all-embeddings and the default MemSizer options
(decoder k 4, cross k 32, init scales 8 / 8)."""
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import (
    base_architecture,
    transformer_vaswani_wmt_en_de_big,
    transformer_wmt_en_de,
)

from ..options.memsizer import MemSizerAttentionBuilder, MemSizerTranslationConfig
from ..options.defaults import fill_option_defaults
from .translation_model import MemAttnTransformerModel


@register_model("memsizer_transformer")
class MemSizerTransformerModel(MemAttnTransformerModel):
    options_dataclass = MemSizerTranslationConfig

    @classmethod
    def attention_builder(cls, args):
        return MemSizerAttentionBuilder.for_translation(args)


@register_model_architecture("memsizer_transformer", "memsizer_transformer")
def memsizer_transformer_base(args):
    fill_option_defaults(args, MemSizerTranslationConfig)
    base_architecture(args)


@register_model_architecture("memsizer_transformer", "memsizer_transformer_wmt_en_de")
def memsizer_transformer_wmt_en_de(args):
    fill_option_defaults(args, MemSizerTranslationConfig)
    transformer_wmt_en_de(args)


@register_model_architecture("memsizer_transformer", "memsizer_transformer_vaswani_wmt_en_de_big")
def memsizer_transformer_vaswani_wmt_en_de_big(args):
    fill_option_defaults(args, MemSizerTranslationConfig)
    transformer_vaswani_wmt_en_de_big(args)
