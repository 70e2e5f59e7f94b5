import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coderouge.errors import UsageError
from coderouge.providers import pricing
from coderouge.types import Usage

from conftest import SHARED_DATA

LITELLM = SHARED_DATA / "pricing" / "model_prices_and_context_window.json"


@pytest.fixture(autouse=True)
def _reset():
    pricing.set_overrides([])
    yield
    pricing.set_overrides([])


def test_builtin_prices_have_source_and_date():
    for name, p in pricing.BUILTIN.items():
        assert p.source.startswith("https://") and p.as_of, name
        assert 0 < p.input_per_mtok <= p.output_per_mtok, name
    c = pricing.cost("openai", "gpt-4o-mini", Usage(1_000_000, 1_000_000))
    assert c == pytest.approx(0.15 + 0.60)


def test_dated_model_names_and_free_and_unknown():
    assert pricing.cost("anthropic", "claude-haiku-4-5-20251001", Usage(1000, 1000)) == pytest.approx(0.001 + 0.005)
    assert pricing.cost("local", "gemma-3-270m", Usage(10, 10)) == 0.0
    assert pricing.cost("openai", "no-such-model", Usage(10, 10)) is None  # unknown is n/a, never $0


def test_builtin_table_agrees_with_litellm_release():
    table = pricing.load_table(str(LITELLM))
    checked = 0
    for name, p in pricing.BUILTIN.items():
        if name in table:
            assert table[name].input_per_mtok == pytest.approx(p.input_per_mtok), name
            assert table[name].output_per_mtok == pytest.approx(p.output_per_mtok), name
            checked += 1
    assert checked >= 12


def test_override_from_litellm_file(tmp_path):
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({"gpt-4o-mini": {"litellm_provider": "openai", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
                             "gemini/my-tuned": {"litellm_provider": "gemini", "input_cost_per_token": 3e-6, "output_cost_per_token": 4e-6}}))
    pricing.set_overrides([str(f)])
    assert pricing.cost("openai", "gpt-4o-mini", Usage(1_000_000, 0)) == pytest.approx(1.0)
    assert pricing.cost("gemini", "my-tuned", Usage(0, 1_000_000)) == pytest.approx(4.0)


def test_override_from_url_on_loopback():
    body = json.dumps({"claude-sonnet-4-5": {"litellm_provider": "anthropic", "input_cost_per_token": 9e-6, "output_cost_per_token": 9e-6}}).encode()

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        pricing.set_overrides([f"http://127.0.0.1:{srv.server_port}/prices.json"])
    finally:
        srv.shutdown()
        srv.server_close()
    assert pricing.cost("anthropic", "claude-sonnet-4-5", Usage(1_000_000, 0)) == pytest.approx(9.0)


def test_bad_price_file_is_a_clear_error(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    with pytest.raises(UsageError, match="bad.json"):
        pricing.set_overrides([str(f)])
