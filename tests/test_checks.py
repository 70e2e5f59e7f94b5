"""Unit tests for the programmatic answer checks in coderouge.evals.checks."""

from __future__ import annotations

import dataclasses

import pytest

from coderouge.errors import CheckSpecError
from coderouge.evals.checks import CheckResult, run_check, validate_check

ALL_TYPES_SPECS = [
    {"type": "exact", "expected": "yes"},
    {"type": "choice", "expected": "a", "options": ["a", "b"]},
    {"type": "regex", "pattern": "x", "must_match": False},
    {"type": "contains", "any": ["x"]},
    {"type": "json", "fields": {"a": 1}},
    {"type": "numeric", "expected": 0},
    {"type": "word_limit", "max": 10},
    {"type": "banned_words", "words": ["foo"]},
]


def passes(spec, output: str) -> bool:
    return run_check(spec, output).passed


# ------------------------------------------------------------------ result shape

def test_result_is_frozen_and_scored():
    ok = run_check({"type": "exact", "expected": "yes"}, "yes")
    assert ok == CheckResult(True, 1.0, "")
    bad = run_check({"type": "exact", "expected": "yes"}, "no")
    assert bad.passed is False and bad.score == 0.0 and bad.detail
    with pytest.raises(dataclasses.FrozenInstanceError):
        ok.passed = False  # type: ignore[misc]


@pytest.mark.parametrize("spec", ALL_TYPES_SPECS, ids=lambda s: s["type"])
@pytest.mark.parametrize("output", ["", "   \n\t ", None])
def test_empty_answer_fails_every_type(spec, output):
    res = run_check(spec, output)
    assert not res.passed and res.score == 0.0
    assert res.detail == "empty answer"


# ------------------------------------------------------------------ exact

@pytest.mark.parametrize("output", ["billing", "  Billing \n", "BILLING.", '"billing"', "'billing'", "**billing**",
                                    "`billing`", "\u201cbilling\u201d"])
def test_exact_normalises_case_quotes_period(output):
    assert passes({"type": "exact", "expected": "billing"}, output)


@pytest.mark.parametrize("output", ["billing issue", "The answer is billing", "bill", "technical"])
def test_exact_rejects_other_text(output):
    res = run_check({"type": "exact", "expected": "billing"}, output)
    assert not res.passed
    assert "billing" in res.detail


def test_exact_list_of_expected_and_case_sensitive():
    spec = {"type": "exact", "expected": ["NOT IN DOCUMENT", "N/A"]}
    assert passes(spec, "not in document.")
    assert passes(spec, "N/A")
    cs = {"type": "exact", "expected": "NO", "case_sensitive": True}
    assert passes(cs, "NO")
    assert not passes(cs, "no")


def test_exact_collapses_inner_whitespace():
    assert passes({"type": "exact", "expected": "Gwen Price"}, "Gwen   Price\n")


# ------------------------------------------------------------------ choice

LABELS = ["billing", "technical", "account_access", "shipping", "other"]


def test_choice_exact_and_lenient_extraction():
    spec = {"type": "choice", "expected": "technical", "options": LABELS}
    assert passes(spec, "technical")
    assert passes(spec, "Label: Technical")
    assert passes(spec, "I would classify this as **technical** because the app crashes.")


def test_choice_fails_on_wrong_none_or_several():
    spec = {"type": "choice", "expected": "technical", "options": LABELS}
    wrong = run_check(spec, "billing")
    assert not wrong.passed and "billing" in wrong.detail
    none = run_check(spec, "I don't know")
    assert not none.passed and "no option" in none.detail
    several = run_check(spec, "either technical or billing")
    assert not several.passed and "several" in several.detail


def test_choice_word_boundaries_and_overlapping_options():
    spec = {"type": "choice", "expected": "P3", "options": ["P1", "P2", "P3", "P4"]}
    assert not passes(spec, "P30")
    assert passes(spec, "Priority: P3")
    overlapping = {"type": "choice", "expected": "billing", "options": ["billing", "billing dispute"]}
    assert passes(overlapping, "Category: billing")
    res = run_check(overlapping, "Category: billing dispute")
    assert not res.passed and "billing dispute" in res.detail
    # a word containing the label is not a mention of it
    assert not passes({"type": "choice", "expected": "other", "options": ["other", "shipping"]}, "another thing")


# ------------------------------------------------------------------ regex

