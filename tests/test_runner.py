import asyncio

import pytest

from coderouge.errors import ServerError
from coderouge.providers.fake import FakeProvider
from coderouge.runner import AdaptiveLimiter, RunConfig, Runner
from coderouge.types import Message, Request


def reqs(n, model="fake/t"):
    return [Request(model, (Message("user", f"question {i}"),)) for i in range(n)]


def run(runner, requests):
    return asyncio.run(runner.run(requests))


def make(store, options, **cfg):
    p = FakeProvider("t", options=options)
    r = Runner(store, RunConfig(**{"backoff_base_s": 0.01, "backoff_max_s": 0.05, **cfg}), providers={"fake/t": p})
    return r, p


def test_answers_in_order_and_stored(store):
    r, p = make(store, {})
    out = run(r, reqs(10))
    assert [x.completion.text for x in out] == [f"question {i}" for i in range(10)]
    assert store.count_calls("ok") == 10 and p.calls == 10


def test_429_honours_retry_after_and_halves_concurrency(store):
    r, p = make(store, {"faults": "429", "retry_after": "0.2"}, concurrency=8)
    out = run(r, reqs(4))
    assert all(x.ok for x in out)
    assert all(x.attempts == 2 for x in out)
    # every retry waited exactly the server's Retry-After, not a blind back-off
    assert [w for w in r.waits if w[0] == "rate_limited"] == [("rate_limited", 0.2)] * 4
    lim = next(iter(r._limiters.values()))
    assert lim.limit < 8  # the limit was cut on 429 and only grows back slowly
    assert store.count_calls("error") == 4 and store.count_calls("ok") == 4


@pytest.mark.parametrize("fault,kind", [("500", "server_error"), ("503", "server_error"), ("cut", "stream_cut")])
def test_retryable_faults_are_retried_with_jittered_backoff(store, fault, kind):
    r, p = make(store, {"faults": f"{fault},{fault}"})
    out = run(r, reqs(3))
    assert all(x.ok and x.attempts == 3 for x in out)
    waits = [s for k, s in r.waits if k == kind]
    assert len(waits) == 6
    assert all(0.005 <= s <= 0.05 for s in waits)  # base 0.01 → [0.005, 0.01], then [0.01, 0.02]


def test_timeout_is_retried(store):
    r, p = make(store, {"faults": "timeout", "hang": "30"}, timeout_s=0.05)
    out = run(r, reqs(2))
    assert all(x.ok and x.attempts == 2 for x in out)
    assert [k for k, _ in r.waits] == ["timeout", "timeout"]


@pytest.mark.parametrize("fault", ["400", "401"])
def test_non_retryable_errors_fail_once_and_are_not_answers(store, fault):
    r, p = make(store, {"faults": fault})
    out = run(r, reqs(2))
    assert all(not x.ok and x.attempts == 1 for x in out)
    assert all(x.error.retryable is False for x in out)
    assert store.count_calls("ok") == 0 and store.count_calls("error") == 2


def test_gives_up_after_max_retries(store):
    r, p = make(store, {"faults": "500,500,500,500"}, max_retries=2)
    out = run(r, reqs(1))
    assert not out[0].ok and isinstance(out[0].error, ServerError) and out[0].attempts == 3


def test_cache_answers_identical_requests_without_calling(store):
    r, p = make(store, {})
    run(r, reqs(5))
    r2, p2 = make(store, {})
    out = run(r2, reqs(7))
    assert p2.calls == 2
    assert [x.completion.cached for x in out] == [True] * 5 + [False] * 2


def test_duplicates_within_one_run_are_asked_once(store):
    r, p = make(store, {})
    out = run(r, reqs(3) + reqs(3))
    assert p.calls == 3 and len(out) == 6


