"""The translation corpus of the quality study: English -> French message pairs from Debian's gettext catalogues.

Source: the French (``fr``) compiled catalogues (``*.mo``) shipped in the Debian bookworm packages of
:data:`PACKAGES`, fetched with ``apt-get download``. Each message is a pair (English msgid, French msgstr) written
by the project's translators; the texts are under the free licences of their packages (GPL, LGPL, MPL-2.0 and
others), as the ``copyright`` files copied into --dest state. No other language's catalogue is read.

Cleaning: plural entries give their singular pair, message contexts are dropped, menu accelerators (``_``, ``~``,
``&`` before a letter) are removed, whitespace is collapsed; untranslated messages (French equal to English) and
messages without a letter are dropped, and each English message is kept once (its first translation in package
order). Messages go to one split by a stable hash of the English text (about 97% train, 1.5% valid, 1.5% test), so
no source sentence is in two splits. A joint sentencepiece BPE model encodes both sides; training pairs keep 1 to
128 pieces a side and a length ratio of at most 3. ``fairseq-preprocess --joined-dictionary`` binarises them into
--dest (en -> fr), beside spm.model and raw/{valid,test}.{en,fr}, the plain text for scoring.

    python -m memattn_fairseq.recipes.gettext_en_fr [--smoke] [--downloads DIR] [--dest DIR] [--bpe-size N]
"""
import gettext
import hashlib
import json
import logging
import re
import struct
from pathlib import Path

from . import debian_packages, text_sentencepiece
from .text_cli import parse, positive_int, recipe_parser
from .text_preprocess import fairseq_preprocess
from .wmt_clean import keep_lengths
from .wmt_files import write_pairs

log = logging.getLogger(__name__)

PACKAGES = (
    "apt", "aptitude-common", "binutils-common", "coreutils", "dpkg", "evolution-common",
    "evolution-data-server-common", "gcc-12-locales", "gettext", "gimp-data", "git", "gnome-control-center-data",
    "gnome-shell-common", "gnome-software-common", "gnucash-common", "gnumeric-common", "gnupg-l10n", "inkscape",
    "iso-codes", "libglib2.0-data", "libgtk-3-common", "libgweather-4-common", "libreoffice-l10n-fr",
    "lynx-common", "mutt", "nautilus-data", "pidgin-data", "synaptic", "tar", "util-linux-locales", "vlc-l10n",
    "wesnoth-1.16-data", "wget",
)
LANGUAGE = "fr"
BPE_SIZE, SMOKE_BPE_SIZE = 8000, 300
MAX_PIECES, MAX_RATIO = 128, 3.0
ACCELERATOR = re.compile(r"(?<![\w&])[_~&](?=\w)(?!\w+;)")  # "_Open", "~Save", "&Quit"; not "a_b" or "&amp;"


def catalogues(root: Path):
    """The French .mo files under an unpacked package, in a stable order."""
    return sorted(p for p in root.rglob("*.mo") if LANGUAGE in p.parts and "LC_MESSAGES" in p.parts)


def clean(message: str) -> str:
    return " ".join(ACCELERATOR.sub("", message).split())


def messages(mo_path: Path):
    """(English, French) pairs of one catalogue: singular forms, without contexts and accelerators."""
    with open(mo_path, "rb") as f:
        catalog = gettext.GNUTranslations(f)._catalog
    for key, french in catalog.items():
        if isinstance(key, tuple):  # plural: (msgid, form index)
            if key[1] != 0:
                continue
            key = key[0]
        english = clean(key.split("\x04")[-1])  # msgctxt \x04 msgid
        french = clean(french)
        if english and french and english != french and any(c.isalpha() for c in english):
            yield english, french


def split_of(english: str) -> str:
    bucket = int(hashlib.sha1(english.encode()).hexdigest(), 16) % 64
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


def collect(unpacked: dict) -> dict:
    """``{split: [(en, fr), ...]}`` over every package's French catalogues, each English message once."""
    seen, splits = set(), {"train": [], "valid": [], "test": []}
    for name in sorted(unpacked):
        for mo in catalogues(unpacked[name]):
            for english, french in messages(mo):
                if english not in seen:
                    seen.add(english)
                    splits[split_of(english)].append((english, french))
    return splits