def test_regex_match_flags_and_must_not_match():
    assert passes({"type": "regex", "pattern": r"^TL;DR:"}, "TL;DR: short")
    assert not passes({"type": "regex", "pattern": r"^TL;DR:"}, "tl;dr: short")
    assert passes({"type": "regex", "pattern": r"^TL;DR:", "flags": "i"}, "tl;dr: short")
    assert passes({"type": "regex", "pattern": r"^second$", "flags": "m"}, "first\nsecond\nthird")
    assert passes({"type": "regex", "pattern": r"first.second", "flags": "s"}, "first\nsecond")
    no_bang = {"type": "regex", "pattern": "!", "must_match": False}
    assert passes(no_bang, "Calm sentence.")
    res = run_check(no_bang, "Buy now!")
    assert not res.passed and "must not match" in res.detail


def test_regex_search_not_fullmatch():
    res = run_check({"type": "regex", "pattern": r"\b128\b"}, "Up to 128 devices.")
    assert res.passed
    res = run_check({"type": "regex", "pattern": r"\b128\b"}, "Up to 1280 devices.")
    assert not res.passed and "not found" in res.detail


# ------------------------------------------------------------------ contains

def test_contains_all_any_case_insensitive():
    spec = {"type": "contains", "all": ["Keiko", "28 October"], "any": ["launch", "release"]}
    assert passes(spec, "KEIKO moves the LAUNCH to 28 october.")
    res = run_check(spec, "Keiko moves the launch.")
    assert not res.passed and "28 October" in res.detail
    res = run_check(spec, "Keiko: 28 October it is.")
    assert not res.passed and "none of" in res.detail


def test_contains_alternatives_and_whitespace():
    spec = {"type": "contains", "all": [["3,400", "3400"], "root cause"]}
    assert passes(spec, "3400 merchants; root\n  cause was a certificate")
    assert passes(spec, "3,400 merchants; root cause: certificate")
    res = run_check(spec, "34 merchants; root cause: certificate")
    assert not res.passed and "3,400 / 3400" in res.detail


# ------------------------------------------------------------------ json

INVOICE_SPEC = {
    "type": "json",
    "schema": {"type": "object", "required": ["invoice_number", "total", "items"],
               "properties": {"invoice_number": {"type": "string"}, "total": {"type": "number"},
                              "items": {"type": "array"}}},
    "fields": {"invoice_number": "INV-001", "total": 1234.5, "items.0.sku": "A-1", "items.1.qty": 3,
               "vendor.name": "Acme  Ltd", "paid": False, "tags": ["a", "b"]},
    "numeric_tolerance": 0.01,
}
GOOD_JSON = ('{"invoice_number": "inv-001", "total": 1234.504, "items": [{"sku": "a-1"}, {"qty": 3}], '
             '"vendor": {"name": "ACME Ltd"}, "paid": false, "tags": ["a", "b"]}')


def test_json_plain_fenced_and_embedded():
    assert passes(INVOICE_SPEC, GOOD_JSON)
    assert passes(INVOICE_SPEC, "Here you go:\n```json\n" + GOOD_JSON + "\n```\nAnything else?")
    assert passes(INVOICE_SPEC, "```\n" + GOOD_JSON + "\n```")
    assert passes(INVOICE_SPEC, "Sure! The extracted data is " + GOOD_JSON + " - hope that helps {smile}")


def test_json_top_level_array():
    spec = {"type": "json", "schema": {"type": "array", "minItems": 2}, "fields": {"1.name": "Bo"}}
    assert passes(spec, 'Result: [{"name": "Al"}, {"name": "bo"}]')
    assert not passes(spec, 'Result: [{"name": "Al"}]')


def test_json_no_json_found():
    res = run_check(INVOICE_SPEC, "I could not find an invoice.")
    assert not res.passed and "no JSON" in res.detail
    assert not passes(INVOICE_SPEC, '{"invoice_number": "INV-001", "total": }')


def test_json_schema_violation_reports_location():
    bad = GOOD_JSON.replace('"total": 1234.504', '"total": "1234.50"')
    res = run_check(INVOICE_SPEC, bad)
    assert not res.passed
    assert "schema" in res.detail and "total" in res.detail


@pytest.mark.parametrize("old,new,field", [
    ('"total": 1234.504', '"total": 1234.6', "total"),
    ('"inv-001"', '"INV-002"', "invoice_number"),
    ('{"sku": "a-1"}', '{"sku": "a-2"}', "items.0.sku"),
    ('"paid": false', '"paid": 0', "paid"),
    ('["a", "b"]', '["b", "a"]', "tags"),
    ('{"qty": 3}', '{"qty": "3"}', "items.1.qty"),
])
def test_json_field_mismatch(old, new, field):
    res = run_check(INVOICE_SPEC, GOOD_JSON.replace(old, new))
    assert not res.passed
    assert field in res.detail


def test_json_missing_field_and_bad_index():
    res = run_check(INVOICE_SPEC, GOOD_JSON.replace('{"qty": 3}', '{"quantity": 3}'))
    assert not res.passed and "items.1.qty" in res.detail and "missing" in res.detail
    spec = {"type": "json", "fields": {"items.5.sku": "x"}}
    assert "missing" in run_check(spec, '{"items": [{"sku": "x"}]}').detail