def test_concurrency_is_bounded(store):
    peak = 0
    active = 0

    class Counting(FakeProvider):
        async def stream(self, request):
            nonlocal peak, active
            active += 1
            peak = max(peak, active)
            try:
                async for c in super().stream(request):
                    yield c
            finally:
                active -= 1

    p = Counting("t", options={"latency": "0.01"})
    r = Runner(store, RunConfig(concurrency=5), providers={"fake/t": p})
    run(r, reqs(40))
    assert peak == 5


def test_random_faults_are_all_recovered(store):
    r, p = make(store, {"fault_rate": "0.3", "fault": "500", "seed": "7"}, max_retries=10)
    out = run(r, reqs(50))
    assert all(x.ok for x in out)
    assert store.count_calls("error") > 5


def test_adaptive_limiter_grows_back():
    lim = AdaptiveLimiter(8, asyncio.sleep)
    lim.on_rate_limit(0.0)
    assert lim.limit == 4
    for _ in range(4):
        lim.on_success()
    assert lim.limit == 5


def test_ctrl_c_keeps_finished_results(store):
    """Cancelling a run (what Ctrl-C does) keeps every answer already received in the store."""
    p = FakeProvider("t", options={"latency": "0.02"})
    r = Runner(store, RunConfig(concurrency=2), providers={"fake/t": p})

    async def main():
        task = asyncio.create_task(r.run(reqs(100)))
        while store.count_calls("ok") < 6:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    done = store.count_calls("ok")
    assert 6 <= done < 100
    r2, p2 = make(store, {})
    out = run(r2, reqs(100))
    assert all(x.ok for x in out) and p2.calls == 100 - done


class _Bars:
    """A progress factory that records what the call path asked of it."""

    def __init__(self):
        self.made, self.updates, self.closed = [], 0, 0

    def __call__(self, total, enabled, desc, unit="req"):
        self.made.append((total, enabled, desc, unit))
        return self

    def update(self, n=1):
        self.updates += n

    def close(self):
        self.closed += 1


def test_progress_bar_comes_from_the_run_config(store):
    """calls.py draws no bar itself: the one given as RunConfig.progress_factory (the CLI's report.progress) is
    made for a batch of 20 or more, updated per answer and closed; none for a short batch or progress=False."""
    bars = _Bars()
    r, _ = make(store, {}, progress=None, progress_factory=bars)
    run(r, reqs(25))
    assert bars.made == [(25, None, "requests", "req")] and bars.updates == 25 and bars.closed == 1
    run(r, [Request("fake/t", (Message("user", f"other {i}"),)) for i in range(5)])
    assert len(bars.made) == 1  # too short a batch for a bar
    off = _Bars()
    r, _ = make(store, {}, progress=False, progress_factory=off)
    run(r, [Request("fake/t", (Message("user", f"third {i}"),)) for i in range(30)])
    assert off.made == []
    r, _ = make(store, {}, progress=True)  # no factory: no bar, and nothing breaks
    assert len(run(r, [Request("fake/t", (Message("user", f"fourth {i}"),)) for i in range(30)])) == 30


def test_loglikelihood_scoring_reports_progress_through_the_same_hook():
    from coderouge.evals.engine import evaluate_async
    from coderouge.evals.task_types import MCItem, Task

    class Scorer(FakeProvider):
        def scores_loglikelihood(self):
            return True

        def scoring_identity(self):
            return "scorer:1"

        def scoring_settings(self):
            return {}

        def loglikelihood(self, pairs, cancel=None):
            return [(-1.0 if x == " yes" else -2.0, False, 1) for _, x in pairs]

    items = tuple(MCItem(f"q{i}", f"question {i}", f"Q{i}:", ("yes", "no"), 0) for i in range(24))
    task = Task("yn", "multiple_choice", items, "acc")
    bars = _Bars()
    r = Runner(None, RunConfig(progress_factory=bars, progress=True), providers={"fake/t": Scorer("t")})
    res = asyncio.run(evaluate_async(r, "fake/t", task, "loglikelihood"))
    assert res.n == 24 and res.value == 1.0
    assert bars.made == [(24, True, "fake/t yn", "item")] and bars.updates == 24 and bars.closed == 1
