"""`coderouge view` in Debian's chromium through playwright: runs, one run's items filtered by status and
text, two runs side by side, arena battles, a load test, the report; model text shown as text; the Host
check and the security headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from loopback import running

from coderouge.report.viewer import create_app
from coderouge.store import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
XSS = "<script>document.title='pwned'</script><b id=inj>bold</b>"


def cr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "coderouge", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    d = tmp_path_factory.mktemp("view")
    store = str(d / "s.db")
    task = d / "t.jsonl"
    rows = [{"id": f"c{i}", "prompt": f"Capital of country {i}?", "check": {"type": "exact", "expected": "Paris"}}
            for i in range(5)]
    rows.append({"id": "xss", "prompt": XSS, "check": {"type": "exact", "expected": "Paris"}})
    task.write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = d / "p.jsonl"
    prompts.write_text(json.dumps({"id": "q", "prompt": "2 + 2?", "check": {"type": "numeric", "expected": 4}}) + "\n")
    for args in [("eval", "fake/paris?answer=Paris", "fake/echo", "--task", str(task)),
                 ("arena", "run", "fake/four?answer=4", "fake/five?answer=5", "--prompts", str(prompts),
                  "--judge", "reference", "--battles", "4"),
                 ("stress", "fake/echo", "--requests", "5")]:
        r = cr(*args, "--store", store)
        assert r.returncode == 0, (args, r.stderr)
    return store


@pytest.fixture(scope="module")
def site(store_path):
    s = Store(store_path)
    try:
        with running(create_app(s, ["127.0.0.1", "localhost"])) as url:
            yield url
    finally:
        s.close()


def test_the_host_check_and_headers(site):
    r = urllib.request.urlopen(site + "/", timeout=10)
    assert "default-src 'none'" in r.headers["Content-Security-Policy"] and r.headers["X-Frame-Options"] == "DENY"
    req = urllib.request.Request(site + "/", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(site + "/runs/999", timeout=10)
    assert e.value.code == 404


@pytest.mark.browser
def test_browsing_the_store_in_chromium(site):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (scripts/ensure-system.sh)")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = b.new_page()
            page.set_default_timeout(15_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda x: errors.append(str(x)))
            page.goto(site + "/")
            assert page.locator("#runs tbody tr").count() == 4  # two eval runs, the arena, the load test
            page.locator("#runs a", has_text="stress:").click()
            assert page.locator("#requests tbody tr").count() == 5
            page.goto(site + "/")
            page.locator("#runs tr").filter(has=page.locator("td:text-is('eval')")).filter(
                has=page.locator("td:text-is('fake/echo')")).locator("a").click()
            assert page.locator("#items tbody tr").count() == 6
            # the model's echo of a script is text, never markup
            row = page.locator("#items tr", has=page.locator("td:text-is('xss')"))
            assert "<script>document.title='pwned'</script>" in row.inner_text()
            assert page.locator("b#inj").count() == 0 and page.title() != "pwned"
            page.select_option("select[name=status]", "fail")
            page.locator("form", has=page.locator("select[name=status]")).locator("button").click()
            assert page.locator("#items tbody tr.fail").count() == 6 and page.locator("#items tbody tr.pass").count() == 0
            page.fill("input[name=q]", "country 3")
            page.locator("form", has=page.locator("input[name=q]")).locator("button").click()
            assert page.locator("#items tbody tr").count() == 1
            page.locator("form[action='/compare'] button").click()
            assert "6 items differ" in page.inner_text("body")
            assert page.locator("#compare tr.diff").count() == 6
            page.goto(site + "/arena")
            rows = page.locator("#battles tbody tr")
            assert rows.count() == 4
            text = rows.first.inner_text()
            assert "fake/four?answer=4" in text and "2 + 2?" in text and ("model_a" in text or "model_b" in text)
            page.goto(site + "/report")
            assert page.locator("div.chart svg").count() >= 2
        finally:
            b.close()
    assert errors == []
