"""`coderouge view`: a local web viewer of the store, on 127.0.0.1, on the voting page's stack (Starlette,
uvicorn, the same Host check and security headers). Pages are rendered on the server: no script runs,
every text from a model or a task is escaped.

    /                      every run, newest first (eval, arena, stress), filtered by model and task
    /runs/ID               an eval run item by item: full prompts and answers, the check's verdict;
                           ?status=fail|pass|error and ?q=TEXT filter; a form to line it up with another run
    /compare?a=ID&b=ID     two runs on the same items side by side, differences marked (?only=diff)
    /arena                 battles with both answers and the verdict (?judge=, ?prompt_set=, ?page=)
    /stress/ID             a load test's figures and its requests
    /report                the KPI report of the whole store (coderouge report)
"""

from __future__ import annotations

import html
import json
import time
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import UsageError
from ..store import Store
from .runs import list_runs, run_items

e = html.escape
PAGE_SIZE = 50
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em;color:#222}
nav a{margin-right:1em}table{border-collapse:collapse;font-size:13px;margin:.8em 0;width:100%}
td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;text-align:left}th{background:#f4f4f4}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:12px;max-height:24em;overflow:auto}
tr.fail td{background:#fbeaea}tr.pass td{background:#edf7ed}tr.error td{background:#fff4e0}tr.diff td{background:#fff8c4}
form{margin:.6em 0}input,select{font-size:13px;margin-right:.5em}.muted{color:#666;font-size:13px}"""
HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
           "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)} · coderouge</title>
<style>{CSS}</style></head><body><nav><a href="/">runs</a><a href="/arena">arena battles</a><a href="/report">report</a></nav>
<h1>{e(title)}</h1>{body}</body></html>""")


def _error(status: int, message: str) -> HTMLResponse:
    r = _page("not found" if status == 404 else "error", f"<p>{e(message)}</p>")
    r.status_code = status
    return r


def _score(r: dict[str, Any]) -> str:
    if r["score"] is None:
        return "—"
    if r["kind"] == "stress":
        return f"TTFT p50 {r['score']:.1f} ms"
    if str(r["metric"]).startswith("score_"):
        return f"{r['score']:.2f}"
    return f"{r['score'] * 100:.1f}% ({r['ci_low'] * 100:.1f}–{r['ci_high'] * 100:.1f})"


class Viewer:
    def __init__(self, store: Store):
        self.store = store

    async def index(self, request: Request) -> Response:
        model = request.query_params.get("model") or None
        task = request.query_params.get("task") or None
        rows = list_runs(self.store, model=model, task=task)
        trs = []
        for r in rows:
            href = (f"/runs/{r['id']}" if r["kind"] == "eval" else f"/stress/{r['id'].split(':')[1]}"
                    if r["kind"] == "stress" else "/arena?" + urlencode({"judge": r["id"].split(":")[1],
                                                                          "prompt_set": r["id"].split(":", 2)[2]}))
            trs.append(f"<tr><td><a href='{e(href)}'>{e(r['id'])}</a></td><td>{e(r['kind'])}</td>"
                       f"<td>{time.strftime('%Y-%m-%d %H:%M', time.localtime(r['created_at']))}</td>"
                       f"<td>{e(r['model'])}</td><td>{e(r['task'])}</td><td>{e(_score(r))}</td><td>{r['n']}</td>"
                       f"<td>{r['errors']}</td></tr>")
        form = (f"<form method=get action='/'><input name=model placeholder='model' value='{e(model or '')}'>"
                f"<input name=task placeholder='task' value='{e(task or '')}'><button>filter</button></form>")
        body = form + ("<table id=runs><thead><tr><th>id</th><th>kind</th><th>when</th><th>model</th><th>task</th>"
                       "<th>score</th><th>n</th><th>errors</th></tr></thead><tbody>" + "".join(trs) + "</tbody></table>"
                       if rows else "<p>No runs in the store yet: run coderouge eval, arena run or stress.</p>")
        return _page(f"runs in {self.store.location}", body)

    def _run(self, rid: str) -> tuple[Any, list[dict[str, Any]]] | None:
        try:
            return run_items(self.store, rid)
        except UsageError:
            return None

    async def run(self, request: Request) -> Response:
        rid = request.path_params["id"]
        found = self._run(rid)
        if found is None:
            return _error(404, f"no eval run {rid}")
        run, items = found
        status = request.query_params.get("status", "all")
        q = (request.query_params.get("q") or "").strip()
        shown = [x for x in items if status == "all" or _status(x) == status]
        if q:
            ql = q.lower()
            shown = [x for x in shown if any(ql in (x.get(k) or "").lower() for k in ("item", "prompt", "answer", "detail"))]
        res = run.result
        others = [r for r in self.store.eval_runs(task=run.task) if r.id != run.id]
        pick = ""
        if others:
            opts = "".join(f"<option value='{o.id}'>{o.id}: {e(o.model)}</option>" for o in others)
            pick = (f"<form method=get action='/compare'><input type=hidden name=a value='{run.id}'>"
                    f"line up with <select name=b>{opts}</select><button>compare</button></form>")
        filt = (f"<form method=get action='/runs/{run.id}'><select name=status>"
                + "".join(f"<option{' selected' if s == status else ''}>{s}</option>" for s in ("all", "fail", "pass", "error"))
                + f"</select><input name=q placeholder='text in prompt, answer or check' value='{e(q)}'>"
                  "<button>filter</button></form>")
        trs = "".join(
            f"<tr class={_status(x)}><td>{e(x['item'])}</td><td>{e(_status(x))}</td>"
            f"<td>{_num(x['score'], '{:g}')}</td>"
            f"<td><pre>{e(x['prompt'] or '—')}</pre></td><td><pre>{e(x['answer'] or '—')}</pre></td>"
            f"<td><pre>{e(x['error'] or x['detail'] or '')}</pre></td></tr>" for x in shown)
        head = (f"<p>{e(run.model)} on {e(run.task)}: {e(str(res.get('metric')))} "
                f"{(res.get('value') or 0) * 100:.1f}% ({res.get('n')} items scored, {res.get('errors')} failed; "
                f"{e(str(res.get('method')))}, {res.get('shots')}-shot). Showing {len(shown)} of {len(items)}.</p>")
        table = ("<table id=items><thead><tr><th>item</th><th>status</th><th>score</th><th>prompt</th><th>answer</th>"
                 "<th>check</th></tr></thead><tbody>" + trs + "</tbody></table>")
        return _page(f"eval run {run.id}", head + filt + pick + table)

    async def compare(self, request: Request) -> Response:
        a_id, b_id = request.query_params.get("a", ""), request.query_params.get("b", "")
        a, b = self._run(a_id), self._run(b_id)
        if a is None or b is None:
            return _error(404, f"no eval run {a_id if a is None else b_id}")
        only = request.query_params.get("only") == "diff"
        bi = {x["item"]: x for x in b[1]}
        rows, differ = [], 0
        for x in a[1]:
            y = bi.get(x["item"])
            if y is None:
                continue
            d = x["score"] != y["score"] or x["status"] != y["status"]
            differ += d
            if only and not d:
                continue
            rows.append(f"<tr class='{'diff' if d else ''}'><td>{e(x['item'])}</td><td><pre>{e(x['prompt'] or '—')}</pre></td>"
                        f"<td>{e(_status(x))}<pre>{e(x['answer'] or '—')}</pre></td>"
                        f"<td>{e(_status(y))}<pre>{e(y['answer'] or '—')}</pre></td></tr>")
        ra, rb = a[0], b[0]
        link = "/compare?" + urlencode({"a": a_id, "b": b_id, **({} if only else {"only": "diff"})})
        body = (f"<p>{e(ra.model)} (run {ra.id}) against {e(rb.model)} (run {rb.id}) on {e(ra.task)}: "
                f"{differ} items differ. <a href='{e(link)}'>{'all items' if only else 'only the differences'}</a></p>"
                f"<table id=compare><thead><tr><th>item</th><th>prompt</th><th>{e(ra.model)}</th><th>{e(rb.model)}</th>"
                "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
        return _page(f"run {ra.id} against run {rb.id}", body)

    async def arena(self, request: Request) -> Response:
        judge = request.query_params.get("judge") or None
        pset = request.query_params.get("prompt_set") or None
        try:
            page = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        bs = [b for b in self.store.battles(judge=judge) if pset in (None, "-", b["prompt_set"] or "-")]
        bs.reverse()  # newest first
        shown = bs[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        rows = []
        for b in shown:
            prompt = ""
            if b["prompt_json"]:
                try:
                    prompt = "\n\n".join(m.get("content") if isinstance(m.get("content"), str) else ""
                                         for m in json.loads(b["prompt_json"]))
                except ValueError:
                    prompt = ""
            rows.append(f"<tr><td>{b['id']}</td><td><pre>{e(prompt or b['prompt_id'] or '—')}</pre></td>"
                        f"<td>{e(b['model_a'])}<pre>{e(b['answer_a'] or '—')}</pre></td>"
                        f"<td>{e(b['model_b'])}<pre>{e(b['answer_b'] or '—')}</pre></td>"
                        f"<td>{e(b['winner'] or 'undecided')}</td><td>{e(b['judge'])}</td></tr>")
        nav = ""
        if len(bs) > page * PAGE_SIZE:
            nav = f"<p><a href='/arena?{e(urlencode({'judge': judge or '', 'prompt_set': pset or '', 'page': page + 1}))}'>older battles</a></p>"
        body = (f"<p class=muted>{len(bs)} battles" + (f", judge {e(judge)}" if judge else "") + "</p>"
                + ("<table id=battles><thead><tr><th>id</th><th>prompt</th><th>model A</th><th>model B</th><th>verdict</th>"
                   "<th>judge</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>" if bs else "<p>No battles.</p>")
                + nav)
        return _page("arena battles", body)

    async def stress(self, request: Request) -> Response:
        sid = request.path_params["id"]
        found = self.store.stress_runs(run_id=int(sid)) if sid.isdigit() else []
        if not found:
            return _error(404, f"no load test {sid}")
        s = found[0]
        reqs = self.store.stress_requests(s.id)[:1000]
        trs = "".join(f"<tr class={'error' if r['error'] else ''}><td>{r['seq']}</td><td>{r['sent_s']:.3f}</td>"
                      f"<td>{_ms(r['ttft_s'])}</td><td>{_ms(r['e2e_s'])}</td><td>{r['output_tokens']}</td>"
                      f"<td>{e(r['error'] or '')}</td><td>{e(r['served_by'] or '')}</td></tr>" for r in reqs)
        body = (f"<p>{e(s.target)} (model {e(str(s.model))})</p><pre id=summary>{e(json.dumps(s.result, indent=2))}</pre>"
                "<table id=requests><thead><tr><th>#</th><th>sent (s)</th><th>TTFT (ms)</th><th>E2E (ms)</th><th>tokens</th>"
                "<th>error</th><th>served by</th></tr></thead><tbody>" + trs + "</tbody></table>")
        return _page(f"load test {s.id}", body)

    async def report(self, request: Request) -> Response:
        from . import kpi, kpi_render

        try:
            rep = kpi.build(self.store)
        except UsageError as err:
            return _page("report", f"<p>{e(str(err))}</p>")
        return HTMLResponse(kpi_render.to_html(rep))


def _num(v: float | None, fmt: str) -> str:
    return "—" if v is None else fmt.format(v)


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v * 1000:.1f}"


def _status(x: dict[str, Any]) -> str:
    return "error" if x["status"] != "ok" else ("pass" if x["passed"] else "fail")


def create_app(store: Store, allowed_hosts: list[str] | None = None) -> Starlette:
    from ..arena.web import _Guard

    v = Viewer(store)
    routes = [Route("/", v.index), Route("/runs/{id}", v.run), Route("/compare", v.compare), Route("/arena", v.arena),
              Route("/stress/{id}", v.stress), Route("/report", v.report)]
    return Starlette(routes=routes, middleware=[Middleware(_Guard, allowed_hosts=allowed_hosts, headers=HEADERS)])


def serve(store_url: str | None, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    from ..arena.web import allowed_hosts_for
    from ..net import listen

    store = Store(store_url)
    try:
        sock, root = listen(host, port)
    except UsageError:
        store.close()
        raise
    print(f"coderouge view: {root}/  (store {store.location}; Ctrl-C to stop)", flush=True)
    try:
        uvicorn.Server(uvicorn.Config(create_app(store, allowed_hosts_for(host)), log_level="warning",
                                      timeout_graceful_shutdown=2)).run(sockets=[sock])
    finally:
        sock.close()
        store.close()
