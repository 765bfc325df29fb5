"""Base of the plugin's translation models: fairseq's (argparse) TransformerModel with a pluggable attention
builder. Plugin options come from a FairseqDataclass (``options_dataclass``) and become ``--flags``."""
import argparse

from fairseq.dataclass.utils import gen_parser_from_dataclass
from fairseq.models.transformer import TransformerModel
from omegaconf import OmegaConf

from ..modules.transformer_layers import MemAttnDecoder, MemAttnEncoder
from ..options.defaults import fill_option_defaults
from ..options.recompute import RecomputeConfig, apply_recompute


class MemAttnTransformerModel(TransformerModel):
    options_dataclass = None  # set by subclasses

    @classmethod
    def hub_models(cls):
        # fairseq's list names its own softmax checkpoints; from_pretrained takes a local directory here
        return {}

    @classmethod
    def attention_builder(cls, args):
        raise NotImplementedError

    @classmethod
    def add_args(cls, parser):
        super().add_args(parser)
        gen_parser_from_dataclass(parser, cls.options_dataclass())
        gen_parser_from_dataclass(parser, RecomputeConfig())

    @classmethod
    def build_model(cls, args, task):
        if OmegaConf.is_config(args):  # fairseq-hydra-train: plain namespace, so every key reaches the layers
            args = argparse.Namespace(**OmegaConf.to_container(args, resolve=True))
        fill_option_defaults(args, cls.options_dataclass)
        cls.attention_builder(args)  # checks the roles before any layer is built (the modules check the rest)
        return apply_recompute(super().build_model(args, task), args)

    @classmethod
    def build_encoder(cls, args, src_dict, embed_tokens):
        return MemAttnEncoder(args, src_dict, embed_tokens, cls.attention_builder(args))

    @classmethod
    def build_decoder(cls, args, tgt_dict, embed_tokens):
        return MemAttnDecoder(
            args, tgt_dict, embed_tokens, cls.attention_builder(args), no_encoder_attn=args.no_cross_attention
        )
