"""``abc_lm``: a decoder-only language model whose self-attention is ABC (presets mirror fairseq's transformer_lm)."""
from dataclasses import dataclass

from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer_lm import (
    TransformerLanguageModelConfig,
    transformer_lm_baevski_wiki103,
    transformer_lm_big,
)

from ..errors import check
from ..options.abc import AbcAttentionBuilder, AbcLMConfig
from ..options.defaults import fill_option_defaults
from .language_model import MemAttnLanguageModel


@dataclass
class AbcLanguageModelConfig(TransformerLanguageModelConfig, AbcLMConfig):
    pass


@register_model("abc_lm", dataclass=AbcLanguageModelConfig)
class AbcLanguageModel(MemAttnLanguageModel):
    @classmethod
    def attention_builder(cls, args):
        return AbcAttentionBuilder.for_lm(args)

    @classmethod
    def validate(cls, args, task):
        check(args.abc_slots >= 1, f"--abc-slots must be >= 1, got {args.abc_slots}")
        if str(args.abc_control) == "linformer":
            limit = args.abc_linformer_max_len or args.max_target_positions
            length = getattr(args, "tokens_per_sample", None) or 0
            check(length <= limit, f"--tokens-per-sample={length} exceeds the Linformer control's maximum "
                                   f"length {limit} (--abc-linformer-max-len)")



@register_model_architecture("abc_lm", "abc_lm_big")
def abc_lm_big(args):
    fill_option_defaults(args, AbcLMConfig)
    transformer_lm_big(args)


@register_model_architecture("abc_lm", "abc_lm_wiki103")
def abc_lm_wiki103(args):
    fill_option_defaults(args, AbcLMConfig)
    transformer_lm_baevski_wiki103(args)
