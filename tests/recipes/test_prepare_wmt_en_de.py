"""scripts/prepare_wmt_en_de.sh: the smoke pipeline end to end, its one-line errors, and the cleaning rules,
SGM extraction and file reading it is built from."""
import re
import subprocess
import tarfile
from collections import Counter

import pytest
import sentencepiece as spm
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import MMapIndexedDataset

from cli_runner import assert_one_line_error, script
from memattn_fairseq.errors import ConfigError
from memattn_fairseq.recipes import smoke_corpora, text_sentencepiece, wmt_sources
from memattn_fairseq.recipes.wmt_clean import clean_pairs, keep_lengths
from memattn_fairseq.recipes.wmt_en_de import SMOKE_BPE_SIZE
from memattn_fairseq.recipes.wmt_files import read_pairs
from memattn_fairseq.recipes.wmt_sgm import segments

DEAD = "http://127.0.0.1:9"


def prepare(*args) -> subprocess.CompletedProcess:
    return script("prepare_wmt_en_de.sh", *args, timeout=600)


def tar_text(path, member) -> str:
    with tarfile.open(path) as tar:
        return tar.extractfile(member).read().decode()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("wmt")
    proc = prepare("--smoke", "--downloads", root / "downloads", "--dest", root / "bin", "--workers", "2")
    assert proc.returncode == 0, proc.stderr[-5000:]
    return root / "downloads", root / "bin"


def test_smoke_output_layout_and_joint_dictionary(smoke):
    _, data = smoke
    for split in ("train", "valid", "test"):
        for lang in ("en", "de"):
            assert (data / f"{split}.en-de.{lang}.bin").exists() and (data / f"{split}.en-de.{lang}.idx").exists()
    assert not (data / "work").exists()
    assert (data / "dict.en.txt").read_text() == (data / "dict.de.txt").read_text()
    model = spm.SentencePieceProcessor(model_file=str(data / "spm.model"))
    assert model.get_piece_size() == SMOKE_BPE_SIZE
    words = [line.split()[0] for line in (data / "dict.en.txt").read_text().splitlines()]
    pieces = {model.id_to_piece(i) for i in range(model.get_piece_size())}
    assert 0 < len({w for w in words if not w.startswith("madeupword")} - {"<unk>"}) <= SMOKE_BPE_SIZE - 3
    assert {w for w in words if not w.startswith("madeupword")} <= pieces


def test_smoke_dev_and_test_are_the_sgm_segments_and_decode_back(smoke):
    downloads, data = smoke
    model = spm.SentencePieceProcessor(model_file=str(data / "spm.model"))
    dictionary = Dictionary.load(str(data / "dict.en.txt"))
    for split, sgm in (("valid", wmt_sources.VALID), ("test", wmt_sources.TEST)):
        for lang, member in (("en", sgm.src), ("de", sgm.ref)):
            raw = (data / "raw" / f"{split}.{lang}").read_text().split("\n")[:-1]
            assert raw == re.findall(r'<seg id="\d+">(.*)</seg>', tar_text(downloads / sgm.archive.name, member))
            binarised = MMapIndexedDataset(str(data / f"{split}.en-de.{lang}"))
            assert len(binarised) == len(raw) > 0
            assert [model.decode_pieces(dictionary.string(binarised[i]).split()) for i in range(len(raw))] == raw


def test_smoke_training_text_loses_exactly_the_noise(smoke):
    downloads, data = smoke
    pairs = sum(tar_text(downloads / c.archive.name, c.member("en")).count("\n")
                for c in wmt_sources.training_corpora("v11"))
    assert len(MMapIndexedDataset(str(data / "train.en-de.en"))) == pairs - len(smoke_corpora.NOISE)
    assert len(MMapIndexedDataset(str(data / "train.en-de.de"))) == pairs - len(smoke_corpora.NOISE)


def test_a_wrong_archive_in_downloads_is_one_line_error(tmp_path):
    (tmp_path / "test-full.tgz").write_bytes(b"\x1f\x8b not really")
    proc = prepare("--downloads", tmp_path, "--dest", tmp_path / "bin", "--mirror", DEAD)
    assert_one_line_error(proc, str(tmp_path / "test-full.tgz"), "a8cd784e006feb32ac6f3d9ec7eb389a")


def test_offline_names_every_file_to_download_by_hand(tmp_path):
    proc = prepare("--downloads", tmp_path / "dl", "--dest", tmp_path / "bin", "--mirror", DEAD,
                   "--news-commentary", "v12")
    assert_one_line_error(proc, *(s.name for s in wmt_sources.sources("v12")), f"put them in {tmp_path / 'dl'}/")
    assert "training-parallel-nc-v12.tgz (from https://data.statmt.org/wmt17/" in proc.stderr


@pytest.mark.parametrize("lengths, kept", [((1, 1), True), ((0, 1), False), ((1, 0), False), ((250, 250), True),
                                           ((251, 250), False), ((250, 251), False), ((3, 2), True),
                                           ((2, 3), True), ((4, 2), False), ((2, 4), False), ((31, 20), False)])
def test_length_and_ratio_rules_of_clean_corpus_n(lengths, kept):
    assert keep_lengths(*lengths) is kept


def test_cleaning_normalises_whitespace_and_drops_empty_sides_and_duplicates():
    pairs = [(" a  b\t", "c\r"), ("", "x"), ("y", " \t "), ("a b", "c"), ("a b", "d")]
    stats = Counter()
    assert list(clean_pairs(pairs, dedup=True, stats=stats)) == [("a b", "c"), ("a b", "d")]
    assert stats == Counter(read=5, empty=2, duplicate=1)
    assert list(clean_pairs(pairs)) == [("a b", "c"), ("a b", "c"), ("a b", "d")]


def test_sgm_segments_are_extracted_as_sacrebleu_does():
    sgm = ['<refset setid="newstest2014" srclang="any" trglang="de">', '<doc sysid="ref" docid="1" origlang="en">',
           "<p>", '<seg id="1">  Hallo   Welt </seg>', '<seg id="2">A &amp; B <i>x</i></seg>', "</p>",
           '  <seg id="3"></seg>', "</doc>", "</refset>"]
    assert segments(sgm) == ["Hallo Welt", "A &amp; B <i>x</i>", ""]
    with pytest.raises(ConfigError, match="x.sgm line 2: a <seg> without </seg>"):
        segments(["<p>", '<seg id="1">cut off'], "x.sgm")


def test_corpus_lines_end_only_at_newlines_and_must_align(tmp_path):
    (tmp_path / "a.en").write_bytes("one\rstill one\ntwo\n".encode())
    (tmp_path / "a.de").write_bytes("eins\u2028noch eins\nzwei\n".encode())
    assert list(read_pairs(tmp_path / "a.en", tmp_path / "a.de")) == [("one\rstill one", "eins\u2028noch eins"),
                                                                      ("two", "zwei")]
    (tmp_path / "a.de").write_text("eins\n")
    with pytest.raises(ConfigError, match="not aligned"):
        list(read_pairs(tmp_path / "a.en", tmp_path / "a.de"))


def test_a_too_large_vocabulary_names_the_flag(tmp_path):
    (tmp_path / "text").write_text("ein kleiner Text\na small text\n" * 20)
    with pytest.raises(ConfigError, match="--bpe-size 5000: Vocabulary size too high"):
        text_sentencepiece.train([tmp_path / "text"], tmp_path / "spm", 5000, 1000, 1)
    with pytest.raises(ConfigError, match="--spm-sentences 100: "):
        text_sentencepiece.train([tmp_path / "text"], tmp_path / "spm", 50, 100, 1)
