"""`coderouge keys` and `coderouge serve` as a user runs them: real processes on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import openai
from vendor_servers import OpenAIServer


def cr(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_keys_create_list_revoke(tmp_path):
    store = str(tmp_path / "s.db")
    r = cr("keys", "create", "team-a", "--budget-usd", "2.5", "--rpm", "60", "--eu-only", "--routes", "chat,code",
           "--json", "--store", store)
    assert r.returncode == 0, r.stderr
    made = json.loads(r.stdout)
    assert made["key"].startswith("crk-") and made["id"] in made["key"]
    listed = json.loads(cr("keys", "list", "--json", "--store", store).stdout)["keys"]
    assert listed == [{"id": made["id"], "name": "team-a", "revoked": False, "budget_usd": 2.5, "spent_usd": 0.0,
                       "requests": 0, "rpm": 60, "tpm": None, "eu_only": True, "routes": ["chat", "code"]}]
    assert made["key"] not in cr("keys", "list", "--store", store).stdout  # never shown again
    assert cr("keys", "revoke", made["id"], "--store", store).returncode == 0
    assert json.loads(cr("keys", "list", "--json", "--store", store).stdout)["keys"][0]["revoked"] is True
    bad = cr("keys", "revoke", "nope", "--store", store)
    assert bad.returncode == 2 and "no key with id 'nope'" in bad.stderr
    assert cr("keys", "create", "x", "--budget-usd", "-1", "--store", store).returncode == 2


def test_serve_answers_an_sdk_client_and_explains(tmp_path):
    store = str(tmp_path / "s.db")
    key = json.loads(cr("keys", "create", "t", "--json", "--store", store).stdout)["key"]
    with OpenAIServer() as up:
        cfg = tmp_path / "gateway.yaml"
        cfg.write_text(f"routes:\n  chat:\n    strategy: failover\n    deployments:\n      - model: openai/m1\n"
                       f"        base_url: {up.base_url}\n      - model: openai/gpt-4o-mini\n"
                       f"        base_url: {up.base_url}\nallow_private_base_urls: true\n")
        ex = cr("serve", "--config", str(cfg), "--explain", "--store", store)
        assert ex.returncode == 0, ex.stderr
        assert "route chat: failover" in ex.stdout and f"1. openai/m1@{up.base_url}" in ex.stdout
        assert "no known price" in ex.stdout and "openai/m1@" in ex.stdout.split("no known price")[1]
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "coderouge", "serve", "--config", str(cfg), "--port", str(port),
                                 "--store", store], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                    time.sleep(0.1)
            c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
            r = c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content == "Hello world"
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=15)
        assert f"http://127.0.0.1:{port}/v1" in out
        assert "openai/m1@" in err and "no known price" in err  # the warning names the unpriced deployment
        assert key not in out + err
    listed = json.loads(cr("keys", "list", "--json", "--store", store).stdout)["keys"]
    assert listed[0]["requests"] == 1


def test_serve_refuses_bad_input_in_one_line(tmp_path):
    cfg = tmp_path / "gateway.yaml"
    cfg.write_text("routes:\n  chat:\n    deployments:\n      - model: openai/m1\n        base_url: http://127.0.0.1:9/v1\n")
    r = cr("serve", "--config", str(cfg), "--store", str(tmp_path / "s.db"))
    assert r.returncode == 2 and f"{cfg}:5:" in r.stderr and "allow_private_base_urls" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    cfg.write_text("routes:\n  chat:\n    deployments: [{model: openai/m1}]\nretries: 3\n")
    r = cr("serve", "--config", str(cfg), "--store", str(tmp_path / "s.db"))
    assert r.returncode == 2 and f"{cfg}:4: unknown key 'retries'" in r.stderr
    cfg.write_text("routes:\n  chat:\n    deployments: [{model: openai/m1}]\n")
    r = cr("serve", "--config", str(cfg), "--store", str(tmp_path / "s.db"))
    assert r.returncode == 2 and "no API key: set OPENAI_API_KEY" in r.stderr  # a vendor without its key
    cfg.write_text("routes:\n  chat:\n    deployments: [{model: fake/echo}]\n")
    r = cr("serve", "--config", str(cfg), "--no-keys", "--host", "0.0.0.0", "--store", str(tmp_path / "s.db"))
    assert r.returncode == 2 and "loopback" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = cr("serve", "--config", str(cfg), "--port", str(busy.getsockname()[1]), "--store", str(tmp_path / "s.db"))
    assert r.returncode == 2 and "cannot listen on 127.0.0.1" in r.stderr
