"""Debian binary packages as a data source: fetch them with ``apt-get download``, record what was used, unpack.

A package already in the downloads directory (``<name>_<version>_<arch>.deb``, an earlier run or a copy fetched by
hand) is used as is. ``manifest.tsv`` beside the corpus lists each package's file, version and SHA-256, and each
package's ``copyright`` file is copied next to it, so a corpus states exactly which texts it holds and under which
licences.
"""
import gzip
import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger(__name__)


def _local(name: str, downloads: Path):
    found = sorted(downloads.glob(f"{name}_*.deb"))
    return found[-1] if found else None


def fetch(names, downloads: Path) -> dict:
    """``{name: path of its .deb}``, downloading with ``apt-get download`` the packages not in ``downloads``."""
    downloads.mkdir(parents=True, exist_ok=True)
    missing = [n for n in names if _local(n, downloads) is None]
    if missing:
        if shutil.which("apt-get") is None:
            raise ConfigError(f"apt-get not found: download the Debian packages {' '.join(missing)} by hand "
                              f"into {downloads}")
        log.info("downloading %d Debian packages into %s: %s", len(missing), downloads, " ".join(missing))
        result = subprocess.run(["apt-get", "download", *missing], cwd=downloads, capture_output=True, text=True)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise ConfigError(f"apt-get download failed ({reason}): fetch {' '.join(missing)} into {downloads} "
                              f"by hand, or run 'apt-get update' first")
    return {name: _local(name, downloads) for name in names}


def unpack(deb: Path, dest: Path) -> Path:
    """Unpack ``deb``'s files under ``dest`` (idempotent); ``dest``."""
    if not (dest / ".unpacked").exists():
        dest.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True)
        if result.returncode != 0:
            raise ConfigError(f"{deb}: not a Debian package ({result.stderr.strip() or 'dpkg-deb failed'})")
        (dest / ".unpacked").touch()
    return dest


def write_manifest(debs: dict, unpacked: dict, out_dir: Path) -> None:
    """``out_dir``/manifest.tsv (package, file, SHA-256) and ``out_dir``/copyright/<package>."""
    (out_dir / "copyright").mkdir(parents=True, exist_ok=True)
    rows = ["package\tfile\tsha256"]
    for name, deb in sorted(debs.items()):
        with open(deb, "rb") as f:
            rows.append(f"{name}\t{deb.name}\t{hashlib.file_digest(f, 'sha256').hexdigest()}")
        for notice in unpacked[name].glob(f"usr/share/doc/{name}/copyright"):
            shutil.copyfile(notice, out_dir / "copyright" / name)
    (out_dir / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def build_stand_in(name: str, version: str, files: dict, downloads: Path) -> Path:
    """A tiny ``<name>_<version>_all.deb`` holding ``files`` (``{path inside the package: text}``, gzipped when the
    path ends in .gz), in ``downloads``: the smoke runs' stand-in for a real package."""
    root = downloads / f"stand-in-{name}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: {version}\nArchitecture: all\nMaintainer: smoke <smoke@localhost>\n"
        f"Description: stand-in for {name}\n", encoding="utf-8")
    for relative, text in {**files, f"usr/share/doc/{name}/copyright": "License: stand-in\n"}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        path.write_bytes(gzip.compress(data, mtime=0) if relative.endswith(".gz") else data)
    deb = downloads / f"{name}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)], check=True,
                   capture_output=True)
    shutil.rmtree(root)
    return deb
