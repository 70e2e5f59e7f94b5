"""IFEval's 25 verifiable instructions, following the semantics of google-research's
`instruction_following_eval/instructions.py` (as used by lm-evaluation-harness's `ifeval` task),
written afresh without nltk; language identification uses langdetect, as the reference does.

Each verifier is a frozen dataclass built from the data's kwargs; `.check(text) -> bool` says
whether the response follows it. `build(instruction_id, kwargs)` makes one (kwargs whose value is
None are dropped, as the harness does); it raises ValueError for an unknown id or bad kwargs.

Approximations (everything else follows the reference exactly):
* length_constraints:number_sentences counts sentences with a regex splitter (the reference: nltk
  punkt), see textutil.py;
* change_case:capital_word_frequency tokenises with a regex stand-in for nltk.word_tokenize.

language:response_language, change_case:english_capital and change_case:english_lowercase call
langdetect (seeded, see language.py) exactly as the reference does, counting a response langdetect
cannot classify as following the instruction.
"""

from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from . import language, textutil

__all__ = ["INSTRUCTIONS", "Instruction", "build"]

_RELATIONS = ("less than", "at least")


def _compare(actual: int, relation: str, n: int) -> bool:
    return actual < n if relation == "less than" else actual >= n


def _search(pattern: str, text: str, flags: int = re.IGNORECASE) -> list[str]:
    """re.findall with the pattern as the reference uses it (a regex), or literally if it is not one."""
    try:
        return re.findall(pattern, text, flags)
    except re.error:
        return re.findall(re.escape(pattern), text, flags)


class Instruction:
    id: ClassVar[str]

    def check(self, text: str) -> bool:  # pragma: no cover - every subclass overrides
        raise NotImplementedError

    def _validate(self) -> None:
        relation = getattr(self, "relation", None) or getattr(self, "capital_relation", None) \
            or getattr(self, "let_relation", None)
        if relation is not None and relation not in _RELATIONS:
            raise ValueError(f"{self.id}: relation must be one of {_RELATIONS}, got {relation!r}")

    def __post_init__(self) -> None:
        self._validate()


# --- keywords --------------------------------------------------------------------------------

@dataclass(frozen=True)
class KeywordExistence(Instruction):
    id = "keywords:existence"
    keywords: tuple[str, ...]

    def check(self, text: str) -> bool:
        return all(_search(k, text) for k in self.keywords)


@dataclass(frozen=True)
class KeywordFrequency(Instruction):
    id = "keywords:frequency"
    keyword: str
    frequency: int
    relation: str

    def check(self, text: str) -> bool:
        return _compare(len(_search(self.keyword, text)), self.relation, self.frequency)


@dataclass(frozen=True)
class ForbiddenWords(Instruction):
    id = "keywords:forbidden_words"
    forbidden_words: tuple[str, ...]

    def check(self, text: str) -> bool:
        return not any(_search(r"\b" + w + r"\b", text) for w in self.forbidden_words)


@dataclass(frozen=True)
class LetterFrequency(Instruction):
    id = "keywords:letter_frequency"
    letter: str
    let_frequency: int
    let_relation: str

    def check(self, text: str) -> bool:
        counts = collections.Counter(text.lower())
        return _compare(counts[self.letter.lower()], self.let_relation, self.let_frequency)


# --- language --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ResponseLanguage(Instruction):
    id = "language:response_language"
    language: str

    def check(self, text: str) -> bool:
        got = language.detect(text)
        return True if got is None else got == self.language  # undetectable passes, as the reference


# --- length constraints ----------------------------------------------------------------------

@dataclass(frozen=True)
class NumberOfSentences(Instruction):
    id = "length_constraints:number_sentences"
    num_sentences: int
    relation: str

    def check(self, text: str) -> bool:
        return _compare(textutil.count_sentences(text), self.relation, self.num_sentences)


@dataclass(frozen=True)
class NumberOfParagraphs(Instruction):
    """Paragraphs separated by the markdown divider ***."""

    id = "length_constraints:number_paragraphs"
    num_paragraphs: int

    def check(self, text: str) -> bool:
        paragraphs = re.split(r"\s?\*\*\*\s?", text)
        n = len(paragraphs)
        for i, p in enumerate(paragraphs):
            if not p.strip():
                if i in (0, len(paragraphs) - 1):
                    n -= 1
                else:
                    return False
        return n == self.num_paragraphs


