"""Tiny local stand-ins for the downloads, in the real archives' formats and layouts, for ``--smoke`` runs.

- WikiText-103: ``wikitext-103-v1.zip`` holding ``wikitext-103/wiki.{train,valid,test}.tokens`` in WikiText's
  layout (space-padded lines, `` = Title = `` headings, blank lines, ``<unk>`` for rare words), built from a
  slice of the embedded corpus ``data/pydoc-topics`` (Python Language Reference prose).
- WMT EN-DE: the statmt archives of :mod:`wmt_sources` (same names, same members) with a few hundred synthetic
  English-German sentence pairs, plus :data:`NOISE` pairs that the cleaning must drop, and newstest SGM files.

Archives are byte-for-byte deterministic (fixed timestamps), so their checksums hold from one run to the next.
"""
import gzip
import io
import random
import tarfile
import zipfile
from collections import Counter
from pathlib import Path

from . import wmt_sources

CORPUS = Path(__file__).resolve().parents[2] / "data" / "pydoc-topics"
WIKITEXT_LINES = {"train": 600, "valid": 86, "test": 97}


def _wikitext_layout(paragraphs, vocabulary) -> str:
    """Articles of a few paragraphs under `` = Title = `` and `` = = Section = = `` headings, WikiText-style."""
    lines = []
    for start in range(0, len(paragraphs), 6):
        article = paragraphs[start:start + 6]
        title = " ".join([w for w in article[0].split() if w.isalpha()][:3]).title()
        lines += ["", f"= {title} =", "", *article[:3], "", "= = Details = =", "", *article[3:]]
    known = (" ".join(w if w in vocabulary else "<unk>" for w in line.split()) for line in lines)
    return "".join(f" {line} \n" if line else " \n" for line in known)


def wikitext_zip(path: Path) -> Path:
    """Write the WikiText-103 stand-in archive to ``path``."""
    splits = {s: (CORPUS / f"{s}.txt").read_text(encoding="utf-8").split("\n")[:n] for s, n in WIKITEXT_LINES.items()}
    counts = Counter(w for p in splits["train"] for w in p.split())
    vocabulary = {w for w, c in counts.items() if c > 1} | {"=", "Details"}  # WikiText: other words are <unk>
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for split, paragraphs in splits.items():
            info = zipfile.ZipInfo(f"wikitext-103/wiki.{split}.tokens", date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, _wikitext_layout([p for p in paragraphs if p.strip()], vocabulary),
                        zipfile.ZIP_DEFLATED)
    return path


# A small English-German grammar: (English, German, gender) nouns, past-tense verbs, adjectives, time phrases.
NOUNS = [("man", "Mann", "m"), ("woman", "Frau", "f"), ("child", "Kind", "n"), ("teacher", "Lehrer", "m"),
         ("city", "Stadt", "f"), ("house", "Haus", "n"), ("government", "Regierung", "f"), ("report", "Bericht", "m"),
         ("market", "Markt", "m"), ("company", "Firma", "f"), ("book", "Buch", "n"), ("car", "Auto", "n"),
         ("street", "Straße", "f"), ("river", "Fluss", "m"), ("doctor", "Ärztin", "f"), ("price", "Preis", "m"),
         ("law", "Gesetz", "n"), ("bridge", "Brücke", "f"), ("garden", "Garten", "m"), ("newspaper", "Zeitung", "f")]
VERBS = [("saw", "sah"), ("found", "fand"), ("bought", "kaufte"), ("built", "baute"), ("visited", "besuchte"),
         ("described", "beschrieb"), ("sold", "verkaufte"), ("changed", "änderte"), ("opened", "öffnete"),
         ("read", "las")]
ADJECTIVES = [("new", "neu"), ("old", "alt"), ("big", "groß"), ("small", "klein"), ("important", "wichtig"),
              ("expensive", "teuer"), ("quiet", "ruhig"), ("open", "geöffnet")]
TIMES = [("Yesterday", "Gestern"), ("Today", "Heute"), ("Last week", "Letzte Woche"), ("In 2013", "Im Jahr 2013")]
NOMINATIVE, ACCUSATIVE = {"m": "der", "f": "die", "n": "das"}, {"m": "den", "f": "die", "n": "das"}

