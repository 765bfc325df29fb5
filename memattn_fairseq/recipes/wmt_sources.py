"""The statmt.org files behind WMT EN-DE, as in fairseq's examples/translation/prepare-wmt14en2de.sh.

Training: Europarl v7, CommonCrawl and News Commentary (v9 for WMT'14, v11 for WMT'16, v12 for WMT'17);
dev: newstest2013 from the WMT'17 dev archive; test: the full newstest2014 (test-full.tgz, 3003 sentences).

Published checksums, all from public code (none invented):
- sizes and SHA-256 of the training archives: tensorflow/datasets, tensorflow_datasets/url_checksums/
  wmt14_translate.txt (europarl-v7, commoncrawl, nc-v9), wmt16_translate.txt (nc-v11), wmt17_translate.txt (nc-v12);
- MD5 of dev.tgz and test-full.tgz: sacrebleu's dataset registry (mjpost/sacrebleu, sacrebleu/dataset/__init__.py,
  entries "wmt17/dev" and "wmt14/full").
"""
from dataclasses import dataclass

from .download import Source

SRC, TGT = "en", "de"


def _statmt(path: str, host: str = "www.statmt.org") -> tuple:
    return f"https://{host}/{path}", f"http://{host}/{path}"


EUROPARL = Source("training-parallel-europarl-v7.tgz", _statmt("wmt13/training-parallel-europarl-v7.tgz"),
                  size=657632379, sha256="0224c7c710c8a063dfd893b0cc0830202d61f4c75c17eb8e31836103d27d96e7")
COMMONCRAWL = Source("training-parallel-commoncrawl.tgz", _statmt("wmt13/training-parallel-commoncrawl.tgz"),
                     size=918311367, sha256="c7a74e2ea01ac6c920123108627e35278d4ccb5701e15428ffa34de86fa3a9e5")
NEWS_COMMENTARY = {
    "v9": Source("training-parallel-nc-v9.tgz", _statmt("wmt14/training-parallel-nc-v9.tgz"),
                 size=80418416, sha256="cb8953f292298e6877ae433c98912b927cb0766b303f4540512ddd286c748485"),
    "v11": Source("training-parallel-nc-v11.tgz",
                  _statmt("wmt16/translation-task/training-parallel-nc-v11.tgz", "data.statmt.org"),
                  size=75178032, sha256="cfe8ab047e05043476e498ee765c98e939c7b7d6d294e856344c84476b619d6a"),
    "v12": Source("training-parallel-nc-v12.tgz",
                  _statmt("wmt17/translation-task/training-parallel-nc-v12.tgz", "data.statmt.org"),
                  size=168591139, sha256="2b45f30ef1d550d302fd17dd3a5cbe19134ccc4c2cf50c2dae534aee600101a2"),
}
DEV = Source("dev.tgz", _statmt("wmt17/translation-task/dev.tgz", "data.statmt.org"),
             md5="9b1aa63c1cf49dccdd20b962fe313989")
TEST_FULL = Source("test-full.tgz", _statmt("wmt14/test-full.tgz"), md5="a8cd784e006feb32ac6f3d9ec7eb389a")
NEWS_COMMENTARY_STEMS = {"v9": "training/news-commentary-v9.de-en",
                         "v11": "training-parallel-nc-v11/news-commentary-v11.de-en",
                         "v12": "training/news-commentary-v12.de-en"}


@dataclass(frozen=True)
class Parallel:
    """A sentence-aligned training corpus: members ``STEM.en`` and ``STEM.de`` of ``archive``."""

    archive: Source
    stem: str

    def member(self, lang: str) -> str:
        return f"{self.stem}.{lang}"


@dataclass(frozen=True)
class SgmPair:
    """A dev/test set: the English source and German reference SGM files in ``archive``."""

    archive: Source
    src: str
    ref: str


VALID = SgmPair(DEV, "dev/newstest2013-src.en.sgm", "dev/newstest2013-ref.de.sgm")
TEST = SgmPair(TEST_FULL, "test-full/newstest2014-deen-src.en.sgm", "test-full/newstest2014-deen-ref.de.sgm")


def training_corpora(news_commentary: str) -> tuple:
    return (Parallel(EUROPARL, "training/europarl-v7.de-en"), Parallel(COMMONCRAWL, "commoncrawl.de-en"),
            Parallel(NEWS_COMMENTARY[news_commentary], NEWS_COMMENTARY_STEMS[news_commentary]))


def sources(news_commentary: str) -> list:
    """Every archive to fetch, in download order."""
    return [c.archive for c in training_corpora(news_commentary)] + [VALID.archive, TEST.archive]