@dataclass(frozen=True)
class NumberOfWords(Instruction):
    id = "length_constraints:number_words"
    num_words: int
    relation: str

    def check(self, text: str) -> bool:
        return _compare(textutil.count_words(text), self.relation, self.num_words)


@dataclass(frozen=True)
class NthParagraphFirstWord(Instruction):
    """Paragraphs separated by blank lines ("\\n\\n"); the count must match and paragraph i must
    start with the word (leading quotes dropped, cut at the first punctuation, case ignored)."""

    id = "length_constraints:nth_paragraph_first_word"
    num_paragraphs: int
    nth_paragraph: int
    first_word: str

    def check(self, text: str) -> bool:
        paragraphs = re.split(r"\n\n", text)
        n = sum(1 for p in paragraphs if p.strip())
        if not 1 <= self.nth_paragraph <= n:
            return False
        para = paragraphs[self.nth_paragraph - 1].strip()
        if not para:
            return False
        word = para.split()[0].strip().lstrip("'").lstrip('"')
        first = ""
        for ch in word:
            if ch in ".,?!'\"":
                break
            first += ch.lower()
        return n == self.num_paragraphs and first == self.first_word.lower()


# --- detectable content ----------------------------------------------------------------------

@dataclass(frozen=True)
class Placeholders(Instruction):
    id = "detectable_content:number_placeholders"
    num_placeholders: int

    def check(self, text: str) -> bool:
        return len(re.findall(r"\[.*?\]", text)) >= self.num_placeholders


@dataclass(frozen=True)
class Postscript(Instruction):
    id = "detectable_content:postscript"
    postscript_marker: str

    def check(self, text: str) -> bool:
        marker = self.postscript_marker
        if marker == "P.P.S":
            pattern = r"\s*p\.\s?p\.\s?s.*$"
        elif marker == "P.S.":
            pattern = r"\s*p\.\s?s\..*$"
        else:
            pattern = r"\s*" + marker.lower() + r".*$"
        return bool(_search(pattern, text.lower(), re.MULTILINE))


# --- detectable format -----------------------------------------------------------------------

@dataclass(frozen=True)
class BulletList(Instruction):
    """Exactly n markdown bullets ("* item" or "- item" lines)."""

    id = "detectable_format:number_bullet_lists"
    num_bullets: int

    def check(self, text: str) -> bool:
        stars = re.findall(r"^\s*\*[^\*].*$", text, flags=re.MULTILINE)
        dashes = re.findall(r"^\s*-.*$", text, flags=re.MULTILINE)
        return len(stars) + len(dashes) == self.num_bullets


@dataclass(frozen=True)
class ConstrainedResponse(Instruction):
    id = "detectable_format:constrained_response"
    OPTIONS: ClassVar[tuple[str, ...]] = ("My answer is yes.", "My answer is no.", "My answer is maybe.")

    def check(self, text: str) -> bool:
        text = text.strip()
        return any(opt in text for opt in self.OPTIONS)


@dataclass(frozen=True)
class HighlightSections(Instruction):
    """At least n non-empty *highlighted* (or **bold**) spans, each within one line."""

    id = "detectable_format:number_highlighted_sections"
    num_highlights: int

    def check(self, text: str) -> bool:
        n = sum(1 for h in re.findall(r"\*[^\n\*]*\*", text) if h.strip("*").strip())
        n += sum(1 for h in re.findall(r"\*\*[^\n\*]*\*\*", text)
                 if h.removeprefix("**").removesuffix("**").strip())
        return n >= self.num_highlights


@dataclass(frozen=True)
class Sections(Instruction):
    """At least n sections marked "<splitter> <number>" (e.g. "SECTION 1")."""

    id = "detectable_format:multiple_sections"
    section_spliter: str  # (sic) the data's spelling
    num_sections: int

    def check(self, text: str) -> bool:
        sections = re.split(r"\s?" + re.escape(self.section_spliter) + r"\s?\d+\s?", text)
        return len(sections) - 1 >= self.num_sections


@dataclass(frozen=True)
class JsonFormat(Instruction):
    id = "detectable_format:json_format"

    def check(self, text: str) -> bool:
        body = text.strip()
        for fence in ("```json", "```Json", "```JSON", "```"):
            body = body.removeprefix(fence)
        body = body.removesuffix("```").strip()
        try:
            json.loads(body)
        except ValueError:
            return False
        return True


