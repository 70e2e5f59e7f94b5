"""Programmatic checks for eval answers.

A check spec is a dict with a ``"type"`` key (or a non-empty list of such
dicts, all of which must pass).  Supported types and their fields:

* ``exact``        expected (str | [str]), case_sensitive (bool, default False)
* ``choice``       like ``exact`` plus options ([str], required): the answer also
                   passes when exactly one option is mentioned and it is expected
* ``regex``        pattern (str), flags (subset of "imsx"), must_match (bool, default True)
* ``contains``     all ([str | [str]]) and/or any ([str]); case-insensitive.  An
                   item of ``all`` may itself be a list of alternatives.
* ``json``         schema (JSON Schema, Draft 2020-12), fields ({dotted.path: value}),
                   numeric_tolerance (number, default 1e-6)
* ``numeric``      expected (number), tolerance (default 1e-6), relative (bool),
                   pattern (regex with a capture group), flags
* ``word_limit``   max (int) and/or min (int)
* ``banned_words`` words ([str])

Every spec may also carry a free-text ``description``.  An empty answer fails
every check with the detail ``"empty answer"``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from ..errors import CheckSpecError

__all__ = ["CheckResult", "validate_check", "run_check"]


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    score: float
    detail: str


_OK = CheckResult(True, 1.0, "")


def _fail(detail: str) -> CheckResult:
    return CheckResult(False, 0.0, detail)


# --------------------------------------------------------------------------- validation

def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v)


_str_or_list = lambda v: isinstance(v, str) or _is_str_list(v)  # noqa: E731
_nonneg_num = lambda v: _is_num(v) and v >= 0  # noqa: E731
_nonneg_int = lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0  # noqa: E731
_flags_ok = lambda v: isinstance(v, str) and set(v) <= set("imsx")  # noqa: E731
_all_items_ok = lambda v: (isinstance(v, list) and len(v) > 0  # noqa: E731
                           and all(isinstance(x, str) or _is_str_list(x) for x in v))

_BOOL = (lambda v: isinstance(v, bool), "a boolean")
_FLAGS = (_flags_ok, 'a string of regex flags from "imsx"')
_TOL = (_nonneg_num, "a non-negative number")

# type -> {field: (predicate, description, required)}
_FIELDS: dict[str, dict[str, tuple]] = {
    "exact": {"expected": (_str_or_list, "a string or non-empty list of strings", True),
              "case_sensitive": (*_BOOL, False)},
    "choice": {"expected": (_str_or_list, "a string or non-empty list of strings", True),
               "options": (_is_str_list, "a non-empty list of strings", True),
               "case_sensitive": (*_BOOL, False)},
    "regex": {"pattern": (lambda v: isinstance(v, str) and v != "", "a non-empty string", True),
              "flags": (*_FLAGS, False), "must_match": (*_BOOL, False)},
    "contains": {"all": (_all_items_ok, "a non-empty list of strings (or lists of alternatives)", False),
                 "any": (_is_str_list, "a non-empty list of strings", False)},
    "json": {"schema": (lambda v: isinstance(v, (dict, bool)), "a JSON Schema object", False),
             "fields": (lambda v: isinstance(v, dict) and all(isinstance(k, str) and k for k in v),
                        "an object mapping dotted paths to expected values", False),
             "numeric_tolerance": (*_TOL, False)},
    "numeric": {"expected": (_is_num, "a number", True), "tolerance": (*_TOL, False),
                "relative": (*_BOOL, False),
                "pattern": (lambda v: isinstance(v, str) and v != "", "a non-empty regex string", False),
                "flags": (*_FLAGS, False)},
    "word_limit": {"max": (_nonneg_int, "a non-negative integer", False),
                   "min": (_nonneg_int, "a non-negative integer", False)},
    "banned_words": {"words": (lambda v: _is_str_list(v) and all(x.strip() for x in v),
                               "a non-empty list of non-empty strings", True)},
}


def _re_flags(spec: dict) -> int:
    table = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
    return sum({table[ch] for ch in spec.get("flags", "")}, 0)


def _validate_one(spec: Any, where: str = "") -> None:
    if not isinstance(spec, dict):
        raise CheckSpecError(f"{where}check spec must be an object, got {type(spec).__name__}")
    ctype = spec.get("type")
    if ctype not in _FIELDS:
        raise CheckSpecError(f"{where}field 'type': unknown check type {ctype!r}; "
                             f"expected one of {sorted(_FIELDS)}")
    fields = _FIELDS[ctype]
    for key in spec:
        if key not in fields and key not in ("type", "description"):
            raise CheckSpecError(f"{where}field {key!r}: not allowed for check type {ctype!r}")
    for key, (pred, desc, required) in fields.items():
        if key not in spec:
            if required:
                raise CheckSpecError(f"{where}field {key!r}: required for check type {ctype!r}")
            continue
        if not pred(spec[key]):
            raise CheckSpecError(f"{where}field {key!r}: must be {desc}, got {spec[key]!r}")
    if ctype == "regex" or (ctype == "numeric" and "pattern" in spec):
        try:
            rx = re.compile(spec["pattern"], _re_flags(spec))
        except re.error as exc:
            raise CheckSpecError(f"{where}field 'pattern': invalid regex ({exc})") from None
        if ctype == "numeric" and rx.groups < 1:
            raise CheckSpecError(f"{where}field 'pattern': must contain a capture group")
    elif ctype == "choice":
        opts = {_norm_label(o, spec.get("case_sensitive", False)) for o in spec["options"]}
        for e in _as_list(spec["expected"]):
            if _norm_label(e, spec.get("case_sensitive", False)) not in opts:
                raise CheckSpecError(f"{where}field 'expected': {e!r} is not one of 'options'")
    elif ctype == "contains" and "all" not in spec and "any" not in spec:
        raise CheckSpecError(f"{where}field 'all'/'any': contains check needs at least one")
    elif ctype == "json":
        if "schema" not in spec and "fields" not in spec:
            raise CheckSpecError(f"{where}field 'schema'/'fields': json check needs at least one")
        if "schema" in spec:
            try:
                jsonschema.Draft202012Validator.check_schema(spec["schema"])
            except jsonschema.SchemaError as exc:
                raise CheckSpecError(f"{where}field 'schema': invalid JSON Schema ({exc.message})") from None
    elif ctype == "word_limit":
        if "max" not in spec and "min" not in spec:
            raise CheckSpecError(f"{where}field 'max': word_limit check needs 'max' and/or 'min'")
        if "max" in spec and "min" in spec and spec["min"] > spec["max"]:
            raise CheckSpecError(f"{where}field 'min': greater than 'max'")


def validate_check(spec: Any) -> None:
    """Raise CheckSpecError if ``spec`` (a dict or non-empty list of dicts) is invalid."""
    if isinstance(spec, list):
        if not spec:
            raise CheckSpecError("check list must not be empty")
        for i, sub in enumerate(spec):
            _validate_one(sub, f"check[{i}]: ")
    else:
        _validate_one(spec)


# --------------------------------------------------------------------------- helpers

_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019", "*": "*"}


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def _ws(s: str) -> str:
    return " ".join(s.split())


def _norm_label(s: str, case_sensitive: bool = False) -> str:
    s = _ws(s)
    while True:
        prev = s
        s = s.strip()
        if len(s) >= 2 and s[0] in _QUOTES and s[-1] == _QUOTES[s[0]]:
            s = s[1:-1]
        s = s.rstrip(".").strip()
        if s == prev:
            break
    return s if case_sensitive else s.casefold()


def _phrase_re(phrase: str, flags: int) -> re.Pattern:
    body = r"\s+".join(re.escape(p) for p in phrase.split())
    return re.compile(rf"(?<!\w){body}(?!\w)", flags)


_NUM_RE = re.compile(
    r"(?:(?<![\w.])(?P<sign>[-+\u2212]))?(?:[$\u20ac\u00a3\u00a5]\s?(?P<sign2>[-\u2212])?)?"
    r"(?<![A-Za-z_\d.,])(?P<num>(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"
    r"(?P<exp>[eE][-+]?\d+(?!\w))?"
)


def _numbers(text: str) -> list[float]:
    out = []
    for m in _NUM_RE.finditer(text):
        value = float(m.group("num").replace(",", "") + (m.group("exp") or ""))
        if m.group("sign") in ("-", "\u2212") or m.group("sign2"):
            value = -value
        out.append(value)
    return out


def _extract_json(text: str) -> Any:
    fenced = [m.group(1) for m in re.finditer(r"```[ \t]*(?:json|JSON)?[ \t]*\n?(.*?)```", text, re.DOTALL)]
    for candidate in fenced + [text]:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for i in (i for i, ch in enumerate(text) if ch in "{["):
        try:
            return decoder.raw_decode(text, i)[0]
        except ValueError:
            continue
    raise ValueError("no JSON object or array found in the answer")


_MISSING = object()


def _resolve(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and re.fullmatch(r"-?\d+", part) and -len(cur) <= int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _field_matches(expected: Any, actual: Any, tol: float) -> bool:
    if isinstance(expected, str):
        return isinstance(actual, str) and _ws(expected).casefold() == _ws(actual).casefold()
    if _is_num(expected):
        return _is_num(actual) and abs(actual - expected) <= tol
    if isinstance(expected, bool) or expected is None:
        return actual is expected
    return type(expected) is type(actual) and expected == actual


# --------------------------------------------------------------------------- runners

def _run_exact(spec: dict, out: str) -> CheckResult:
    cs = spec.get("case_sensitive", False)
    expected = _as_list(spec["expected"])
    got = _norm_label(out, cs)
    if any(got == _norm_label(e, cs) for e in expected):
        return _OK
    return _fail(f"expected {' or '.join(map(repr, expected))}, got {_ws(out)[:80]!r}")


def _run_choice(spec: dict, out: str) -> CheckResult:
    if _run_exact(spec, out).passed:
        return _OK
    cs = spec.get("case_sensitive", False)
    flags = 0 if cs else re.IGNORECASE
    spans = {o: [m.span() for m in _phrase_re(o, flags).finditer(out)] for o in spec["options"]}
    all_spans = [(s, o) for o, ss in spans.items() for s in ss]

    def standalone(opt: str) -> bool:  # a mention not inside a longer option's mention
        return any(not any(o2 != opt and a2 <= a and b <= b2 and (b2 - a2) > (b - a)
                           for (a2, b2), o2 in all_spans)
                   for a, b in spans[opt])

    mentioned = [o for o in spec["options"] if standalone(o)]
    if not mentioned:
        return _fail(f"no option from {spec['options']} found in answer")
    if len(mentioned) > 1:
        return _fail(f"several options mentioned: {', '.join(mentioned)}")
    wanted = {_norm_label(e, cs) for e in _as_list(spec["expected"])}
    if _norm_label(mentioned[0], cs) in wanted:
        return _OK
    return _fail(f"answered {mentioned[0]!r}, expected {' or '.join(map(repr, _as_list(spec['expected'])))}")


def _run_regex(spec: dict, out: str) -> CheckResult:
    found = re.search(spec["pattern"], out, _re_flags(spec)) is not None
    if found == spec.get("must_match", True):
        return _OK
    return _fail(f"pattern {spec['pattern']!r} {'not found' if not found else 'must not match but did'}")


def _run_contains(spec: dict, out: str) -> CheckResult:
    text = _ws(out).casefold()
    missing = []
    for item in spec.get("all", []):
        alts = _as_list(item)
        if not any(_ws(a).casefold() in text for a in alts):
            missing.append(" / ".join(alts))
    if missing:
        return _fail(f"missing required term(s): {', '.join(map(repr, missing))}")
    if "any" in spec and not any(_ws(a).casefold() in text for a in spec["any"]):
        return _fail(f"none of {spec['any']} found")
    return _OK


def _run_json(spec: dict, out: str) -> CheckResult:
    try:
        data = _extract_json(out)
    except ValueError as exc:
        return _fail(str(exc))
    if "schema" in spec:
        err = best_match(jsonschema.Draft202012Validator(spec["schema"]).iter_errors(data))
        if err is not None:
            loc = "/".join(map(str, err.absolute_path)) or "<root>"
            return _fail(f"schema violation at {loc}: {err.message}")
    tol = spec.get("numeric_tolerance", 1e-6)
    for path, expected in spec.get("fields", {}).items():
        actual = _resolve(data, path)
        if actual is _MISSING:
            return _fail(f"field {path!r} missing")
        if not _field_matches(expected, actual, tol):
            return _fail(f"field {path!r}: expected {expected!r}, got {actual!r}")
    return _OK


def _run_numeric(spec: dict, out: str) -> CheckResult:
    if "pattern" in spec:
        matches = list(re.finditer(spec["pattern"], out, _re_flags(spec)))
        if not matches:
            return _fail(f"pattern {spec['pattern']!r} not found")
        nums = _numbers(matches[-1].group(1) or "")[:1]
    else:
        nums = _numbers(out)[-1:]
    if not nums:
        return _fail("no number found in answer")
    got, expected = nums[0], spec["expected"]
    tol = spec.get("tolerance", 1e-6)
    if spec.get("relative", False):
        tol = tol * abs(expected)
    if abs(got - expected) <= tol:
        return _OK
    return _fail(f"expected {expected} (\u00b1{tol:g}), got {got:g}")


def _run_word_limit(spec: dict, out: str) -> CheckResult:
    n = sum(1 for tok in out.split() if re.search(r"[^\W_]", tok))
    if "max" in spec and n > spec["max"]:
        return _fail(f"{n} words, limit is {spec['max']}")
    if "min" in spec and n < spec["min"]:
        return _fail(f"{n} words, minimum is {spec['min']}")
    return _OK


def _run_banned(spec: dict, out: str) -> CheckResult:
    hits = [w for w in spec["words"] if _phrase_re(w, re.IGNORECASE).search(out)]
    return _fail(f"banned word(s) used: {', '.join(hits)}") if hits else _OK


_RUNNERS = {"exact": _run_exact, "choice": _run_choice, "regex": _run_regex,
            "contains": _run_contains, "json": _run_json, "numeric": _run_numeric,
            "word_limit": _run_word_limit, "banned_words": _run_banned}


def run_check(spec: Any, output: str) -> CheckResult:
    """Run ``spec`` (dict or list of dicts) against a model ``output``."""
    validate_check(spec)
    output = "" if output is None else str(output)
    if not output.strip():
        return _fail("empty answer")
    specs = spec if isinstance(spec, list) else [spec]
    for i, sub in enumerate(specs):
        res = _RUNNERS[sub["type"]](sub, output)
        if not res.passed:
            prefix = f"check {i + 1} ({sub['type']}): " if len(specs) > 1 else ""
            return _fail(prefix + res.detail)
    return _OK