def encode_split(model, pairs, prefix: Path, threads: int, filter_lengths: bool) -> int:
    """Write the pieces of ``pairs`` to ``prefix``.{en,fr}; the number of pairs written."""
    src = text_sentencepiece.encode(model, [s for s, _ in pairs], threads)
    tgt = text_sentencepiece.encode(model, [t for _, t in pairs], threads)
    kept = [(" ".join(s), " ".join(t)) for s, t in zip(src, tgt)
            if not filter_lengths or keep_lengths(len(s), len(t), max_len=MAX_PIECES, ratio=MAX_RATIO)]
    return write_pairs(kept, prefix, src="en", tgt="fr")


def stand_in(downloads: Path) -> None:
    """Tiny packages holding one French catalogue each, built from a generated vocabulary (the --smoke stand-in)."""
    words = [("file", "fichier"), ("open", "ouvrir"), ("save", "enregistrer"), ("new", "nouveau"),
             ("window", "fenêtre"), ("close", "fermer"), ("print", "imprimer"), ("copy", "copier"),
             ("edit", "modifier"), ("help", "aide"), ("view", "affichage"), ("tools", "outils")]
    for p, name in enumerate(PACKAGES[:3]):
        pairs = {f"{a} the {b} {i}": f"{c} le {d} {i}" for i, ((a, c), (b, d)) in
                 enumerate(((words[(i + p) % 12], words[(3 * i + 1) % 12]) for i in range(150)))}
        debian_packages.build_stand_in(name, "0.smoke", {
            f"usr/share/locale/{LANGUAGE}/LC_MESSAGES/{name}.mo": _mo_bytes(pairs)}, downloads)


def _mo_bytes(pairs: dict) -> bytes:
    """A GNU .mo catalogue of ``pairs`` (header entry included), in the format gettext reads."""
    entries = sorted({"": "Content-Type: text/plain; charset=UTF-8\n", **pairs}.items())
    ids, strs = b"", b""
    id_offsets, str_offsets = [], []
    for key, value in entries:
        id_offsets.append((len(key.encode()), len(ids)))
        ids += key.encode() + b"\0"
        str_offsets.append((len(value.encode()), len(strs)))
        strs += value.encode() + b"\0"
    n = len(entries)
    ids_start = 28 + 16 * n
    strs_start = ids_start + len(ids)
    header = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    table = b"".join(struct.pack("<2I", length, ids_start + off) for length, off in id_offsets)
    table += b"".join(struct.pack("<2I", length, strs_start + off) for length, off in str_offsets)
    return header + table + ids + strs


def main(argv=None) -> None:
    parser = recipe_parser("gettext_en_fr", __doc__, "debian", "gettext-en-fr")
    parser.add_argument("--bpe-size", type=positive_int, metavar="N",
                        help=f"pieces of the joint sentencepiece model (default {BPE_SIZE}, smoke: {SMOKE_BPE_SIZE})")
    args = parse(parser, argv)
    names = PACKAGES[:3] if args.smoke else PACKAGES
    if args.smoke and not list(args.downloads.glob(f"{names[0]}_*.deb")):
        stand_in(args.downloads)
    debs = debian_packages.fetch(names, args.downloads)
    unpacked = {name: debian_packages.unpack(deb, args.downloads / "unpacked" / name) for name, deb in debs.items()}
    splits = collect(unpacked)
    raw = args.dest / "raw"
    for split, pairs in splits.items():
        write_pairs(pairs, raw / split, src="en", tgt="fr")
    bpe_size = args.bpe_size or (SMOKE_BPE_SIZE if args.smoke else BPE_SIZE)
    model = text_sentencepiece.train([raw / "train.en", raw / "train.fr"], args.dest / "spm", bpe_size, 2_000_000,
                                     args.workers)
    pieces = args.dest / "pieces"
    counts = {split: encode_split(model, pairs, pieces / split, args.workers, split == "train")
              for split, pairs in splits.items()}
    fairseq_preprocess("--source-lang", "en", "--target-lang", "fr", "--joined-dictionary",
                       "--trainpref", pieces / "train", "--validpref", pieces / "valid", "--testpref", pieces / "test",
                       "--destdir", args.dest, "--workers", args.workers)
    debian_packages.write_manifest(debs, unpacked, args.dest)
    (args.dest / "pairs.json").write_text(json.dumps(counts, indent=1) + "\n")
    log.info("EN-FR message pairs in %s: %s", args.dest, ", ".join(f"{s} {n:,}" for s, n in counts.items()))


if __name__ == "__main__":
    main()