def test_json_default_tolerance_is_tight():
    spec = {"type": "json", "fields": {"total": 10}}
    assert passes(spec, '{"total": 10.0}')
    assert not passes(spec, '{"total": 10.01}')


def test_json_null_expected():
    spec = {"type": "json", "fields": {"part": None}}
    assert passes(spec, '{"part": null}')
    assert not passes(spec, '{"part": "none"}')


# ------------------------------------------------------------------ numeric

@pytest.mark.parametrize("output,expected", [
    ("1,234.50", 1234.5),
    ("$1,234.50", 1234.5),
    ("The total is \u20ac1,234.50.", 1234.5),
    ("12%", 12),
    ("-3", -3),
    ("-$42.10", -42.10),
    ("1.2e3", 1200),
    ("Revenue grew from 48,200 to 61,937, i.e. 28.5", 28.5),
    ("Answer: 125.33", 125.33),
    ("  114635\n", 114635),
    ("The answer is 42.", 42),
    ("0.5", 0.5),
])
def test_numeric_parses_last_number(output, expected):
    assert passes({"type": "numeric", "expected": expected, "tolerance": 1e-6}, output)


def test_numeric_tolerance_absolute_and_relative():
    assert passes({"type": "numeric", "expected": 100, "tolerance": 0.5}, "100.4")
    res = run_check({"type": "numeric", "expected": 100, "tolerance": 0.5}, "100.6")
    assert not res.passed and "100.6" in res.detail
    assert passes({"type": "numeric", "expected": 1000, "tolerance": 0.01, "relative": True}, "1,009")
    assert not passes({"type": "numeric", "expected": 1000, "tolerance": 0.01, "relative": True}, "1,011")


def test_numeric_default_tolerance_is_tight():
    assert passes({"type": "numeric", "expected": 3}, "3.0")
    assert not passes({"type": "numeric", "expected": 3}, "3.001")


def test_numeric_uses_last_number_not_first():
    spec = {"type": "numeric", "expected": 608.04, "tolerance": 0.01}
    assert passes(spec, "Subtotal 563.00, discount 56.30, total 608.04")
    assert not passes(spec, "Total 608.04 (subtotal was 563.00)")


def test_numeric_with_pattern_takes_last_match():
    spec = {"type": "numeric", "expected": 38.0, "tolerance": 0.05, "pattern": r"ANSWER:\s*([^\n]+)"}
    assert passes(spec, "Gross profit 32,110 / 84,500\nANSWER: 38.0%")
    assert passes(spec, "ANSWER: 12\n...on reflection...\nANSWER: **38.0**")
    res = run_check(spec, "The gross margin is 38.0%")
    assert not res.passed and "pattern" in res.detail
    assert not passes(spec, "ANSWER: 62.0\nwhich means 38.0 is the cost share")
    assert not run_check(spec, "ANSWER: unknown").passed


def test_numeric_no_number():
    res = run_check({"type": "numeric", "expected": 5}, "I don't know")
    assert not res.passed and "no number" in res.detail


def test_numeric_does_not_read_dates_or_codes_as_negative():
    assert passes({"type": "numeric", "expected": 15}, "on 2024-03-15")
    assert passes({"type": "numeric", "expected": 7}, "Q3 total: 7")


# ------------------------------------------------------------------ word_limit

def test_word_limit_counts_tokens_with_letters_or_digits():
    spec = {"type": "word_limit", "max": 5}
    assert passes(spec, "one two - three -- four five")  # dashes are not words
    res = run_check(spec, "one two three four five six")
    assert not res.passed and "6 words" in res.detail
    assert passes({"type": "word_limit", "max": 3}, "state-of-the-art 42 \u00e9t\u00e9")


def test_word_limit_min():
    spec = {"type": "word_limit", "min": 3, "max": 10}
    assert passes(spec, "just three words")
    res = run_check(spec, "two words")
    assert not res.passed and "minimum" in res.detail
    assert passes({"type": "word_limit", "min": 2}, "a b c d e f g h")


# ------------------------------------------------------------------ banned_words

def test_banned_words_word_boundaries_and_phrases():
    spec = {"type": "banned_words", "words": ["he", "free", "act now", "best-in-class"]}
    assert passes(spec, "The hero enjoys freedom; there is no action now.")
    for bad in ["He will join", "It's FREE", "Act   now, please", "a best-in-class speaker"]:
        res = run_check(spec, bad)
        assert not res.passed, bad
        assert "banned" in res.detail


def test_banned_words_reports_all_hits():
    res = run_check({"type": "banned_words", "words": ["policy", "regret"]}, "We regret our policy.")
    assert "policy" in res.detail and "regret" in res.detail


