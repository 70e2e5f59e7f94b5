"""Text helpers for the IFEval verifiers, written to follow google-research's
`instruction_following_eval/instructions_util.py` without nltk:

* `count_words`     the reference's nltk RegexpTokenizer(r"\\w+"): the same regex, so exact.
* `split_sentences` the reference counts sentences with nltk's punkt (English); here a regex
                    splitter like the reference's own `split_into_sentences` (abbreviations,
                    initials, decimals, websites and ellipses do not end a sentence; like punkt, a
                    period with no space after it never does). Approximate.
* `word_tokens`     stands in for nltk.word_tokenize (capital_word_frequency): words with inner
                    apostrophes/hyphens kept whole, a trailing "n't" split off, punctuation apart.
"""

from __future__ import annotations

import re

__all__ = ["count_sentences", "count_words", "split_sentences", "word_tokens"]

_WORD = re.compile(r"\w+")

_ALPHA = "([A-Za-z])"
_PREFIXES = re.compile(r"\b(Mr|St|Mrs|Ms|Dr|Prof|vs|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec|Gen|Gov|Sen|Rep|Mt|Ft)[.]")
_INNER_DOT = re.compile(r"\.(?=[^\s\"'\u201d\u2019)\]<*_])")  # punkt: a period needs whitespace after it to end a sentence
_SUFFIXES = "(Inc|Ltd|Jr|Sr|Co)"
_STARTERS = (r"(Mr|Mrs|Ms|Dr|Prof|Capt|Cpt|Lt|He\s|She\s|It\s|They\s|Their\s|Our\s|We\s|But\s|"
             r"However\s|That\s|This\s|Wherever)")
_ACRONYMS = r"([A-Z][.][A-Z][.](?:[A-Z][.])?)"
_WEBSITES = re.compile(r"[.](com|net|org|io|gov|edu|me)\b")
_DIGITS = re.compile(r"([0-9])[.]([0-9])")
_MULTI_DOTS = re.compile(r"\.{2,}")


def count_words(text: str) -> int:
    return len(_WORD.findall(text))


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` (non-empty, stripped)."""
    t = " " + text + "  "
    t = t.replace("\n", " ")
    t = _PREFIXES.sub(r"\1<prd>", t)
    t = _WEBSITES.sub(r"<prd>\1", t)
    t = _DIGITS.sub(r"\1<prd>\2", t)
    t = _MULTI_DOTS.sub(lambda m: "<prd>" * len(m.group(0)) + "<stop>", t)
    t = t.replace("Ph.D.", "Ph<prd>D<prd>")
    t = re.sub(r"\s" + _ALPHA + r"[.] ", r" \1<prd> ", t)
    t = re.sub(_ACRONYMS + " " + _STARTERS, r"\1<stop> \2", t)
    t = re.sub(_ALPHA + "[.]" + _ALPHA + "[.]" + _ALPHA + "[.]", r"\1<prd>\2<prd>\3<prd>", t)
    t = re.sub(_ALPHA + "[.]" + _ALPHA + "[.]", r"\1<prd>\2<prd>", t)
    t = re.sub(" " + _SUFFIXES + "[.] " + _STARTERS, r" \1<stop> \2", t)
    t = re.sub(" " + _SUFFIXES + "[.]", r" \1<prd>", t)
    t = re.sub(" " + _ALPHA + "[.]", r" \1<prd>", t)
    t = t.replace(".\u201d", "\u201d.").replace('."', '".').replace('!"', '"!').replace('?"', '"?')
    t = _INNER_DOT.sub("<prd>", t)
    t = t.replace(".", ".<stop>").replace("?", "?<stop>").replace("!", "!<stop>")
    t = t.replace("<prd>", ".")
    out = [s.strip() for s in t.split("<stop>")]
    # a "sentence" of punctuation only (a stray quote, a closing bracket) joins the one before
    merged: list[str] = []
    for s in out:
        if not s:
            continue
        if merged and not re.search(r"\w", s):
            merged[-1] += s
        else:
            merged.append(s)
    return merged


def count_sentences(text: str) -> int:
    return len(split_sentences(text))


_TOKEN = re.compile(r"\w+(?:['\u2019\-.]\w+)*|[^\w\s]")


def word_tokens(text: str) -> list[str]:
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        low = tok.lower()
        if len(tok) > 3 and low.endswith(("n't", "n\u2019t")):  # nltk: "DON'T" -> "DO", "N'T"
            out += [tok[:-3], tok[-3:]]
        elif "'" in tok or "\u2019" in tok:  # nltk: "IT'S" -> "IT", "'S"
            i = max(tok.find("'"), tok.find("\u2019"))
            out += [tok[:i], tok[i:]]
        else:
            out.append(tok)
    return out
