"""Reading and writing the WMT files: members of statmt's tar archives, aligned corpus files, SGM sets."""
import shutil
import tarfile
from itertools import zip_longest
from pathlib import Path

from ..errors import ConfigError
from .wmt_sgm import segments
from .wmt_sources import SRC, TGT


def extract(archive: Path, members, out_dir: Path) -> dict:
    """``{member: path}``: ``members`` of the tar ``archive`` copied under ``out_dir``."""
    wanted, paths = set(members), {}
    with tarfile.open(archive) as tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name in wanted and info.isfile():
                paths[name] = out_dir / name
                paths[name].parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(info) as src, open(paths[name], "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                if len(paths) == len(wanted):
                    break
    if missing := wanted - paths.keys():
        raise ConfigError(f"{archive} lacks {', '.join(sorted(missing))}: not the expected statmt archive")
    return paths


def open_text(path: Path, mode: str = "r"):
    # Lines end at "\n" only: a stray "\r" inside a sentence must not split it and misalign the two sides.
    # Undecodable bytes, should a corpus hold any, become U+FFFD rather than stopping the run.
    return open(path, mode, encoding="utf-8", errors="replace", newline="\n")


def read_pairs(src: Path, tgt: Path):
    """Yield the (source, target) lines, without line ends, of two aligned files."""
    with open_text(src) as fs, open_text(tgt) as ft:
        for number, (s, t) in enumerate(zip_longest(fs, ft), 1):
            if s is None or t is None:
                raise ConfigError(f"{src} and {tgt} are not aligned: one ends at line {number - 1}")
            yield s.removesuffix("\n"), t.removesuffix("\n")


def write_pairs(pairs, prefix: Path, src: str = SRC, tgt: str = TGT) -> int:
    """Write ``pairs`` to ``prefix.<src>`` and ``prefix.<tgt>`` (en, de by default); the number of pairs."""
    count = 0
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    with open_text(Path(f"{prefix}.{src}"), "w") as fs, open_text(Path(f"{prefix}.{tgt}"), "w") as ft:
        for s, t in pairs:
            fs.write(s + "\n")
            ft.write(t + "\n")
            count += 1
    return count


def read_segments(path: Path, name: str) -> list:
    """The sentences of an SGM file (``name`` labels it in errors)."""
    with open_text(path) as f:
        return segments(f, name)
