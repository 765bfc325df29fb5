"""WikiText-103 for fairseq language modelling, as fairseq's examples/language_model recipe prepares it.

Fetches the official word-level archive wikitext-103-v1.zip from a working mirror (or takes the copy already in
--downloads), checks its published MD5, extracts wiki.{train,valid,test}.tokens next to it and binarises them
with `fairseq-preprocess --only-source` into --dest (dict.txt, {train,valid,test}.{bin,idx}).
"""
import logging
import shutil
import zipfile
from pathlib import Path

from ..errors import ConfigError
from . import smoke_corpora
from .download import Source, fetch_all, with_checksums_of
from .text_cli import parse, recipe_parser
from .text_preprocess import fairseq_preprocess

log = logging.getLogger(__name__)

ARCHIVE = Source(
    "wikitext-103-v1.zip",
    urls=(
        "https://wikitext.smerity.com/wikitext-103-v1.zip",  # the dataset author's mirror (browser User-Agent only)
        "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip",  # original; 403 since 2024
    ),
    # Published with the original URL in torchtext (pytorch/text, torchtext/datasets/wikitext103.py: MD5); the
    # smerity mirror is reported to send the same value as its ETag.
    md5="9ddaacaf6af0710eda8c456decff7832",
)
SPLITS = ("train", "valid", "test")
MEMBER = "wikitext-103/wiki.{}.tokens"


def extract(archive: Path, out_dir: Path) -> dict:
    """``{split: path}`` of wiki.<split>.tokens unpacked from ``archive`` into ``out_dir``/wikitext-103/."""
    paths = {}
    with zipfile.ZipFile(archive) as zf:
        for split in SPLITS:
            member = MEMBER.format(split)
            if member not in zf.namelist():
                raise ConfigError(f"{archive} has no {member}: not the word-level WikiText-103 archive")
            paths[split] = out_dir / member
            paths[split].parent.mkdir(parents=True, exist_ok=True)
            with zf.open(member) as src, open(paths[split], "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    return paths


def main(argv=None) -> None:
    args = parse(recipe_parser("wikitext103", __doc__, "wikitext-103", "wikitext-103"), argv)
    source, mirror = ARCHIVE, args.mirror
    if args.smoke:
        stand_in = smoke_corpora.wikitext_zip(args.downloads / "smoke-mirror" / ARCHIVE.name)
        source, mirror = with_checksums_of(ARCHIVE, stand_in), stand_in.parent.resolve().as_uri()
    archive = fetch_all([source], args.downloads, mirror)[ARCHIVE.name]
    text = extract(archive, args.downloads)
    fairseq_preprocess("--only-source", "--trainpref", text["train"], "--validpref", text["valid"],
                       "--testpref", text["test"], "--destdir", args.dest, "--workers", args.workers)
    log.info("WikiText-103 is ready in %s", args.dest)


if __name__ == "__main__":
    main()
