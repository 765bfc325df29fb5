"""Base of the plugin's language models: fairseq's TransformerLanguageModel with a pluggable attention builder.

Layers are pre-norm, as fairseq's LM presets build them (``base_lm_architecture``: "not stable without this"),
whatever ``--decoder-normalize-before`` says; ``--decoder-post-norm`` gives the post-norm layout that fairseq's plain
``--arch transformer_lm`` builds (used when a post-norm softmax checkpoint is converted).
"""
from dataclasses import dataclass, field

from fairseq import options
from fairseq.models.transformer import TransformerConfig
from fairseq.models.transformer_lm import TransformerLanguageModel, TransformerLanguageModelConfig, base_lm_architecture
from fairseq.modules import AdaptiveInput

from ..errors import check
from ..modules.transformer_layers import MemAttnDecoder
from ..options.recompute import RecomputeConfig, apply_recompute


@dataclass
class MemAttnLanguageModelConfig(TransformerLanguageModelConfig, RecomputeConfig):
    decoder_post_norm: bool = field(
        default=False, metadata={"help": "post-norm layers without a final norm, as fairseq's --arch transformer_lm "
                                         "(default: pre-norm, as fairseq's LM presets)"})


class MemAttnLanguageModel(TransformerLanguageModel):
    """Subclasses implement ``attention_builder(args)`` (see modules/transformer_layers.py) and name their family's
    options in ``options_dataclass`` (also part of the dataclass they are registered with)."""

    options_dataclass = None  # set by subclasses

    @classmethod
    def hub_models(cls):
        # fairseq's list names its own softmax checkpoints; from_pretrained takes a local directory here
        return {}

    @classmethod
    def attention_builder(cls, args):
        raise NotImplementedError

    @classmethod
    def validate(cls, args, task):
        """Extra build-time checks of the subclass (one-line ConfigError)."""

    @classmethod
    def build_model(cls, args, task):
        base_lm_architecture(args)  # fairseq's LM defaults; it sets pre-norm
        args.decoder_normalize_before = not getattr(args, "decoder_post_norm", False)
        check(not args.character_embeddings, "--character-embeddings is not supported by the memattn models")
        if args.decoder_layers_to_keep:
            args.decoder_layers = len(args.decoder_layers_to_keep.split(","))
        if getattr(args, "max_target_positions", None) is None:
            args.max_target_positions = getattr(args, "tokens_per_sample", 1024)
        cls.validate(args, task)
        builder = cls.attention_builder(args)
        decoder = MemAttnDecoder(
            TransformerConfig.from_namespace(args),
            task.target_dictionary,
            cls.build_input_embedding(args, task),
            builder,
            no_encoder_attn=True,
        )
        return apply_recompute(cls(decoder), args)

    @classmethod
    def build_input_embedding(cls, args, task):
        """Token or adaptive-input embedding, as fairseq's transformer_lm builds it."""
        if not args.adaptive_input:
            return cls.build_embedding(args, task.source_dictionary, args.decoder_input_dim)
        if args.tie_adaptive_weights:
            check(args.adaptive_input_cutoff == args.adaptive_softmax_cutoff,
                  "--tie-adaptive-weights needs --adaptive-input-cutoff equal to --adaptive-softmax-cutoff")
            check(args.adaptive_input_factor == args.adaptive_softmax_factor,
                  "--tie-adaptive-weights needs --adaptive-input-factor equal to --adaptive-softmax-factor")
        return AdaptiveInput(
            len(task.source_dictionary),
            task.source_dictionary.pad(),
            args.decoder_input_dim,
            args.adaptive_input_factor,
            args.decoder_embed_dim,
            options.eval_str_list(args.adaptive_input_cutoff, type=int),
            args.quant_noise_pq,
            args.quant_noise_pq_block_size,
        )
