"""Tiny models for module and model tests, built in-process (no CLI)."""
from memattn_fairseq import model_factory

TINY = dict(
    encoder_layers=2, decoder_layers=2, encoder_embed_dim=32, decoder_embed_dim=32, decoder_input_dim=32,
    decoder_output_dim=32, encoder_ffn_embed_dim=64, decoder_ffn_embed_dim=64, encoder_attention_heads=4,
    decoder_attention_heads=4, dropout=0.0, attention_dropout=0.0, tokens_per_sample=256, max_source_positions=256,
)


def dictionary(size: int = 50):
    return model_factory.dictionary(size)


def build(arch: str, vocab: int = 50, **overrides):
    """Model of a registered arch at TINY size (overridable), in eval mode."""
    return model_factory.build(arch, vocab_size=vocab, **{**TINY, **overrides})