# Pairs the cleaning must drop: an empty side, a whitespace-only side, a length ratio far above 1.5, and a
# pair longer than 250 tokens.
NOISE = [("The report was read.", ""), ("   ", "Der Bericht wurde gelesen."),
         ("Yes.", "Die Regierung beschrieb gestern den neuen Bericht über den Markt und die Preise der Stadt."),
         (" ".join(["the old house"] * 100) + ".", " ".join(["das alte Haus"] * 100) + ".")]


def _clause(rng):
    (s, s_de, s_g), (o, o_de, o_g) = rng.sample(NOUNS, 2)
    verb, verb_de = rng.choice(VERBS)
    return (f"the {s}", f"{NOMINATIVE[s_g]} {s_de}"), (verb, verb_de), (f"the {o}", f"{ACCUSATIVE[o_g]} {o_de}")


def sentence_pair(rng: random.Random) -> tuple:
    """One plausible (English, German) translation pair."""
    (s, s_de), (v, v_de), (o, o_de) = _clause(rng)
    kind = rng.randrange(4)
    if kind == 0:
        en, de = f"{s} {v} {o}.", f"{s_de} {v_de} {o_de}."
    elif kind == 1:
        when, when_de = rng.choice(TIMES)
        en, de = f"{when}, {s} {v} {o}.", f"{when_de} {v_de} {s_de} {o_de}."
    elif kind == 2:
        adj, adj_de = rng.choice(ADJECTIVES)
        en, de = f"{s} is {adj}.", f"{s_de} ist {adj_de}."
    else:
        (s2, s2_de), (v2, v2_de), (o2, o2_de) = _clause(rng)
        en, de = f"{s} {v} {o} and {s2} {v2} {o2}.", f"{s_de} {v_de} {o_de} und {s2_de} {v2_de} {o2_de}."
    return en[0].upper() + en[1:], de[0].upper() + de[1:]


def _tgz(path: Path, members: dict) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))


def _sgm(kind: str, setid: str, lang: str, sentences) -> str:
    """A newstest SGM file (WMT's pre-2021 format: one <seg> per line inside <doc>/<p>)."""
    head = (f'<srcset setid="{setid}" srclang="any">' if kind == "src"
            else f'<refset setid="{setid}" srclang="any" trglang="{lang}">')
    lines = [head]
    for doc in range(0, len(sentences), 10):
        lines += [f'<doc sysid="{"ref" if kind == "ref" else "src"}" docid="smoke-{doc // 10}" genre="news" '
                  f'origlang="en">', "<p>"]
        lines += [f'<seg id="{i + 1}">{s}</seg>' for i, s in enumerate(sentences[doc:doc + 10], start=doc)]
        lines += ["</p>", "</doc>"]
    return "\n".join(lines + [head.split()[0].replace("<", "</") + ">"]) + "\n"


def wmt_archives(out_dir: Path, news_commentary: str) -> dict:
    """Write the WMT EN-DE stand-in archives into ``out_dir``; ``{file name: path}``."""
    rng = random.Random(2014)
    corpora = wmt_sources.training_corpora(news_commentary)
    sizes = {wmt_sources.EUROPARL.name: 300, wmt_sources.COMMONCRAWL.name: 150}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for corpus in corpora:
        pairs = [sentence_pair(rng) for _ in range(sizes.get(corpus.archive.name, 100))]
        if corpus.archive is wmt_sources.COMMONCRAWL:  # the noisy one
            pairs[10:10] = NOISE
        members = {corpus.member(lang): "".join(p[i] + "\n" for p in pairs) for i, lang in enumerate(("en", "de"))}
        written[corpus.archive.name] = out_dir / corpus.archive.name
        _tgz(written[corpus.archive.name], members)
    for sgm_pair, setid, count in ((wmt_sources.VALID, "newstest2013", 60), (wmt_sources.TEST, "newstest2014", 70)):
        pairs = [sentence_pair(rng) for _ in range(count)]
        members = {sgm_pair.src: _sgm("src", setid, "en", [en for en, _ in pairs]),
                   sgm_pair.ref: _sgm("ref", setid, "de", [de for _, de in pairs])}
        if sgm_pair is wmt_sources.VALID:  # the real dev archive also has plain-text copies
            members.update({f"dev/{setid}.en": "".join(en + "\n" for en, _ in pairs),
                            f"dev/{setid}.de": "".join(de + "\n" for _, de in pairs)})
        written[sgm_pair.archive.name] = out_dir / sgm_pair.archive.name
        _tgz(written[sgm_pair.archive.name], members)
    return written
