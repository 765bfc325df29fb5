"""The language-modelling corpus of the quality study: the Linux kernel's Documentation, from Debian's linux-doc.

Source: the Debian package ``linux-doc-6.1`` (bookworm), fetched with ``apt-get download``; its texts are the
reStructuredText and plain-text files of the kernel's ``Documentation/`` tree, under the GPL-2.0 as the package's
copyright file states (some files also under CC-BY-4.0). About 7.6M sentencepiece tokens in all (7.4M for training).

Each file becomes paragraphs, one per line (whitespace collapsed; reST section adornments and table rules dropped).
Whole files go to one split by a stable hash of their path (about 98% train, 1% valid, 1% test), so no document
is in two splits. A sentencepiece BPE model trained on the training split encodes all three, and
``fairseq-preprocess --only-source`` binarises them into --dest, beside spm.model, manifest.tsv (the package and
its SHA-256) and copyright/.

    python -m memattn_fairseq.recipes.kernel_docs [--smoke] [--downloads DIR] [--dest DIR] [--bpe-size N]
"""
import gzip
import hashlib
import json
import logging
import re
from pathlib import Path

from . import debian_packages, text_sentencepiece
from .text_cli import parse, positive_int, recipe_parser
from .text_preprocess import fairseq_preprocess

log = logging.getLogger(__name__)

PACKAGE = "linux-doc-6.1"
SUFFIXES = (".rst.gz", ".txt.gz")
BPE_SIZE, SMOKE_BPE_SIZE = 8000, 300
RULE = re.compile(r"^\s*([=\-~^*#+`:'\"_.|])\1{2,}[\s=\-+|]*$")  # "=====", "-----", "+----+----+"


def paragraphs(text: str):
    """The paragraphs of one document, each on one line, without reST adornments and table rules."""
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if not RULE.match(line)]
        paragraph = " ".join(" ".join(lines).split())
        if sum(c.isalpha() for c in paragraph) >= 3:
            yield paragraph


def split_of(relative_path: str) -> str:
    bucket = int(hashlib.sha1(relative_path.encode()).hexdigest(), 16) % 100
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


def write_splits(documentation: Path, out_dir: Path) -> dict:
    """``out_dir``/{train,valid,test}.txt from every document under ``documentation``; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {split: out_dir / f"{split}.txt" for split in ("train", "valid", "test")}
    files = {split: open(path, "w", encoding="utf-8") for split, path in paths.items()}
    try:
        for doc in sorted(p for p in documentation.rglob("*") if p.name.endswith(SUFFIXES)):
            text = gzip.decompress(doc.read_bytes()).decode("utf-8", errors="replace")
            rows = list(paragraphs(text))
            if rows:
                files[split_of(str(doc.relative_to(documentation)))].write("\n".join(rows) + "\n")
    finally:
        for f in files.values():
            f.close()
    return paths


def encode_file(model, source: Path, dest: Path, threads: int) -> int:
    """Write the pieces of each line of ``source`` to ``dest``; the number of pieces."""
    lines = source.read_text(encoding="utf-8").splitlines()
    pieces = text_sentencepiece.encode(model, lines, threads)
    dest.write_text("".join(" ".join(p) + "\n" for p in pieces), encoding="utf-8")
    return sum(map(len, pieces))


def stand_in(downloads: Path) -> None:
    """A tiny linux-doc package of a few documents from the embedded corpus (the --smoke stand-in)."""
    corpus = (Path(__file__).resolve().parents[2] / "data" / "pydoc-topics" / "train.txt").read_text().splitlines()
    files = {f"usr/share/doc/{PACKAGE}/Documentation/topic{i}/index.rst.gz":
             f"Topic {i}\n========\n\n" + "\n\n".join(corpus[(i * 8 + j) % len(corpus)] for j in range(8))
             for i in range(600)}
    debian_packages.build_stand_in(PACKAGE, "0.smoke", files, downloads)


def main(argv=None) -> None:
    parser = recipe_parser("kernel_docs", __doc__, "debian", "kernel-docs")
    parser.add_argument("--bpe-size", type=positive_int, metavar="N",
                        help=f"sentencepiece pieces (default {BPE_SIZE}, smoke: {SMOKE_BPE_SIZE})")
    args = parse(parser, argv)
    if args.smoke and not list(args.downloads.glob(f"{PACKAGE}_*.deb")):
        stand_in(args.downloads)
    debs = debian_packages.fetch([PACKAGE], args.downloads)
    unpacked = {PACKAGE: debian_packages.unpack(debs[PACKAGE], args.downloads / "unpacked" / PACKAGE)}
    text = write_splits(unpacked[PACKAGE] / "usr/share/doc" / PACKAGE / "Documentation", args.dest / "text")
    bpe_size = args.bpe_size or (SMOKE_BPE_SIZE if args.smoke else BPE_SIZE)
    model = text_sentencepiece.train([text["train"]], args.dest / "spm", bpe_size, 2_000_000, args.workers)
    counts = {split: encode_file(model, path, path.with_suffix(".bpe"), args.workers) for split, path in text.items()}
    fairseq_preprocess("--only-source", "--trainpref", text["train"].with_suffix(".bpe"),
                       "--validpref", text["valid"].with_suffix(".bpe"), "--testpref", text["test"].with_suffix(".bpe"),
                       "--destdir", args.dest, "--workers", args.workers)
    debian_packages.write_manifest(debs, unpacked, args.dest)
    (args.dest / "tokens.json").write_text(json.dumps(counts, indent=1) + "\n")
    log.info("kernel documentation corpus in %s: %s tokens", args.dest,
             ", ".join(f"{split} {n:,}" for split, n in counts.items()))


if __name__ == "__main__":
    main()
