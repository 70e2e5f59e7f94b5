"""Which option a chat answer picks, for the letter method of multiple choice.

A reply is credited with a letter only when the model clearly chose it:

1. An answer statement names it: "Answer: B", "The answer is (B)", "The correct answer is **B**",
   "Answer: $B$". This is openai/simple-evals' ANSWER_PATTERN_MULTICHOICE ("Answer" and a colon,
   then the letter), widened as lm-evaluation-harness's generative MMLU filter is to "answer is",
   plus the lead-ins simple-evals lists for its multilingual MMLU ("Antwort:", "Respuesta:",
   "Réponse:", "答案：", "정답:", "उत्तर:", "الإجابة:", …; full-width Ａ–Ｄ and the Arabic and Bengali
   letters it maps to A–D count as those letters). When several statements name different letters,
   nothing was chosen.
2. Otherwise the reply opens with the letter (lm-evaluation-harness's generative MMLU anchors the
   letter at the start of the reply the same way): the first non-empty line is "B", "(B)", "[B]",
   "B.", "B)", "B:", "**B**", "B. Paris", "B) Paris", "B - Paris", "B is correct", "B, because …".
   A bare letter followed by a word ("A cat", "I think") is prose, not a choice.
3. A reply that restates options, two or more lines opening with different option labels ("A. …",
   "(B) …") as a model echoing the question does, chose nothing — unless it states its answer (1).

Only the first n letters (the item's options) count. A lower-case letter counts only where nothing
but markup or a full stop follows it ("answer: b", "(c)"), so that "The answer is a gas" names no
option. Anything else is no choice, which scores as a wrong answer.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["LETTERS", "extract_letter", "picked_label"]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# "Answer:" in the languages of simple-evals' multilingual MMLU (after NFKC, so "：" is ":"),
# and English "answer is"
_LEAD_INS = (
    r"answer\s*(?:is\s*:?|:)", r"antwort\s*:", r"respuesta\s*:", r"risposta\s*:", r"réponse\s*:",
    r"resposta\s*:", r"jawaban\s*:", r"jibu\s*:", r"[iì]d[aá]h[uù]n\s*:", r"àmọ̀nà\s*:", r"àdáhùn\s*:",
    r"ànúgọ\s*:", r"àṣàyàn\s*:", r"उत्तर\s*:", r"উত্তর\s*:", r"উত্তরঃ", r"답변\s*:", r"정답\s*:", r"답\s*:",
    r"答案\s*:", r"答复\s*:", r"答曰\s*:", r"答え\s*:", r"回答\s*:", r"解答\s*:", r"答\s*:",
    r"الإجابة\s*(?:النهائية\s*|الصحيحة\s*)?(?:هي\s*)?:", r"الجواب\s*(?:النهائي\s*)?:", r"إجابة\s*:",
)
# the letters simple-evals maps to A-D (Arabic, Bengali); full-width ones become Latin under NFKC
_OTHER_LETTERS = {"أ": "A", "ب": "B", "ج": "C", "د": "D", "অ": "A", "ব": "B", "ড": "C", "ঢ": "D"}


@lru_cache(maxsize=64)
def _patterns(n: int) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    ok = LETTERS[:n]
    other = "".join(k for k, v in _OTHER_LETTERS.items() if v in ok)
    letter = f"[{ok}{other}]"
    leads = "|".join(unicodedata.normalize("NFKC", p) for p in _LEAD_INS)
    # a lower-case letter only where nothing but markup or a full stop follows it ("answer: b"), so
    # that "the answer is a gas" names no option
    lower = rf"([{ok.lower()}])(?=[ \t]*[)\]$]?[*_]*\.?[*_]*[ \t]*$)"
    stated = re.compile(rf"(?i:(?<!\w)(?:{leads}))[ \t]*[*_]*[ \t]*[(\[$]?[ \t]*"
                        rf"(?:({letter})[ \t]*[)\]$]?(?![\w'’])|{lower})", re.MULTILINE)
    # an option label opening a line: "(B)", "[B]", "B.", "B)", "B:" (anything may follow)
    label = rf"[(\[]({letter})[)\]]|({letter})[.):\]]"
    # a bare letter opening a line: alone, before markup or punctuation, or before "is", a dash, …
    bare = rf"({letter})(?=[ \t]*$|[*_\"'”!?;]|,[ \t]*[a-z]|[ \t]+(?:[-–—=(]|is\b|was\b|because\b))"
    prefix = r"^[ \t]*(?:[*_#>`\"'“-]+[ \t]*)*"
    opening = re.compile(rf"{prefix}(?:{label}|{bare}|[(\[]?{lower})", re.MULTILINE)
    listed = re.compile(rf"{prefix}(?:{label})", re.MULTILINE)
    return stated, opening, listed


def _index(m: re.Match[str]) -> int:
    ch = next(g for g in m.groups() if g)
    return LETTERS.index(_OTHER_LETTERS.get(ch, ch).upper())


def extract_letter(text: str, n: int) -> int | None:
    """The index of the option a chat answer picks among the first n letters, or None when it
    picks none clearly. The rule is this module's docstring: an answer statement ("Answer: B",
    "The answer is (B)"), else a reply opening with the letter ("B", "(B)", "B.", "B. Paris"); a
    reply restating several options, or stating different letters, picks none."""
    if n <= 0:
        return None
    text = unicodedata.normalize("NFKC", text)
    stated, opening, listed = _patterns(min(n, len(LETTERS)))
    said = {_index(m) for m in stated.finditer(text)}
    if said:
        return said.pop() if len(said) == 1 else None
    labels = {_index(m) for m in listed.finditer(text)}
    if len(labels) > 1:
        return None
    first = next((line for line in text.splitlines() if line.strip()), "")
    m = opening.match(first)
    return _index(m) if m else None


def picked_label(picked: int | None) -> str:
    """How a stored item shows the extraction: the letter, or "none"."""
    return "none" if picked is None else LETTERS[picked]
