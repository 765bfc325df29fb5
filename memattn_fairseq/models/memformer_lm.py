"""``memformer_lm``: Memformer (Wu et al. 2022) as a fairseq language model over contiguous streams.

Architecture in modules/memformer_decoder.py (recurrence, modes, token convention), memformer_layers.py (encoder
with the memory reader, segment decoder) and memformer_memory.py (writer, forgetting). Train and evaluate it with ``--task memformer_lm``, which feeds each
batch row its own stream and runs the MRBP train step (tasks/memformer_lm_task.py).

Presets (``--arch``):
    memformer_lm, memformer_lm_wiki103  the paper's WikiText-103 model: 4 encoder + 16 decoder layers, d 512,
                                        FFN 2048, 8 heads of 64. The paper does not state its slots, segment
                                        length or temperature; the preset takes K = 1024 (its "memory = 512"
                                        ablation costs fewer FLOPs than the main model, so K > 512), L = 64 (the
                                        first version's segment) and tau = 0.5.
    memformer_lm_small                  1 + 2 layers, d 128, FFN 512, 4 heads, K 32, L 32: for CPU runs.

The encoder's width, FFN and heads follow the decoder's unless given (--encoder-embed-dim, ...).

Fixed choices (documented, not flags): pre-LayerNorm layers (as drawn in the paper); one memory per model (not
per layer), read by every encoder layer and written once on top; positions restart at every segment (no attention
crosses a segment boundary); the encoder and decoder share the token embedding when their widths agree.
"""
import argparse
from dataclasses import dataclass, field
from typing import Optional

from fairseq import utils
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.models import FairseqLanguageModel, register_model
from fairseq.models.transformer import Embedding, TransformerConfig
from fairseq.tasks import TASK_REGISTRY, FairseqTask
from omegaconf import OmegaConf

from ..errors import check, flags_named
from ..modules.memformer_decoder import MemformerDecoder
from ..modules.memformer_memory import MEMORY_NORMS, SELF_VALUES
from ..options.defaults import fill_option_defaults
from ..options.flags import MEMFORMER_FLAGS
from .presets import register_presets


@dataclass
class MemformerLanguageModelConfig(FairseqDataclass):
    activation_fn: ChoiceEnum(utils.get_available_activation_fns()) = field(
        default="relu", metadata={"help": "activation function of the feed-forward blocks"}
    )
    dropout: float = field(default=0.1, metadata={"help": "dropout probability"})
    attention_dropout: float = field(default=0.0, metadata={"help": "dropout on attention weights (writer too)"})
    activation_dropout: float = field(default=0.0, metadata={"help": "dropout after the FFN activation"})
    encoder_layers: int = field(default=4, metadata={"help": "encoder layers (each reads the memory)"})
    encoder_embed_dim: Optional[int] = field(
        default=None, metadata={"help": "encoder width = memory slot width (default: --decoder-embed-dim)"}
    )
    encoder_ffn_embed_dim: Optional[int] = field(
        default=None, metadata={"help": "encoder FFN width (default: --decoder-ffn-embed-dim)"}
    )
    encoder_attention_heads: Optional[int] = field(
        default=None, metadata={"help": "encoder self-attention and reader heads (default: --decoder-attention-heads)"}
    )
    decoder_layers: int = field(default=16, metadata={"help": "decoder layers"})
    decoder_embed_dim: int = field(default=512, metadata={"help": "decoder width"})
    decoder_ffn_embed_dim: int = field(default=2048, metadata={"help": "decoder FFN width"})
    decoder_attention_heads: int = field(default=8, metadata={"help": "decoder self- and cross-attention heads"})
    encoder_learned_pos: bool = field(default=False, metadata={"help": "learned (not sinusoidal) encoder positions"})
    decoder_learned_pos: bool = field(default=False, metadata={"help": "learned (not sinusoidal) decoder positions"})
    no_token_positional_embeddings: bool = field(default=False, metadata={"help": "no positional embeddings"})
    no_scale_embedding: bool = field(default=False, metadata={"help": "do not scale embeddings by sqrt(d)"})
    layernorm_embedding: bool = field(default=False, metadata={"help": "LayerNorm after the embeddings"})
    share_decoder_input_output_embed: bool = field(
        default=False, metadata={"help": "tie the output projection to the token embedding"}
    )
    adaptive_softmax_cutoff: Optional[str] = field(
        default=None, metadata={"help": "comma list of adaptive softmax cutoffs (use with --criterion adaptive_loss)"}
    )
    adaptive_softmax_dropout: float = field(default=0.0, metadata={"help": "dropout in adaptive softmax tails"})
    adaptive_softmax_factor: float = field(default=4, metadata={"help": "adaptive softmax tail shrink factor"})
    encoder_layerdrop: float = field(default=0.0, metadata={"help": "LayerDrop probability of encoder layers"})
    decoder_layerdrop: float = field(default=0.0, metadata={"help": "LayerDrop probability of decoder layers"})
    memformer_slots: int = field(default=1024, metadata={"help": "memory slots K"})
    memformer_segment_length: int = field(
        default=64, metadata={"help": "segment length L; --tokens-per-sample must be a multiple of it"}
    )
    memformer_write_heads: int = field(default=0, metadata={"help": "writer heads (0: --encoder-attention-heads)"})
    memformer_write_temperature: float = field(
        default=0.5, metadata={"help": "temperature tau of the writer's slot attention (< 1 sharpens)"}
    )
    memformer_memory_norm: ChoiceEnum(list(MEMORY_NORMS)) = field(
        default="l2", metadata={"help": "slot normalisation: l2 (unit sphere, the paper) or scaled_l2 (radius sqrt(d))"}
    )
    memformer_no_forgetting: bool = field(
        default=False, metadata={"help": "ablation: do not add the forgetting bias at each write"}
    )
    memformer_no_memory: bool = field(
        default=False, metadata={"help": "ablation (the paper's \"w/o memory\"): never write the memory, so each "
                                         "segment sees only itself and the previous segment"}
    )
    memformer_self_value: ChoiceEnum(list(SELF_VALUES)) = field(
        default="identity", metadata={"help": "a slot's value for itself: identity (the slot, the paper) or projected"}
    )


