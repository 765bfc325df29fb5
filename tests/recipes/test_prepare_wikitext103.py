"""scripts/prepare_wikitext103.sh: the smoke pipeline end to end, and its one-line errors for a wrong archive and
for no reachable mirror."""
import subprocess
import zipfile

import pytest
from fairseq.data import Dictionary
from fairseq.data.indexed_dataset import MMapIndexedDataset

from cli_runner import assert_one_line_error, script

MD5 = "9ddaacaf6af0710eda8c456decff7832"


def prepare(*args) -> subprocess.CompletedProcess:
    return script("prepare_wikitext103.sh", *args, timeout=600)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("wikitext103")
    proc = prepare("--smoke", "--downloads", root / "downloads", "--dest", root / "bin", "--workers", "2")
    assert proc.returncode == 0, proc.stderr[-5000:]
    return root


def test_smoke_archive_has_the_real_layout(smoke):
    with zipfile.ZipFile(smoke / "downloads" / "wikitext-103-v1.zip") as zf:
        assert sorted(zf.namelist()) == [f"wikitext-103/wiki.{s}.tokens" for s in ("test", "train", "valid")]
    lines = (smoke / "downloads" / "wikitext-103" / "wiki.valid.tokens").read_text().split("\n")[:-1]
    assert lines[:3] == [" ", lines[1], " "] and lines[1].startswith(" = ") and lines[1].endswith(" = ")
    assert all(line.startswith(" ") and line.endswith(" ") for line in lines)


def test_smoke_binarises_every_split_and_the_whole_training_vocabulary(smoke):
    text, data = smoke / "downloads" / "wikitext-103", smoke / "bin"
    dictionary = Dictionary.load(str(data / "dict.txt"))
    train_words = {w for line in (text / "wiki.train.tokens").open() for w in line.split()} - {"<unk>"}
    words = [line.split()[0] for line in (data / "dict.txt").read_text().splitlines()]
    assert {w for w in words if not w.startswith("madeupword")} == train_words  # padding entries aside
    for split in ("train", "valid", "test"):
        lines = (text / f"wiki.{split}.tokens").read_text().split("\n")[:-1]
        binarised = MMapIndexedDataset(str(data / split))
        assert len(binarised) == len(lines)
        assert [dictionary.string(binarised[i]) for i in range(len(lines))] == [" ".join(l.split()) for l in lines]


def test_a_wrong_archive_in_downloads_is_one_line_error(tmp_path):
    (tmp_path / "wikitext-103-v1.zip").write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    proc = prepare("--downloads", tmp_path, "--dest", tmp_path / "bin", "--mirror", "http://127.0.0.1:9")
    assert_one_line_error(proc, "wikitext-103-v1.zip", MD5)
    assert not (tmp_path / "bin").exists()


def test_offline_names_the_file_to_download_by_hand(tmp_path):
    proc = prepare("--downloads", tmp_path / "dl", "--dest", tmp_path / "bin", "--mirror", "http://127.0.0.1:9/")
    assert_one_line_error(proc, "wikitext-103-v1.zip (from https://wikitext.smerity.com/wikitext-103-v1.zip)",
                          f"put it in {tmp_path / 'dl'}/")
