"""`coderouge report` from a store filled by real `eval`, `arena run` and `stress` runs on fake/ models and
the local model: every format, the page opened in Debian's chromium (charts drawn, no console error, no
network request, the KPI table equal to --format json), and bad input in one line."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def cr(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    store = str(d / "s.db")
    prompts = d / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "prompt": "What is 2 + 2? Answer with the number only.",
                                           "check": {"type": "numeric", "expected": 4}}) + "\n" for i in range(12)))
    steps = [
        ("eval", "fake/four?answer=4", "fake/echo", "--task", "business", "--store", store),
        ("eval", "fake/four?answer=4", "fake/echo", "--task", "arc_easy", "--limit", "40", "--method", "letter",
         "--store", store),
        ("eval", "local/gemma-3-270m", "--task", "arc_easy", "--limit", "40", "--store", store),
        ("arena", "run", "fake/four?answer=4", "fake/five?answer=5", "fake/echo", "--prompts", str(prompts),
         "--judge", "reference", "--store", store),
        ("stress", "fake/four?answer=4&latency=0.01", "--concurrency", "4", "--requests", "20", "--store", store),
        ("stress", "fake/echo?word_delay=0.002", "--ramp", "20,40", "--requests", "10", "--store", store),
    ]
    for s in steps:
        r = cr(*s)
        assert r.returncode == 0, (s, r.stderr)
    return store, d


def test_json_md_and_csv_carry_the_same_kpis(filled):
    store, _ = filled
    r = cr("report", "--format", "json", "--store", store)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    by = {m["model"]: m for m in data["models"]}
    assert {"fake/four?answer=4", "fake/echo", "local/gemma-3-270m", "fake/five?answer=5"} <= set(by)
    four = by["fake/four?answer=4"]
    for k in ("tasks", "rating", "latency_p50_s", "cost_per_1k_requests_usd", "cost_per_correct_usd", "win_rate",
              "ttft_p50_s", "output_tokens_per_s", "errors"):
        assert k in four, k
    assert set(four["tasks"]["business"]) >= {"score", "ci_low", "ci_high", "n"} and four["tasks"]["business"]["n"] == 50
    assert four["rating"] > by["fake/five?answer=5"]["rating"] and four["win_rate"] == 1.0
    assert four["cost_per_1k_requests_usd"] == 0.0  # fake/ models are free, not unknown
    assert by["local/gemma-3-270m"]["tasks"]["arc_easy"]["n"] == 40
    assert data["arena"]["battles"] > 0 and len(data["arena"]["win_rate_matrix"]) == 3
    assert any(c["task"] == "arc_easy" and {c["model_a"], c["model_b"]} == {"fake/four?answer=4", "fake/echo"}
               for c in data["comparisons"])
    assert data["ramps"] and [p["offered_rate"] for p in data["ramps"][0]["points"]] == [20, 40]
    assert data["provenance"]["price_table_checked"]
    md = cr("report", "--format", "md", "--store", store).stdout
    assert "| fake/four?answer=4 |" in md and "Paired comparisons" in md and "Where the numbers come from" in md
    rows = list(csv.DictReader(io.StringIO(cr("report", "--format", "csv", "--store", store).stdout)))
    four_csv = next(x for x in rows if x["model"] == "fake/four?answer=4")
    assert float(four_csv["business_score"]) == four["tasks"]["business"]["score"]
    assert float(four_csv["rating"]) == four["rating"]
    only = json.loads(cr("report", "--format", "json", "--models", "fake/echo", "--tasks", "business",
                         "--store", store).stdout)
    assert [m["model"] for m in only["models"]] == ["fake/echo"] and only["tasks"] == ["business"]


def test_bad_input_is_one_line(filled, tmp_path):
    store, _ = filled
    failed = str(tmp_path / "failed.db")
    r = cr("stress", "fake/x?fault_rate=1&fault=500", "--requests", "3", "--store", failed)
    assert r.returncode == 0, r.stderr
    for args, expect in [(["--store", str(tmp_path / "empty.db")], "nothing to report"),
                         (["--store", failed], "no successful request"),
                         (["--models", "openai/nope", "--store", store], "no results in the store for openai/nope"),
                         (["--tasks", "gsm8k", "--store", store], "no eval results in the store for task gsm8k"),
                         (["--since", "yesterday", "--store", store], "YYYY-MM-DD")]:
        r = cr("report", *args)
        assert r.returncode == 2 and expect in r.stderr and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


@pytest.mark.browser
def test_the_page_in_chromium(filled):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-system.sh)")
    store, d = filled
    out = d / "report.html"
    r = cr("report", "--out", str(out), "--store", store)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size < 5_000_000
    data = json.loads(cr("report", "--format", "json", "--store", store).stdout)
    requests, errors = [], []
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = b.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(rt):
                if rt.request.url != out.as_uri():
                    requests.append(rt.request.url)
                    rt.abort()
                else:
                    rt.continue_()

            page.route("**/*", route)
            page.goto(out.as_uri())
            charts = page.locator("div.chart svg")
            assert charts.count() == 5  # quality-cost, latency, TTFT against load, ratings, win matrix
            for i in range(charts.count()):
                box = charts.nth(i).bounding_box()
                assert box and box["width"] > 200 and box["height"] > 100
                assert charts.nth(i).locator("path, use, text").count() > 10
            # the KPI table's numbers are those of --format json
            head = page.locator("#kpi thead th").all_inner_texts()
            for m in data["models"]:
                cells = page.locator("#kpi tbody tr", has=page.locator(f"td:text-is('{m['model']}')")).locator("td")
                row = dict(zip(head, cells.all_inner_texts()))
                t = m["tasks"].get("business")
                if t:
                    assert row["business (95% CI)"].startswith(f"{t['score'] * 100:.1f} ")
                if m["rating"] is not None:
                    assert row["arena rating"].startswith(f"{m['rating']:.0f} ")
                assert row["errors"] == str(m["errors"])
            assert page.locator("#comparisons tbody tr").count() == len(data["comparisons"])
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        finally:
            b.close()
    assert errors == [] and requests == []
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000
