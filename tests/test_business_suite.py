"""Integrity tests for the built-in `business` eval suite (src/coderouge/evals/data/business.jsonl)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from coderouge.evals.checks import run_check, validate_check

SUITE = Path(__file__).parents[1] / "src/coderouge/evals/data/business.jsonl"
CATEGORIES = {"extraction", "classification", "summarisation", "grounded_qa", "calculation", "rewriting"}
REFUSAL = "NOT IN DOCUMENT"


def _load() -> list[dict]:
    rows = []
    with open(SUITE, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.strip():
                row = json.loads(line)
                assert isinstance(row, dict), f"line {lineno} is not an object"
                rows.append(row)
    return rows


TASKS = _load()
BY_ID = {t["id"]: t for t in TASKS}


def test_suite_size_and_unique_ids():
    assert len(TASKS) >= 40
    ids = [t["id"] for t in TASKS]
    assert len(ids) == len(set(ids)), [i for i, n in collections.Counter(ids).items() if n > 1]


def test_every_category_has_at_least_six_tasks():
    counts = collections.Counter(t["category"] for t in TASKS)
    assert set(counts) == CATEGORIES
    for cat in CATEGORIES:
        assert counts[cat] >= 6, (cat, counts[cat])


def test_grounded_qa_includes_refusal_questions():
    grounded = [t for t in TASKS if t["category"] == "grounded_qa"]
    refusals = [t for t in grounded if t["reference"] == REFUSAL]
    assert len(refusals) >= 2
    assert len(grounded) - len(refusals) >= 3
    for t in grounded:
        assert REFUSAL in (t.get("system", "") + t["prompt"]), t["id"]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t["id"])
def test_task_shape(task):
    assert set(task) <= {"id", "category", "system", "prompt", "check", "reference", "max_tokens"}
    assert {"id", "category", "prompt", "check", "reference"} <= set(task)
    assert isinstance(task["id"], str) and task["id"].strip() == task["id"] and task["id"]
    assert isinstance(task["prompt"], str) and len(task["prompt"]) > 40
    assert isinstance(task["reference"], str) and task["reference"].strip()
    if "system" in task:
        assert isinstance(task["system"], str) and task["system"].strip()
    # the answer budget leaves room for the reference answer (about 4 characters a token) and then some
    assert isinstance(task["max_tokens"], int) and task["max_tokens"] >= max(64, len(task["reference"]) // 4)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t["id"])
def test_check_is_valid(task):
    validate_check(task["check"])


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t["id"])
def test_reference_passes(task):
    res = run_check(task["check"], task["reference"])
    assert res.passed, f"{task['id']}: {res.detail}"
    assert res.score == 1.0


@pytest.mark.parametrize("wrong", ["", "   ", "I don't know", "I'm sorry, I can't help with that.", "42", "{}",
                                   "N/A"])
@pytest.mark.parametrize("task", TASKS, ids=lambda t: t["id"])
def test_obviously_wrong_answer_fails(task, wrong):
    res = run_check(task["check"], wrong)
    assert not res.passed, f"{task['id']} accepted {wrong!r}"
    assert res.score == 0.0 and res.detail


@pytest.mark.parametrize("task", [t for t in TASKS if t["reference"] != REFUSAL], ids=lambda t: t["id"])
def test_refusal_fails_answerable_tasks(task):
    assert not run_check(task["check"], REFUSAL).passed


def _swap(task_id: str, old: str, new: str) -> str:
    ref = BY_ID[task_id]["reference"]
    assert old in ref, (task_id, old)
    return ref.replace(old, new)


# Plausible but wrong answers: a typical model mistake for each task, which the check must catch.
NEAR_MISSES = [
    ("invoice-extract-01", lambda: _swap("invoice-extract-01", '"2024-04-11"', '"2024-04-12"')),
    ("invoice-extract-01", lambda: _swap("invoice-extract-01", '"EUR"', '"\u20ac"')),
    ("email-extract-02", lambda: _swap("email-extract-02", '"attendees": 3', '"attendees": 2')),
    ("order-confirmation-extract-03", lambda: _swap("order-confirmation-extract-03", '"quantity": 6', '"quantity": 1')),
    ("order-confirmation-extract-03", lambda: _swap("order-confirmation-extract-03", '"total": 423.63', '"total": "$423.63"')),
    ("cv-extract-04", lambda: _swap("cv-extract-04", '"employer_count": 2', '"employer_count": 3')),
    ("shipping-notice-extract-05", lambda: _swap("shipping-notice-extract-05", '"77120"', '"PO 77120"')),
    ("contract-terms-extract-06", lambda: _swap("contract-terms-extract-06", '"auto_renews": true', '"auto_renews": false')),
    ("receipt-extract-07", lambda: _swap("receipt-extract-07", '"item_count": 7', '"item_count": 4')),
    ("receipt-extract-07", lambda: _swap("receipt-extract-07", '"2025-02-08"', '"2025-08-02"')),
    ("complaint-extract-08", lambda: _swap("complaint-extract-08", '"replacement"', '"refund"')),
    ("ticket-route-01", lambda: "technical"),
    ("ticket-route-03", lambda: "technical"),
    ("review-sentiment-04", lambda: "positive"),
    ("email-intent-05", lambda: "purchase_intent"),
    ("ticket-priority-06", lambda: "P2"),
    ("review-topic-07", lambda: "delivery"),
    ("transaction-risk-08", lambda: "decline"),
    ("transaction-risk-08", lambda: "approve or review"),
    ("incident-summary-01", lambda: "Payments failed for a while on 4 June because a certificate expired; it is fixed."),
    ("meeting-notes-summary-02", lambda: BY_ID["meeting-notes-summary-02"]["reference"] + "\n- Dan has 37 open bugs."),
    ("feedback-themes-03", lambda: "Customers love the tea selection and the quick delivery."),
    ("release-notes-summary-06", lambda: "Fieldbook 5.2 adds offline mode on Android.\nAlso faster PDFs."),
    ("email-thread-summary-07", lambda: _swap("email-thread-summary-07", "17 March after", "10 March after")
     .replace("balance on 17 March", "balance later")),
    ("legal-tldr-08", lambda: BY_ID["legal-tldr-08"]["reference"].replace("TL;DR: ", "")),
    ("handbook-qa-01", lambda: "4"),
    ("handbook-qa-02", lambda: "The company pays 50% of pet insurance premiums."),
    ("handbook-qa-03", lambda: "From the third consecutive day."),
    ("router-spec-qa-05", lambda: "The router has a 2-year warranty."),
    ("returns-policy-qa-06", lambda: "YES"),
    ("returns-policy-qa-07", lambda: "Yes, Larkspur Home matches competitors' prices."),
    ("board-minutes-qa-08", lambda: "Helen Marsh"),
    ("board-minutes-qa-08", lambda: "Amir Haddad"),
    ("lease-qa-09", lambda: "30 September 2027"),
    ("regional-sales-total-01", lambda: "114,365"),
    ("gross-margin-02", lambda: "Net margin = 9,040 / 84,500\nANSWER: 10.7"),
    ("invoice-total-vat-03", lambda: "563.00 x 1.2 = 675.60\nANSWER: 675.60"),
    ("tickets-per-agent-04", lambda: "125"),
    ("reorder-quantity-05", lambda: "ANSWER: 212"),
    ("loan-payment-06", lambda: "Simple interest: 25,000 x 1.18 / 36\nANSWER: 819.44"),
    ("expense-fx-total-07", lambda: "593.76"),
    ("mrr-growth-08", lambda: "13,737 / 61,937\nANSWER: 22.2%"),
    ("break-even-units-09", lambda: "2,000"),
    ("refund-reply-brand-01", lambda: "Hi Sam, unfortunately our policy does not allow a refund after 30 days, but we "
                                      "can offer GBP 189 store credit for 12 months."),
    ("product-copy-02", lambda: "The Driftline Buoy is a revolutionary speaker with 28 hours of battery and IPX7 "
                                "waterproofing. You will love it."),
    ("slack-tone-03", lambda: "Hi, the Q3 deck is needed by Friday noon. Please send it ASAP."),
    ("plain-english-04", lambda: "You shall give us 30 days' written notice to cancel before renewal."),
    ("subject-lines-05", lambda: _swap("subject-lines-05", "sourdough\n", "sourdough!\n")),
    ("subject-lines-05", lambda: "1. Meet our new rye-and-spelt sourdough\n2. Fresh sourdough, baked daily"),
    ("linkedin-post-06", lambda: BY_ID["linkedin-post-06"]["reference"] + " #pottery"),
    ("linkedin-post-06", lambda: "We're thrilled to open our second studio in Bristol on 3 May with 12 wheels."),
    ("error-message-07", lambda: "Something went wrong with the payment gateway. Please try again."),
    ("inclusive-job-ad-08", lambda: "We want a data rockstar in Lisbon (hybrid). Salary EUR 55,000."),
]


def test_near_misses_cover_every_category():
    cats = {BY_ID[task_id]["category"] for task_id, _ in NEAR_MISSES}
    assert cats == CATEGORIES


@pytest.mark.parametrize("task_id,make_answer", NEAR_MISSES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(NEAR_MISSES)])
def test_plausible_wrong_answer_fails(task_id, make_answer):
    answer = make_answer()
    assert answer != BY_ID[task_id]["reference"]
    res = run_check(BY_ID[task_id]["check"], answer)
    assert not res.passed, f"{task_id} accepted a wrong answer: {answer!r}"
    assert res.detail
