"""Fetch data archives from a list of mirrors and check them against published checksums.

A file is downloaded to ``NAME.part`` (resumed with an HTTP range request when a partial file is left over),
checked, and only then renamed to ``NAME``: an interrupted or corrupt download never passes for a finished one.
Network trouble (a refused or dropped connection, a timeout, HTTP 429 or 5xx) is retried on the same URL after
``BACKOFF`` seconds, doubled at each attempt, ``ATTEMPTS`` times in all, resuming the partial file; then the next
mirror is tried. A terminal shows a progress bar (tqdm); a log gets a line every 100 MB.
A file already in the downloads directory (an earlier run, or one fetched by hand) is checked the same way and
used as is. When no mirror delivers a file, :class:`DownloadError` says in one line which files to fetch by hand
and where to put them.
"""
import hashlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from tqdm import tqdm

from ..errors import ConfigError

log = logging.getLogger(__name__)

# Some hosts (wikitext.smerity.com among them) answer Python's default User-Agent with 403 Forbidden.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
CHUNK = 1 << 20
PROGRESS_EVERY = 100 << 20
ATTEMPTS = 4  # per URL
BACKOFF = 5.0  # seconds before the second attempt; doubled before each further one


@dataclass(frozen=True)
class Source:
    """One file to fetch: its name on disk, the URLs serving it (tried in order) and what it must match.

    ``md5``/``sha256``/``size`` are the published values; ``None`` where no public record exists.
    """

    name: str
    urls: tuple
    md5: str = None
    sha256: str = None
    size: int = None


class DownloadError(ConfigError):
    """No mirror delivered a file: the message names what to download by hand and where to put it."""


def file_digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def with_checksums_of(source: Source, path: Path) -> Source:
    """``source`` registered with the size and MD5 of a local stand-in (the smoke corpora)."""
    return replace(source, md5=file_digest(path, "md5"), sha256=None, size=path.stat().st_size)


def check(path: Path, source: Source) -> None:
    """Raise a one-line ConfigError unless ``path`` has the published size and checksums of ``source``."""
    size = path.stat().st_size
    if source.size is not None and size != source.size:
        raise ConfigError(f"{path} has {size} bytes, but {source.name} has {source.size}: not the expected file "
                          f"(delete it to download it again)")
    for algorithm in ("sha256", "md5"):
        expected = getattr(source, algorithm)
        if expected and (actual := file_digest(path, algorithm)) != expected:
            raise ConfigError(f"{path} has {algorithm} {actual}, but the published {algorithm} of {source.name} is "
                              f"{expected}: not the expected file (delete it to download it again)")


def download(url: str, part: Path, timeout: float = 60) -> None:
    """Write ``url`` to ``part``, continuing a partial file when the server honours range requests."""
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, **({"Range": f"bytes={start}-"} if start else {})}
    log.info("fetching %s%s", url, f" (resuming at {start >> 20} MB)" if start else "")
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # nothing left to fetch: the partial file is complete
            return
        raise
    with response, open(part, "ab" if start and getattr(response, "status", None) == 206 else "wb") as out:
        done = out.tell()
        length = response.headers.get("Content-Length")
        total = done + int(length) if length and length.isdigit() else None
        # disable=None: a bar only on a terminal; logs get the 100 MB lines below instead
        with tqdm(total=total, initial=done, desc=part.name[: -len(".part")], unit="B", unit_scale=True,
                  unit_divisor=1024, disable=None) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
                if bar.disable and (done + len(chunk)) // PROGRESS_EVERY > done // PROGRESS_EVERY:
                    log.info("%s: %d MB", part.name, (done + len(chunk)) >> 20)
                done += len(chunk)
        if total is not None and done < total:  # the connection closed early: resume on the next attempt
            raise http.client.IncompleteRead(b"", total - done)


def _transient(error: BaseException) -> bool:
    """Trouble that another attempt can fix: a dropped or stalled transfer, HTTP 429 or 5xx. Not a missing file,
    nor a host that cannot be resolved or refuses the connection (offline, or a dead mirror: fail fast)."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code == 429 or error.code >= 500
    if isinstance(error, urllib.error.URLError):
        return not isinstance(error.reason, (ConnectionRefusedError, socket.gaierror))
    return isinstance(error, (OSError, http.client.HTTPException))


def download_with_retries(url: str, part: Path) -> None:
    """``download``, attempted up to ATTEMPTS times with exponential backoff while the failure is transient."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return download(url, part)
        except (OSError, http.client.HTTPException) as error:
            if attempt == ATTEMPTS or not _transient(error):
                raise
            delay = BACKOFF * 2 ** (attempt - 1)
            log.warning("%s: %s; attempt %d of %d in %.0f s", url, _reason(error), attempt + 1, ATTEMPTS, delay)
            time.sleep(delay)


def _reason(error: BaseException) -> str:
    return " ".join(str(getattr(error, "reason", None) or error).split()) or type(error).__name__


def fetch(source: Source, directory: Path, mirror: str = None) -> Path:
    """The checked file ``directory/source.name``, downloaded if absent (from ``mirror``/NAME when given)."""
    target = directory / source.name
    if target.exists():
        check(target, source)
        return target
    part = target.with_name(target.name + ".part")
    failures = []
    for url in [f"{mirror.rstrip('/')}/{source.name}"] if mirror else source.urls:
        try:
            download_with_retries(url, part)
            check(part, source)
        except ConfigError as error:  # wrong bytes: never resume from them
            part.unlink(missing_ok=True)
            failures.append(f"{url}: {error}")
        except (OSError, http.client.HTTPException) as error:  # network trouble: keep the partial file
            failures.append(f"{url}: {_reason(error)}")
        else:
            os.replace(part, target)
            return target
        log.warning("could not fetch %s", failures[-1])
    raise DownloadError(f"{source.name}: no mirror delivered it ({'; '.join(failures)})")


def fetch_all(sources, directory: Path, mirror: str = None) -> dict:
    """``{name: path}`` of every source, fetched and checked; one DownloadError listing all files that failed."""
    directory.mkdir(parents=True, exist_ok=True)
    paths, missing = {}, []
    for source in sources:
        try:
            paths[source.name] = fetch(source, directory, mirror)
        except DownloadError:
            missing.append(source)
    if missing:
        wanted = ", ".join(f"{s.name} (from {s.urls[0]})" for s in missing)
        raise DownloadError(f"could not download {wanted}; download {'it' if len(missing) == 1 else 'them'} by hand "
                            f"and put {'it' if len(missing) == 1 else 'them'} in {directory.resolve()}/")
    return paths
