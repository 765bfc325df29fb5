"""recipes/download.py against a local HTTP server that fails on purpose: transient failures are retried with a
growing delay (resuming what arrived), permanent ones move on to the next mirror at once, checksums still decide,
and a terminal shows a progress bar."""
import hashlib
import http.server
import io
import threading

import pytest

from memattn_fairseq.recipes import download
from memattn_fairseq.recipes.download import DownloadError, Source, fetch

PAYLOAD = bytes(range(256)) * 4096
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class FlakyHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /a.bin after ``failures`` (a list consumed per request): an int is an HTTP error status,
    "cut" sends the headers of the whole file and then only part of it before closing."""

    failures, requests = [], []

    def do_GET(self):
        self.requests.append(self.headers.get("Range"))
        failure = self.failures.pop(0) if self.failures else None
        if isinstance(failure, int):
            return self.send_error(failure)
        start = int(self.headers["Range"][6:-1]) if "Range" in self.headers else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3] if failure == "cut" else body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Flaky", (FlakyHandler,), {"failures": [], "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sleeps(monkeypatch):
    waited = []
    monkeypatch.setattr(download.time, "sleep", waited.append)  # record the backoff instead of waiting
    return waited


def test_transient_failures_are_retried_with_exponential_backoff(server, sleeps, tmp_path):
    url, handler = server
    handler.failures += [503, 429, "cut"]
    path = fetch(Source("a.bin", (f"{url}/a.bin",), md5=MD5, size=len(PAYLOAD)), tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert sleeps == [download.BACKOFF, 2 * download.BACKOFF, 4 * download.BACKOFF]
    assert handler.requests[:3] == [None, None, None]
    assert handler.requests[3] == f"bytes={len(PAYLOAD) // 3}-"  # the cut transfer resumes where it stopped


def test_retries_end_after_the_last_attempt_with_the_one_line_error(server, sleeps, tmp_path):
    url, handler = server
    handler.failures += [500] * download.ATTEMPTS
    with pytest.raises(DownloadError) as error:
        download.fetch_all([Source("a.bin", (f"{url}/a.bin",), md5=MD5)], tmp_path)
    assert len(handler.requests) == download.ATTEMPTS and len(sleeps) == download.ATTEMPTS - 1
    assert "download it by hand" in str(error.value) and "\n" not in str(error.value)


def test_a_missing_file_moves_to_the_next_mirror_without_waiting(server, sleeps, tmp_path):
    url, handler = server
    handler.failures += [404]
    path = fetch(Source("a.bin", (f"{url}/gone/a.bin", f"{url}/a.bin"), md5=MD5), tmp_path)
    assert path.read_bytes() == PAYLOAD and len(handler.requests) == 2 and sleeps == []


def test_a_terminal_shows_a_progress_bar(server, sleeps, tmp_path, monkeypatch):
    url, _ = server

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    fetch(Source("a.bin", (f"{url}/a.bin",), md5=MD5), tmp_path)
    shown = terminal.getvalue()
    assert "a.bin" in shown and "100%" in shown and "1.00M" in shown