ENCODER_FOLLOWS_DECODER = ("embed_dim", "ffn_embed_dim", "attention_heads")


def encoder_follows_decoder(args) -> None:
    """The encoder's width, FFN and heads follow the decoder's unless set."""
    for name in ENCODER_FOLLOWS_DECODER:
        if getattr(args, f"encoder_{name}", None) is None:
            setattr(args, f"encoder_{name}", getattr(args, f"decoder_{name}"))


def apply_preset(args, preset: dict) -> None:
    """Give every option that ``args`` leaves unset the preset's value, else the dataclass default; the encoder
    follows the decoder."""
    for name, value in preset.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    fill_option_defaults(args, MemformerLanguageModelConfig)
    encoder_follows_decoder(args)


def _task_name(task) -> str:
    return next((name for name, cls in TASK_REGISTRY.items() if cls is type(task)), type(task).__name__)


@register_model("memformer_lm", dataclass=MemformerLanguageModelConfig)
class MemformerLanguageModel(FairseqLanguageModel):
    @classmethod
    def build_model(cls, args, task):
        if OmegaConf.is_config(args):
            args = argparse.Namespace(**OmegaConf.to_container(args, resolve=True))
        apply_preset(args, {})
        check(not isinstance(task, FairseqTask) or getattr(task, "contiguous_streams", False),
              f"--arch memformer_lm* needs --task memformer_lm (contiguous streams, memory carried across batches); "
              f"got --task {_task_name(task)}")
        cls.validate(args)
        cfg = cls.transformer_config(args)
        dictionary = task.target_dictionary
        embed_tokens = Embedding(len(dictionary), args.decoder_embed_dim, dictionary.pad())
        encoder_embed_tokens = (
            embed_tokens if args.encoder_embed_dim == args.decoder_embed_dim
            else Embedding(len(dictionary), args.encoder_embed_dim, dictionary.pad())
        )
        with flags_named(MEMFORMER_FLAGS):
            decoder = MemformerDecoder(
                cfg,
                dictionary,
                embed_tokens,
                encoder_embed_tokens,
                segment_length=args.memformer_segment_length,
                num_slots=args.memformer_slots,
                write_heads=args.memformer_write_heads or args.encoder_attention_heads,
                write_temperature=args.memformer_write_temperature,
                memory_norm=str(args.memformer_memory_norm),
                forgetting=not args.memformer_no_forgetting,
                self_value=str(args.memformer_self_value),
                memory=not args.memformer_no_memory,
            )
        return cls(decoder)

    @staticmethod
    def validate(args) -> None:
        for side in ("encoder", "decoder"):
            dim, heads = getattr(args, f"{side}_embed_dim"), getattr(args, f"{side}_attention_heads")
            check(heads >= 1 and dim % heads == 0, f"--{side}-attention-heads={heads} does not divide "
                                                   f"--{side}-embed-dim={dim}")
            check(getattr(args, f"{side}_layers") >= 1, f"--{side}-layers must be >= 1")
        check(args.memformer_segment_length >= 1,
              f"--memformer-segment-length must be >= 1, got {args.memformer_segment_length}")

    @staticmethod
    def transformer_config(args) -> TransformerConfig:
        """fairseq's TransformerConfig for the layers: pre-LN, positions up to one segment."""
        args.encoder_normalize_before = args.decoder_normalize_before = True
        args.decoder_input_dim = args.decoder_output_dim = args.decoder_embed_dim
        args.max_source_positions = args.max_target_positions = args.memformer_segment_length
        args.activation_fn = str(args.activation_fn)
        return TransformerConfig.from_namespace(args)

    @property
    def segment_length(self) -> int:
        return self.decoder.segment_length


register_presets("memformer_lm", MemformerLanguageModelConfig, {
    "memformer_lm_wiki103": (encoder_follows_decoder, dict(
        encoder_layers=4, decoder_layers=16, decoder_embed_dim=512, decoder_ffn_embed_dim=2048,
        decoder_attention_heads=8, memformer_slots=1024, memformer_segment_length=64, memformer_write_temperature=0.5)),
    "memformer_lm_small": (encoder_follows_decoder, dict(
        encoder_layers=1, decoder_layers=2, decoder_embed_dim=128, decoder_ffn_embed_dim=512, decoder_attention_heads=4,
        memformer_slots=32, memformer_segment_length=32)),
})
