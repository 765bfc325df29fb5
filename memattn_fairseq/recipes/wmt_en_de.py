"""WMT EN-DE for fairseq translation: statmt.org corpora, cleaned, one joint sentencepiece BPE, binarised.

Follows fairseq's examples/translation/prepare-wmt14en2de.sh in its corpora (Europarl v7, CommonCrawl, News
Commentary) and its cleaning (1 to 250 subword tokens per side, length ratio at most 1.5), with one joint
sentencepiece BPE model in place of Moses tokenisation and subword-nmt. Dev is newstest2013, test the full
newstest2014, both taken from the SGM files of statmt's dev and test archives and left uncleaned.

Output in --dest: the `fairseq-preprocess --joined-dictionary` binarisation (en -> de), spm.model, and
raw/{valid,test}.{en,de}: the plain text of the binarised dev and test sets, line by line, for scoring.
"""
import logging
import shutil
from collections import Counter
from itertools import chain, islice
from pathlib import Path

from ..errors import ConfigError
from . import smoke_corpora, text_sentencepiece, wmt_sources
from .download import fetch_all, with_checksums_of
from .text_cli import parse, positive_int, recipe_parser
from .text_preprocess import fairseq_preprocess
from .wmt_clean import clean_pairs, keep_lengths
from .wmt_files import extract, open_text, read_pairs, read_segments, write_pairs
from .wmt_sources import SRC, TGT

log = logging.getLogger(__name__)

BPE_SIZE, SMOKE_BPE_SIZE = 32000, 400
BATCH = 100_000


def encode_pairs(model, pairs, prefix: Path, threads: int, clean: bool) -> int:
    """Write the pieces of ``pairs`` to ``prefix.{en,de}`` (with ``clean``, only pairs of acceptable lengths)."""
    pairs, kept = iter(pairs), 0
    with open_text(Path(f"{prefix}.{SRC}"), "w") as fs, open_text(Path(f"{prefix}.{TGT}"), "w") as ft:
        while batch := list(islice(pairs, BATCH)):
            src = text_sentencepiece.encode(model, (s for s, _ in batch), threads)
            tgt = text_sentencepiece.encode(model, (t for _, t in batch), threads)
            for s, t in zip(src, tgt):
                if not clean or keep_lengths(len(s), len(t)):
                    fs.write(" ".join(s) + "\n")
                    ft.write(" ".join(t) + "\n")
                    kept += 1
    return kept


def write_raw(sgm: wmt_sources.SgmPair, archive: Path, work: Path, prefix: Path) -> int:
    """Extract the sentences of a dev/test set to ``prefix.{en,de}``; their number."""
    files = extract(archive, [sgm.src, sgm.ref], work)
    src, tgt = (read_segments(files[member], f"{archive.name}:{member}") for member in (sgm.src, sgm.ref))
    if len(src) != len(tgt):
        raise ConfigError(f"{archive.name}: {sgm.src} has {len(src)} segments but {sgm.ref} has {len(tgt)}")
    return write_pairs(zip(src, tgt), prefix)


def build_parser():
    parser = recipe_parser("wmt_en_de", __doc__, "wmt_en_de", "wmt16_en_de")
    parser.add_argument("--bpe-size", type=positive_int, metavar="N",
                        help=f"pieces of the joint sentencepiece model (default {BPE_SIZE}, smoke: {SMOKE_BPE_SIZE})")
    parser.add_argument("--news-commentary", choices=sorted(wmt_sources.NEWS_COMMENTARY), default="v11",
                        help="News Commentary release: v9 (WMT'14, fairseq's --icml17 data), v11 (WMT'16, the corpora of "
                             "Google's wmt16_en_de that fairseq's Scaling NMT recipe uses; default), v12 (WMT'17, "
                             "fairseq's default)")
    parser.add_argument("--spm-sentences", type=positive_int, default=2_000_000, metavar="N",
                        help="train sentencepiece on a random sample of at most N sentences of both languages "
                             "(bounds its memory; default 2000000)")
    parser.add_argument("--dedup", action="store_true",
                        help="also drop exact duplicate training pairs (fairseq's recipe keeps them)")
    return parser


def main(argv=None) -> None:
    args = parse(build_parser(), argv)
    sources, mirror = wmt_sources.sources(args.news_commentary), args.mirror
    if args.smoke:
        stand_ins = smoke_corpora.wmt_archives(args.downloads / "smoke-mirror", args.news_commentary)
        sources = [with_checksums_of(s, stand_ins[s.name]) for s in sources]
        mirror = (args.downloads / "smoke-mirror").resolve().as_uri()
    archives = fetch_all(sources, args.downloads, mirror)

    work, raw = args.dest / "work", args.dest / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, sgm in (("valid", wmt_sources.VALID), ("test", wmt_sources.TEST)):
        log.info("%s: %d sentence pairs from %s", split, write_raw(sgm, archives[sgm.archive.name], work / "orig",
                                                                  raw / split), sgm.archive.name)

    corpora = []
    for corpus in wmt_sources.training_corpora(args.news_commentary):
        files = extract(archives[corpus.archive.name], [corpus.member(SRC), corpus.member(TGT)], work / "orig")
        corpora.append(read_pairs(files[corpus.member(SRC)], files[corpus.member(TGT)]))
    stats = Counter()
    write_pairs(clean_pairs(chain(*corpora), args.dedup, stats), work / "clean")
    log.info("training text: %d pairs read, %d with an empty side and %d duplicates dropped", stats["read"],
             stats["empty"], stats["duplicate"])

    bpe_size = args.bpe_size or (SMOKE_BPE_SIZE if args.smoke else BPE_SIZE)
    model = text_sentencepiece.train([work / f"clean.{SRC}", work / f"clean.{TGT}"], args.dest / "spm", bpe_size,
                                     args.spm_sentences, args.workers)
    kept = encode_pairs(model, read_pairs(work / f"clean.{SRC}", work / f"clean.{TGT}"), work / "train",
                        args.workers, clean=True)
    log.info("train: %d pairs kept with 1-250 pieces a side and a length ratio of at most 1.5", kept)
    for split in ("valid", "test"):
        encode_pairs(model, read_pairs(raw / f"{split}.{SRC}", raw / f"{split}.{TGT}"), work / split, args.workers,
                     clean=False)

    fairseq_preprocess("--source-lang", SRC, "--target-lang", TGT, "--trainpref", work / "train",
                       "--validpref", work / "valid", "--testpref", work / "test", "--destdir", args.dest,
                       "--joined-dictionary", "--workers", args.workers)
    shutil.rmtree(work)
    log.info("WMT EN-DE is ready in %s (sentencepiece model %s)", args.dest, args.dest / "spm.model")


if __name__ == "__main__":
    main()
