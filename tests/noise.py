"""The yardstick for the local model's fast log-likelihood path: llama.cpp's batch-shape noise,
measured on the same items, in the same test, on the machine the test runs on.

llama.cpp's CPU results depend on how a batch is shaped (which matrix kernel runs, in what order
sums are taken), and by how much depends on the machine. On one 2-core AMD EPYC, two plain
evaluations of the same 30 ARC-Easy items (each sequence alone, fed whole vs token by token) pick
different answers on 2 of them, while the fast path picks the same answers as the whole-sequence
evaluation on all 30; on another machine of the same kind the fast path differed on 2 of 30. So no
fixed share of agreeing answers and no fixed tolerance in nats holds on every machine. Three
evaluations of the same sequences instead:

    plain   each sequence alone, all its tokens in one decode call: the reference (a sequence
            scored alone by the provider is exactly this batch)
    plain'  each sequence alone, one token per decode call: the same computation, the other extreme
            of batch shape, so plain' vs plain is llama.cpp's batch-shape noise on these items
    fast    the provider's packed path (`loglikelihood`): many sequences per decode call, shared
            rows computed once

and the fast path must be no further from plain than plain' is. "No further" is judged per item
(the choices of one item share their context, so their errors are not independent; items are) by a
one-sided exact sign test: if fast were exactly as far from plain as plain' is, each item on which
only one of the two differs would be equally likely to be either one, and the test fails only
when the fast path is the one on so many more items that chance would do that with probability
below ALPHA. The margin is therefore set by ALPHA and the number of items, not by a tolerance that
suits one machine:

* answers (a McNemar test): agree(fast, plain) >= agree(plain', plain) - m, where m is the largest
  excess of fast-only over plain'-only answer changes that the sign test at ALPHA still puts down
  to chance (m grows with the number of items where only one differs: 10 fast-only changes
  against 0 plain'-only ones fail, as do 13 against 1 and 16 against 2);
* log-likelihoods (each item's summed |difference from plain| over its choices): fast may be the
  further one on no more than about half of the items plus chance (30 items: at most 23; 14: 12).

What that catches, tried on 30 ARC-Easy items by breaking the fast path in memory: logits shuffled
over the vocabulary or taken from the neighbouring scored row fail both checks by far (16-18
answers changed by the fast path alone, none or one by plain', P < 2e-4; every item further,
P = 1e-9); random error of sd 0.3 nats added to every logit (the fast path then 0.17 nats per
token from plain on average, plain' 0.076) fails the log-likelihood check (26 of 30 items
further, P = 3e-5) while changing only 2 answers; sd 0.2 (23 of 30) passes.

One guard keeps the yardstick itself honest: plain' must agree with plain on many more items than
two random pickers would (one-sided exact test at ALPHA against 1/choices per item), or llama.cpp's
plain path is broken on this machine and a comparison against it would mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

# The chance, on a machine where the fast path is exactly as far from plain as plain' is, that a
# given sample of items fails a check anyway. The samples are seeded and llama.cpp is deterministic
# for a given batch shape, so on one machine a test either always passes or always fails: this is
# the share of machines (or samples) on which a sound fast path would be reported broken.
ALPHA = 0.001


def sign_tail(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2): one-sided exact sign test."""
    return sum(comb(n, i) for i in range(k, n + 1)) / 2**n if n else 1.0


def chance_tail(k: int, ps: list[float]) -> float:
    """P(X >= k) where X counts successes of independent trials with probabilities `ps`."""
    dist = [1.0]
    for p in ps:
        nxt = [0.0] * (len(dist) + 1)
        for i, q in enumerate(dist):
            nxt[i] += q * (1 - p)
            nxt[i + 1] += q * p
        dist = nxt
    return sum(dist[k:])


def sign_margin(n_discordant: int) -> int:
    """The largest (fast-only) - (plain'-only) count among `n_discordant` items that the sign test
    at ALPHA still accepts."""
    b = n_discordant
    while b > 0 and sign_tail(b, n_discordant) < ALPHA:
        b -= 1
    return 2 * b - n_discordant


