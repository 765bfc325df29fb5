"""Cleaning of parallel training text, with the rules of Moses' clean-corpus-n.perl as fairseq applies them.

fairseq's prepare-wmt14en2de.sh runs ``clean-corpus-n.perl -ratio 1.5 ... 1 250`` on the subword-split text: a
pair survives when both sides have 1 to 250 tokens and neither side is more than 1.5 times longer than the other.
Here the tokens are sentencepiece pieces, counted after encoding (:func:`keep_lengths`); before that,
:func:`clean_pairs` collapses whitespace, drops pairs with an empty side and optionally exact duplicates.
"""
import hashlib
from collections import Counter

MIN_LEN, MAX_LEN, RATIO = 1, 250, 1.5


def normalise(line: str) -> str:
    """``line`` with runs of whitespace (including stray carriage returns) collapsed to single spaces."""
    return " ".join(line.split())


def keep_lengths(src_len: int, tgt_len: int, min_len: int = MIN_LEN, max_len: int = MAX_LEN,
                 ratio: float = RATIO) -> bool:
    """clean-corpus-n's test on a pair of token counts."""
    if not (min_len <= src_len <= max_len and min_len <= tgt_len <= max_len):
        return False
    return src_len <= ratio * tgt_len and tgt_len <= ratio * src_len


def clean_pairs(pairs, dedup: bool = False, stats: Counter = None):
    """Yield the normalised pairs of ``pairs`` with no empty side (and each pair once when ``dedup``).

    ``stats``, when given, counts the pairs ``read`` and those dropped as ``empty`` or ``duplicate``.
    """
    stats = Counter() if stats is None else stats
    seen = set()
    for src, tgt in pairs:
        stats["read"] += 1
        src, tgt = normalise(src), normalise(tgt)
        if not src or not tgt:
            stats["empty"] += 1
            continue
        if dedup:
            key = hashlib.blake2b(f"{src}\t{tgt}".encode(), digest_size=12).digest()
            if key in seen:
                stats["duplicate"] += 1
                continue
            seen.add(key)
        yield src, tgt
