"""`coderouge eval` end to end against loopback servers speaking each vendor's wire format,
through the official SDKs: the runner retries a 429, and a failure is recorded, never scored."""

import json
import sqlite3

from coderouge.cli import main

from vendor_servers import AnthropicServer, GeminiServer, OpenAIServer


def test_eval_openai_compatible_server_with_retry(store_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-eval-0123456789")
    with OpenAIServer(("status", 429, {"retry-after": "0"}), ("ok", "billing"), ("ok", "billing"), ("ok", "billing")) as srv:
        rc = main(["eval", "openai/gpt-4o-mini", "--base-url", srv.base_url, "--task", "business", "--limit", "3", "--json"])
        hits = len(srv.requests)
    assert rc == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["n"] == 3 and r["errors"] == 0 and hits == 4  # one 429, retried
    assert r["cost_usd"] is not None and r["cost_usd"] > 0
    rows = sqlite3.connect(store_path).execute("SELECT status, error_kind FROM calls ORDER BY id").fetchall()
    assert rows.count(("error", "rate_limited")) == 1 and len([x for x in rows if x[0] == "ok"]) == 3
    dump = "\n".join(sqlite3.connect(store_path).iterdump())
    assert "sk-test-eval-0123456789" not in dump


def test_eval_three_vendors_side_by_side(store_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-a-0123456789")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-test-0123456789")
    with OpenAIServer(*[("ok", "A")] * 4) as o, AnthropicServer(*[("ok", "B")] * 4) as a, GeminiServer(("status", 401), *[("ok", "C")] * 4) as g:
        rc = main(["eval", f"openai/gpt-4o-mini?base_url={o.base_url}", f"anthropic/claude-haiku-4-5?base_url={a.base_url}",
                   f"gemini/gemini-2.5-flash?base_url={g.base_url}", "--task", "arc_easy", "--limit", "4", "--json"])
    assert rc == 0
    rows = {r["model"].split("?")[0]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert set(rows) == {"openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"}
    for r in rows.values():
        assert r["method"] == "letter"
    assert rows["openai/gpt-4o-mini"]["n"] == 4 and rows["anthropic/claude-haiku-4-5"]["n"] == 4
    # the 401 is not retried, and the item is an error, not a wrong answer
    assert rows["gemini/gemini-2.5-flash"]["errors"] == 1 and rows["gemini/gemini-2.5-flash"]["n"] == 3