@dataclass
class Measured:
    """Three evaluations of the same items' sequences (sizes: the number of choices per item)."""

    sizes: list[int]
    ntok: list[int]  # continuation tokens per sequence
    plain: list[float]
    plain2: list[float]  # plain': one token per decode call
    fast: list[float]

    def _items(self, xs: list[float]) -> list[list[float]]:
        out, start = [], 0
        for n in self.sizes:
            out.append(xs[start:start + n])
            start += n
        return out

    def answers(self, xs: list[float]) -> list[int]:
        return [max(range(len(item)), key=item.__getitem__) for item in self._items(xs)]

    def item_gaps(self, xs: list[float]) -> list[float]:
        """Per item: sum over its choices of |xs - plain|, in nats."""
        return [sum(abs(a - b) for a, b in zip(x, p)) for x, p in zip(self._items(xs), self._items(self.plain))]

    def per_token(self, xs: list[float]) -> tuple[float, float]:
        """(mean, max) of |xs - plain| per continuation token over sequences, for reports."""
        g = [abs(a - b) / k for a, b, k in zip(xs, self.plain, self.ntok)]
        return sum(g) / len(g), max(g)

    def judge(self) -> dict[str, object]:
        """Every number the checks use, for assertion messages and reports."""
        ref, fast, other = self.answers(self.plain), self.answers(self.fast), self.answers(self.plain2)
        n = len(self.sizes)
        fast_only = sum(f != r and o == r for f, o, r in zip(fast, other, ref))
        other_only = sum(o != r and f == r for f, o, r in zip(fast, other, ref))
        gf, go = self.item_gaps(self.fast), self.item_gaps(self.plain2)
        further = sum(a > b for a, b in zip(gf, go))
        closer = sum(a < b for a, b in zip(gf, go))
        agree_other = sum(o == r for o, r in zip(other, ref))
        return {
            "items": n,
            "agree_fast": sum(f == r for f, r in zip(fast, ref)),
            "agree_noise": agree_other,
            "fast_only": fast_only,
            "noise_only": other_only,
            "answer_margin": sign_margin(fast_only + other_only),
            "answer_p": sign_tail(fast_only, fast_only + other_only),
            "items_fast_further": further,
            "items_fast_closer": closer,
            "loglik_p": sign_tail(further, further + closer),
            "noise_vs_chance_p": chance_tail(agree_other, [1 / k for k in self.sizes]),
            "noise_per_token": self.per_token(self.plain2),
            "fast_per_token": self.per_token(self.fast),
        }


def measure(provider, items: list[list[tuple[str, str]]]) -> Measured:
    """plain, plain' and fast log-likelihoods for each item's (context, continuation) pairs."""
    pairs = [p for item in items for p in item]
    seqs = provider.encode_pairs(pairs)
    m = provider.loaded()
    with m.lock:
        plain = [m.score_plain(t, n)[0] for t, n in seqs]
        plain2 = [m.score_plain(t, n, step=1)[0] for t, n in seqs]
    fast = [lp for lp, _, _ in provider.loglikelihood(pairs)]
    return Measured([len(i) for i in items], [len(t) - n for t, n in seqs], plain, plain2, fast)


def assert_fast_within_noise(meas: Measured) -> dict[str, object]:
    """The checks described above; returns the numbers (also in every failure message)."""
    j = meas.judge()
    assert j["noise_vs_chance_p"] < ALPHA, f"plain' vs plain agree no better than chance: llama.cpp's plain path is unreliable here: {j}"
    assert j["answer_p"] >= ALPHA, (
        f"the fast path changes more answers than batch-shape noise does: agrees with plain on {j['agree_fast']}"
        f" of {j['items']} items, plain' on {j['agree_noise']} (fast alone differs on {j['fast_only']},"
        f" plain' alone on {j['noise_only']}; allowed excess {j['answer_margin']}; P = {j['answer_p']:.2g}): {j}")
    assert j["loglik_p"] >= ALPHA, (
        f"the fast path's log-likelihoods are further from plain than batch-shape noise on {j['items_fast_further']}"
        f" items and closer on {j['items_fast_closer']} (P = {j['loglik_p']:.2g}): {j}")
    return j
