"""A joint sentencepiece BPE model for both sides of a translation corpus, and encoding text into its pieces."""
import logging
from pathlib import Path

import sentencepiece as spm

from ..errors import ConfigError, check

log = logging.getLogger(__name__)

# CommonCrawl carries stray characters of many scripts; 0.9999 keeps every character that German or English text
# uses in earnest and leaves those strays to <unk> instead of spending vocabulary on them.
CHARACTER_COVERAGE = 0.9999


def train(inputs, prefix: Path, vocab_size: int, max_sentences: int, threads: int,
          seed: int = 1) -> spm.SentencePieceProcessor:
    """Train ``prefix``.model/.vocab on a random sample of at most ``max_sentences`` lines of all ``inputs``."""
    check(max_sentences > 100, f"--spm-sentences {max_sentences}: sentencepiece samples more than 100 sentences")
    log.info("training a %d-piece sentencepiece BPE model on at most %d sentences of %s", vocab_size, max_sentences,
             ", ".join(map(str, inputs)))
    spm.set_random_generator_seed(seed)
    try:
        spm.SentencePieceTrainer.train(
            input=[str(p) for p in inputs], model_prefix=str(prefix), model_type="bpe", vocab_size=vocab_size,
            character_coverage=CHARACTER_COVERAGE, input_sentence_size=max_sentences, shuffle_input_sentence=True,
            num_threads=threads, minloglevel=1)
    except RuntimeError as error:
        if "ocabulary size" not in str(error):
            raise
        raise ConfigError(f"--bpe-size {vocab_size}: {str(error).split('] ', 1)[-1]}") from None
    return spm.SentencePieceProcessor(model_file=f"{prefix}.model")


def encode(model: spm.SentencePieceProcessor, lines, threads: int) -> list:
    """The pieces of each line; a character the model lacks becomes the piece ``<unk>``, never a new type."""
    return model.encode(list(lines), out_type=str, emit_unk_piece=True, num_threads=threads)
