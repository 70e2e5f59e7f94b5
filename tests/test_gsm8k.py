"""GSM8K as lm-eval's gsm8k_cot: the 8-shot prompt, strict and flexible answer extraction, and a
whole run through the eval engine with a scripted fake model."""

import asyncio

import pytest

from coderouge.evals import data
from coderouge.evals.engine import evaluate_async
from coderouge.evals.gsm8k import (
    GSM8K,
    GSM8KCheck,
    build_prompt,
    extract_flexible,
    extract_strict,
    load_gsm8k,
    normalize,
    score_both,
)
from coderouge.providers.fake import FakeProvider
from coderouge.runner import RunConfig, Runner


@pytest.fixture(scope="module")
def task():
    return load_gsm8k()


FIRST_EXEMPLAR = (
    "Q: There are 15 trees in the grove. Grove workers will plant trees in the grove today. After they are done, "
    "there will be 21 trees. How many trees did the grove workers plant today?\n"
    "A: There are 15 trees originally. Then there were 21 trees after some more were planted. "
    "So there must have been 21 - 15 = 6. The answer is 6.\n\n"
    "Q: If there are 3 cars in the parking lot and 2 more cars arrive, how many cars are in the parking lot?\n"
    "A: There are originally 3 cars. 2 more cars arrive. 3 + 2 = 5. The answer is 5.\n\n"
)
LAST_EXEMPLAR = (
    "Q: Olivia has $23. She bought five bagels for $3 each. How much money does she have left?\n"
    "A: Olivia had 23 dollars. 5 bagels for 3 dollars each will be 5 x 3 = 15 dollars. "
    "So she has 23 - 15 dollars left. 23 - 15 is 8. The answer is 8.\n\n"
)
FIRST_QUESTION = (
    "Q: Janet\u2019s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her "
    "friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. "
    "How much in dollars does she make every day at the farmers' market?\nA:"
)


def test_loader(task):
    assert len(task.items) == 1319
    assert task.kind == "generate" and task.metric == "exact_match" and task.shots == 8 and task.max_tokens == 256
    assert task.meta["stop"] == ["Q:", "</s>", "<|im_end|>", "\n\n"]
    assert task.prompt_format
    assert data._sha256(data.resolve(GSM8K)) == GSM8K.sha256


def test_prompt_of_first_item(task):
    it = task.items[0]
    assert len(it.messages) == 1 and it.messages[0].role == "user"
    text = it.messages[0].text
    assert text.startswith(FIRST_EXEMPLAR)
    assert text.endswith(LAST_EXEMPLAR + FIRST_QUESTION)
    assert text.count("\nA: ") == 8 and text.count("The answer is") == 8
    assert it.check.gold == "18"


def test_fewer_shots():
    assert build_prompt("What is 2+2?", shots=0) == "Q: What is 2+2?\nA:"
    assert load_gsm8k(shots=2).items[0].messages[0].text == FIRST_EXEMPLAR + FIRST_QUESTION


@pytest.mark.parametrize("text,strict,flexible", [
    ("She has 1,000 + 234 = 1,234 apples. The answer is 1,234.", "1,234", "1,234."),
    ("The answer is -7.", "-7", "-7."),
    ("5 * 8 = 40, so 42 dollars", "[invalid]", "42"),
    ("nothing numeric here", "[invalid]", "[invalid]"),
    ("It costs $18 in total.", "[invalid]", "$18"),
])
def test_extraction(text, strict, flexible):
    assert extract_strict(text) == strict
    assert extract_flexible(text) == flexible


def test_normalised_exact_match():
    assert normalize("1,234.") == "1234" and normalize("$18") == "18" and normalize("#### 72") == "72"
    assert score_both("The answer is 1,234.", "1234") == (True, True)
    assert score_both("so 42 dollars", "42") == (False, True)
    assert score_both("The answer is 41. Wait, it is 42", "42") == (False, True)  # strict takes the first match
    assert score_both("The answer is 42. Check: 6 * 7 = 42.", "42") == (True, True)
    assert score_both("The answer is 42. 1 + 1 = 2", "42") == (True, False)  # flexible takes the last number
    assert score_both("The answer is 2,125.", "2,125") == (True, True)  # golds with commas


def test_check_scores_flexible_and_records_both():
    r = GSM8KCheck("42").score("Total: 40 + 2 = 42 dollars")
    assert r.passed and r.score == 1.0
    assert "strict=0" in r.detail and "flexible=1" in r.detail
    r = GSM8KCheck("42").score("The answer is 41.")
    assert not r.passed and r.score == 0.0 and "strict=0" in r.detail
    assert not GSM8KCheck("42").score("").passed


def test_fake_model_with_gold_answers_scores_one(task):
    sub = task.sample(5, seed=3)
    gold = {it.messages[0].text: it.check.gold for it in sub.items}
    seen = []

    def script(req):
        seen.append(req)
        return f" Let me think step by step. The answer is {gold[req.messages[-1].text]}."

    runner = Runner(None, RunConfig(progress=False), providers={"fake/maths": FakeProvider("maths", script=script)})
    res = asyncio.run(evaluate_async(runner, "fake/maths", sub))
    assert res.value == 1.0 and res.n == 5 and res.errors == 0
    assert res.metric == "exact_match" and res.shots == 8
    assert len(seen) == 5 and all(r.max_tokens == 256 for r in seen)
    assert all("strict=1 flexible=1" in o.detail for o in res.items)


def test_wrong_fake_model_scores_zero(task):
    sub = task.sample(5, seed=3)
    runner = Runner(None, RunConfig(progress=False), providers={"fake/x": FakeProvider("x", options={"answer": "The answer is 123456789."})})
    res = asyncio.run(evaluate_async(runner, "fake/x", sub))
    assert res.value == 0.0 and res.n == 5
