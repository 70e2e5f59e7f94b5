"""Benchmark data: from CODEROUGE_DATA, else downloaded once into the cache and checked by sha256."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coderouge.errors import DataNotFoundError, UsageError
from coderouge.evals import data


class _Server:
    def __init__(self, body: bytes):
        self.hits = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.srv.server_port}/arc.jsonl"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture()
def no_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("CODEROUGE_DATA", raising=False)
    monkeypatch.setenv("CODEROUGE_CACHE", str(tmp_path / "cache"))


def test_download_once_and_verify(no_data_dir):
    body = b'{"query": "Question: q", "choices": ["a", "b"], "gold": 0}\n'
    s = _Server(body)
    try:
        df = data.DataFile("arc/x.jsonl", s.url, hashlib.sha256(body).hexdigest(), "test set")
        p1 = data.resolve(df)
        p2 = data.resolve(df)
    finally:
        s.close()
    assert p1 == p2 and p1.read_bytes() == body and s.hits == 1


def test_wrong_checksum_is_refused_and_not_cached(no_data_dir):
    s = _Server(b"tampered")
    try:
        df = data.DataFile("arc/y.jsonl", s.url, "0" * 64, "test set")
        with pytest.raises(UsageError, match="sha256"):
            data.resolve(df)
    finally:
        s.close()
    assert not (data.cache_dir() / "arc/y.jsonl").exists()


def test_offline_says_what_to_put_where(no_data_dir):
    df = data.DataFile("arc/z.jsonl", "http://127.0.0.1:9/nothing", "0" * 64, "ARC-Easy test set")
    with pytest.raises(DataNotFoundError) as e:
        data.resolve(df)
    msg = str(e.value)
    assert "CODEROUGE_DATA" in msg and "arc/z.jsonl" in msg and str(data.cache_dir()) in msg


def test_data_dir_missing_file(monkeypatch, tmp_path):
    monkeypatch.setenv("CODEROUGE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="arc/arc_easy_test.jsonl"):
        data.resolve(data.ARC_EASY)


def test_shared_arc_easy_matches_pinned_checksum():
    p = data.resolve(data.ARC_EASY)
    assert hashlib.sha256(p.read_bytes()).hexdigest() == data.ARC_EASY.sha256


def test_corrupt_arc_file_names_file_and_line(monkeypatch, tmp_path):
    from coderouge.errors import TaskFileError
    from coderouge.evals import get_task

    (tmp_path / "arc").mkdir()
    (tmp_path / "arc" / "arc_easy_test.jsonl").write_text('{"query": "Question: a", "choices": ["x"], "gold": 0}\n{"query": "oops"\n')
    monkeypatch.setenv("CODEROUGE_DATA", str(tmp_path))
    with pytest.raises(TaskFileError, match=r"arc_easy_test.jsonl:2"):
        get_task("arc_easy")