# ------------------------------------------------------------------ lists of checks

def test_list_all_must_pass_and_first_failure_reported():
    spec = [{"type": "word_limit", "max": 5},
            {"type": "contains", "all": ["refund"]},
            {"type": "banned_words", "words": ["sorry"]}]
    assert run_check(spec, "Your refund is coming.") == CheckResult(True, 1.0, "")
    res = run_check(spec, "Sorry, the order shipped.")
    assert not res.passed and res.score == 0.0
    assert res.detail.startswith("check 2 (contains)")
    res = run_check(spec, "Sorry about the refund.")
    assert res.detail.startswith("check 3 (banned_words)")


def test_single_item_list_behaves_like_dict():
    assert passes([{"type": "exact", "expected": "ok"}], "OK")
    assert run_check([{"type": "exact", "expected": "ok"}], "no").detail.startswith("expected")


# ------------------------------------------------------------------ spec validation

@pytest.mark.parametrize("spec", ALL_TYPES_SPECS + [
    [{"type": "exact", "expected": "a"}, {"type": "regex", "pattern": "b", "flags": "im"}],
    {"type": "contains", "all": ["a", ["b", "c"]], "description": "free text is allowed"},
    {"type": "json", "schema": {"type": "object"}},
    {"type": "numeric", "expected": 1.5, "tolerance": 0, "relative": False, "pattern": r"= (\d+)", "flags": "i"},
    {"type": "word_limit", "min": 1},
])
def test_valid_specs_accepted(spec):
    validate_check(spec)


@pytest.mark.parametrize("spec,field", [
    ({"type": "nonsense"}, "type"),
    ({"expected": "x"}, "type"),
    ({"type": "exact"}, "expected"),
    ({"type": "exact", "expected": 3}, "expected"),
    ({"type": "exact", "expected": []}, "expected"),
    ({"type": "exact", "expected": "a", "case_sensitive": "yes"}, "case_sensitive"),
    ({"type": "exact", "expected": "a", "expceted": "b"}, "expceted"),
    ({"type": "choice", "expected": "a"}, "options"),
    ({"type": "choice", "expected": "z", "options": ["a", "b"]}, "expected"),
    ({"type": "regex"}, "pattern"),
    ({"type": "regex", "pattern": "("}, "pattern"),
    ({"type": "regex", "pattern": "a", "flags": "q"}, "flags"),
    ({"type": "regex", "pattern": "a", "must_match": 1}, "must_match"),
    ({"type": "contains"}, "all"),
    ({"type": "contains", "all": "refund"}, "all"),
    ({"type": "contains", "any": [1, 2]}, "any"),
    ({"type": "json"}, "schema"),
    ({"type": "json", "schema": {"type": "no-such-type"}}, "schema"),
    ({"type": "json", "schema": "object"}, "schema"),
    ({"type": "json", "fields": ["a"]}, "fields"),
    ({"type": "json", "fields": {"a": 1}, "numeric_tolerance": -1}, "numeric_tolerance"),
    ({"type": "numeric"}, "expected"),
    ({"type": "numeric", "expected": "5"}, "expected"),
    ({"type": "numeric", "expected": True}, "expected"),
    ({"type": "numeric", "expected": 5, "tolerance": "0.1"}, "tolerance"),
    ({"type": "numeric", "expected": 5, "pattern": r"ANSWER: \d+"}, "pattern"),
    ({"type": "numeric", "expected": 5, "relative": "no"}, "relative"),
    ({"type": "word_limit"}, "max"),
    ({"type": "word_limit", "max": 10.5}, "max"),
    ({"type": "word_limit", "max": -1}, "max"),
    ({"type": "word_limit", "max": 5, "min": 9}, "min"),
    ({"type": "banned_words"}, "words"),
    ({"type": "banned_words", "words": ["ok", ""]}, "words"),
])
def test_invalid_specs_name_the_field(spec, field):
    with pytest.raises(CheckSpecError) as exc:
        validate_check(spec)
    assert f"'{field}'" in str(exc.value)


@pytest.mark.parametrize("spec", [None, "exact", 42, [], [{"type": "exact", "expected": "a"}, "oops"]])
def test_invalid_spec_shapes(spec):
    with pytest.raises(CheckSpecError):
        validate_check(spec)


def test_list_error_names_index():
    with pytest.raises(CheckSpecError, match=r"check\[1\].*'pattern'"):
        validate_check([{"type": "exact", "expected": "a"}, {"type": "regex"}])


def test_run_check_rejects_bad_spec_and_error_is_value_error():
    with pytest.raises(CheckSpecError):
        run_check({"type": "numeric"}, "5")
    assert issubclass(CheckSpecError, ValueError)
