"""recipes/download.py against a local HTTP server: mirror fallback, browser User-Agent, resumed downloads,
checksum checks, and the one-line error that names the files to fetch by hand."""
import hashlib
import http.server
import threading

import pytest

from memattn_fairseq.errors import ConfigError
from memattn_fairseq.recipes.download import DownloadError, Source, fetch, fetch_all

PAYLOAD = bytes(range(256)) * 4096
MD5 = hashlib.md5(PAYLOAD).hexdigest()
DEAD = "http://127.0.0.1:9"  # nothing listens on the discard port: connection refused at once


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``files``; refuses non-browser User-Agents (as wikitext.smerity.com does); honours ``Range``."""

    files, requests, ranges = {}, [], True

    def do_GET(self):
        self.requests.append((self.path, dict(self.headers)))
        body = self.files.get(self.path.lstrip("/"))
        if not self.headers.get("User-Agent", "").startswith("Mozilla/"):
            return self.send_error(403)
        if body is None:
            return self.send_error(404)
        start = int(self.headers["Range"][6:-1]) if self.ranges and "Range" in self.headers else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Files", (Handler,), {"files": {"a.bin": PAYLOAD}, "requests": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}", handler
    httpd.shutdown()
    httpd.server_close()


def test_falls_back_to_the_next_mirror_with_a_browser_user_agent(server, tmp_path):
    url, handler = server
    path = fetch(Source("a.bin", (f"{DEAD}/a.bin", f"{url}/a.bin"), md5=MD5, size=len(PAYLOAD)), tmp_path)
    assert path == tmp_path / "a.bin" and path.read_bytes() == PAYLOAD
    assert not (tmp_path / "a.bin.part").exists()
    assert handler.requests[0][1]["User-Agent"].startswith("Mozilla/5.0")


@pytest.mark.parametrize("ranges", [True, False])
def test_resumes_a_partial_download(server, tmp_path, ranges):
    url, handler = server
    handler.ranges = ranges  # a server that ignores Range sends everything again: the file must not double up
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:1000])
    path = fetch(Source("a.bin", (f"{url}/a.bin",), md5=MD5), tmp_path)
    assert handler.requests[0][1]["Range"] == "bytes=1000-"
    assert path.read_bytes() == PAYLOAD


def test_wrong_bytes_are_neither_kept_nor_resumed(server, tmp_path):
    url, handler = server
    handler.files["a.bin"] = PAYLOAD[::-1]
    with pytest.raises(DownloadError) as error:
        fetch_all([Source("a.bin", (f"{url}/a.bin",), md5=MD5)], tmp_path)
    assert not list(tmp_path.iterdir())
    assert "a.bin" in str(error.value) and str(tmp_path) in str(error.value)


def test_a_file_already_there_is_checked_and_used(server, tmp_path):
    url, handler = server
    (tmp_path / "a.bin").write_bytes(PAYLOAD)
    assert fetch(Source("a.bin", (f"{url}/a.bin",), md5=MD5), tmp_path).read_bytes() == PAYLOAD
    assert not handler.requests
    (tmp_path / "a.bin").write_bytes(b"not it")
    for wrong, needle in (({"md5": MD5}, MD5), ({"size": len(PAYLOAD)}, str(len(PAYLOAD))),
                          ({"sha256": hashlib.sha256(PAYLOAD).hexdigest()}, "sha256")):
        with pytest.raises(ConfigError) as error:
            fetch(Source("a.bin", (f"{url}/a.bin",), **wrong), tmp_path)
        assert not isinstance(error.value, DownloadError) and needle in str(error.value)
    assert (tmp_path / "a.bin").read_bytes() == b"not it" and not handler.requests


def test_every_missing_file_is_named_in_one_line(tmp_path):
    sources = [Source("one.tgz", (f"{DEAD}/one.tgz", f"{DEAD}/mirror/one.tgz")), Source("two.zip", (f"{DEAD}/x",))]
    with pytest.raises(DownloadError) as error:
        fetch_all(sources, tmp_path / "dl")
    message = str(error.value)
    assert "\n" not in message
    assert "one.tgz (from http://127.0.0.1:9/one.tgz)" in message and "two.zip" in message
    assert f"put them in {tmp_path / 'dl'}/" in message


def test_mirror_replaces_the_built_in_urls(server, tmp_path):
    url, handler = server
    paths = fetch_all([Source("a.bin", (f"{DEAD}/a.bin",), md5=MD5)], tmp_path, mirror=url + "/")
    assert paths["a.bin"].read_bytes() == PAYLOAD and [p for p, _ in handler.requests] == ["/a.bin"]