@dataclass(frozen=True)
class Title(Instruction):
    """A title in double angular brackets, <<like this>>."""

    id = "detectable_format:title"

    def check(self, text: str) -> bool:
        return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", text))


# --- combination -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TwoResponses(Instruction):
    """Two different responses separated by ******."""

    id = "combination:two_responses"

    def check(self, text: str) -> bool:
        parts = text.split("******")
        valid = []
        for i, r in enumerate(parts):
            if not r.strip():
                if i not in (0, len(parts) - 1):
                    return False
            else:
                valid.append(r)
        return len(valid) == 2 and valid[0].strip() != valid[1].strip()


@dataclass(frozen=True)
class RepeatPrompt(Instruction):
    id = "combination:repeat_prompt"
    prompt_to_repeat: str

    def check(self, text: str) -> bool:
        return text.strip().lower().startswith(self.prompt_to_repeat.strip().lower())


# --- start / end -----------------------------------------------------------------------------

@dataclass(frozen=True)
class EndChecker(Instruction):
    id = "startend:end_checker"
    end_phrase: str

    def check(self, text: str) -> bool:
        return text.strip().strip('"').lower().endswith(self.end_phrase.strip().lower())


@dataclass(frozen=True)
class Quotation(Instruction):
    id = "startend:quotation"

    def check(self, text: str) -> bool:
        text = text.strip()
        return len(text) > 1 and text[0] == '"' and text[-1] == '"'


# --- change case -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CapitalWordFrequency(Instruction):
    id = "change_case:capital_word_frequency"
    capital_frequency: int
    capital_relation: str

    def check(self, text: str) -> bool:
        n = sum(1 for w in textutil.word_tokens(text) if w.isupper())
        return _compare(n, self.capital_relation, self.capital_frequency)


def _english(text: str) -> bool:
    got = language.detect(text)
    return got is None or got == "en"


@dataclass(frozen=True)
class EnglishCapital(Instruction):
    id = "change_case:english_capital"

    def check(self, text: str) -> bool:
        return text.isupper() and _english(text)


@dataclass(frozen=True)
class EnglishLowercase(Instruction):
    id = "change_case:english_lowercase"

    def check(self, text: str) -> bool:
        return text.islower() and _english(text)


# --- punctuation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class NoComma(Instruction):
    id = "punctuation:no_comma"

    def check(self, text: str) -> bool:
        return "," not in text


INSTRUCTIONS: dict[str, type[Instruction]] = {cls.id: cls for cls in (
    KeywordExistence, KeywordFrequency, ForbiddenWords, LetterFrequency, ResponseLanguage,
    NumberOfSentences, NumberOfParagraphs, NumberOfWords, NthParagraphFirstWord,
    Placeholders, Postscript, BulletList, ConstrainedResponse, HighlightSections, Sections,
    JsonFormat, Title, TwoResponses, RepeatPrompt, EndChecker, Quotation,
    CapitalWordFrequency, EnglishCapital, EnglishLowercase, NoComma,
)}

_INT_FIELDS = {"frequency", "let_frequency", "num_sentences", "num_paragraphs", "num_words",
               "nth_paragraph", "num_placeholders", "num_bullets", "num_highlights", "num_sections",
               "capital_frequency"}


def build(instruction_id: str, kwargs: dict[str, Any] | None = None) -> Instruction:
    """The verifier for one instruction of a prompt; ValueError for an unknown id or bad kwargs."""
    cls = INSTRUCTIONS.get(instruction_id)
    if cls is None:
        raise ValueError(f"unknown instruction id {instruction_id!r}")
    args = {k: v for k, v in (kwargs or {}).items() if v is not None}
    for k, v in args.items():
        if k in _INT_FIELDS and (not isinstance(v, int) or isinstance(v, bool)):
            raise ValueError(f"{instruction_id}: {k} must be an integer, got {v!r}")
        if isinstance(v, list):
            if not all(isinstance(x, str) for x in v):
                raise ValueError(f"{instruction_id}: {k} must be a list of strings")
            args[k] = tuple(v)
    try:
        return cls(**args)
    except TypeError as e:
        raise ValueError(f"{instruction_id}: bad kwargs {sorted(args)}: {e}") from None
