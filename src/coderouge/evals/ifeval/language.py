"""A small dependency-free language identifier for IFEval's `language:response_language` and the
"in English" half of `change_case:english_capital` / `english_lowercase`.

The reference calls `langdetect.detect` (character n-gram profiles of 55 languages). This is an
approximation, not a port: the dominant Unicode script of the letters decides first, then

* scripts used by one language here: Hangul ko, Thai th, Kannada kn, Gujarati gu, Telugu te,
  Tamil ta, Bengali bn, Gurmukhi pa, Greek el, Hebrew he, Kana ja, Han zh, ...;
* Devanagari: stopword profiles of Hindi, Marathi and Nepali (Hindi when nothing matches);
* Cyrillic: Russian-only letters (ы э ё) and stopwords against Bulgarian's (ъ, това, ще, ...);
* Arabic script: Urdu-only letters (ٹ ڈ ڑ ں ے) → ur, else Persian letters (پ چ ژ گ ک ی) against
  Arabic ones (ة ي ك ى);
* Latin: Vietnamese tone letters, else stopword profiles of en de pt it fi sw fr es nl
  (English when nothing matches).

It covers every language code in IFEval's data (hi kn mr vi ko sw de pa fa ru bg pt gu te it ar
ta fi ur th ne bn, and en). Like the reference, text with no letters at all is "undetectable"
and `detect` returns None (the verifier then passes, as the reference does on LangDetectException).
"""

from __future__ import annotations

import unicodedata
from collections import Counter

__all__ = ["SUPPORTED", "detect"]

# script name (first word of the Unicode character name) -> language when the script is enough
_SCRIPT_LANG = {
    "HANGUL": "ko", "THAI": "th", "KANNADA": "kn", "GUJARATI": "gu", "TELUGU": "te", "TAMIL": "ta",
    "BENGALI": "bn", "GURMUKHI": "pa", "GREEK": "el", "HEBREW": "he", "HIRAGANA": "ja",
    "KATAKANA": "ja", "CJK": "zh", "MALAYALAM": "ml", "ORIYA": "or", "SINHALA": "si",
    "GEORGIAN": "ka", "ARMENIAN": "hy", "ETHIOPIC": "am", "KHMER": "km", "LAO": "lo",
    "MYANMAR": "my", "TIBETAN": "bo",
}

_STOP = {
    # Latin script
    "en": ["the", "and", "of", "to", "in", "is", "that", "it", "for", "was", "on", "are", "with", "as", "be", "this", "have", "not", "you", "by", "at", "or", "from", "but", "they", "we", "an", "which", "will", "can", "has", "their", "your", "all", "would", "there", "been", "more", "about", "if", "its"],
    "de": ["der", "die", "das", "und", "ist", "nicht", "ein", "eine", "zu", "den", "von", "mit", "sich", "des", "auf", "für", "im", "dem", "auch", "es", "an", "werden", "aus", "er", "hat", "dass", "sie", "nach", "wird", "bei", "einer", "um", "noch", "wie", "über", "ich", "wir", "oder", "sind"],
    "pt": ["de", "que", "não", "uma", "os", "para", "com", "do", "da", "em", "um", "por", "mais", "as", "dos", "como", "mas", "ao", "ele", "das", "seu", "sua", "ou", "quando", "muito", "nos", "já", "eu", "também", "só", "pelo", "pela", "até", "isso", "ela", "entre", "era", "depois", "sem", "mesmo", "são", "você", "está", "é"],
    "it": ["di", "che", "il", "la", "non", "è", "per", "una", "sono", "con", "gli", "del", "della", "le", "ma", "si", "lo", "io", "anche", "come", "questo", "più", "nel", "alla", "ha", "da", "dei", "delle", "al", "essere", "mi", "sua", "suo", "molto", "ci", "loro", "perché", "ne", "degli"],
    "fi": ["ja", "on", "ei", "se", "että", "hän", "oli", "ovat", "mutta", "kun", "tai", "myös", "niin", "kuin", "jos", "sen", "mitä", "tämä", "ole", "olla", "voi", "vain", "nyt", "jo", "sekä", "siitä", "joka", "mukaan", "sitten", "olisi", "ollut", "minä", "me", "te", "he"],
    "sw": ["na", "ya", "wa", "kwa", "ni", "za", "katika", "la", "kuwa", "cha", "vya", "hii", "hiyo", "yake", "kama", "lakini", "au", "pia", "sana", "wako", "wao", "huo", "ili", "kila", "hakuna", "tu", "ndani", "zaidi", "baada", "kwamba", "ambayo", "ambao", "watu"],
    "fr": ["le", "la", "les", "de", "des", "et", "est", "une", "un", "du", "en", "que", "qui", "dans", "pour", "pas", "sur", "au", "avec", "il", "elle", "ce", "sont", "par", "plus", "nous", "vous", "mais", "ou", "leur", "cette", "aux"],
    "es": ["el", "la", "los", "las", "de", "que", "y", "en", "un", "una", "es", "por", "con", "para", "no", "se", "del", "al", "lo", "como", "más", "pero", "sus", "le", "ya", "o", "este", "está", "muy", "también"],
    "nl": ["de", "het", "een", "en", "van", "is", "dat", "op", "te", "in", "zijn", "voor", "niet", "met", "die", "er", "maar", "ook", "als", "bij", "door", "naar", "wordt", "om", "dan", "wat"],
    # Devanagari
    "hi": ["है", "हैं", "का", "की", "के", "में", "और", "यह", "को", "से", "था", "थे", "नहीं", "पर", "भी", "लिए", "एक", "हो", "कि", "जो", "तो", "ने", "इस", "वह", "गया", "कर", "किया", "करते", "होता", "अपने", "साथ"],
    "mr": ["आहे", "आहेत", "आणि", "या", "व", "हे", "ही", "ते", "त्या", "मध्ये", "होते", "नाही", "करून", "केले", "पण", "म्हणून", "चा", "ची", "चे", "आपण", "आपल्या", "एक", "तर", "किंवा", "असे", "झाले"],
    "ne": ["छ", "छन्", "र", "मा", "यो", "पनि", "गर्न", "भएको", "थियो", "हुन्छ", "लागि", "तथा", "रहेको", "गरेको", "छैन", "हो", "त्यो", "गर्ने", "भने", "उनी", "हामी", "तपाईं"],
    # Cyrillic (language-specific words only)
    "ru": ["что", "это", "как", "был", "была", "были", "для", "так", "его", "она", "они", "мы", "вы", "уже", "если", "или", "только", "когда", "есть", "тоже", "очень", "этот"],
    "bg": ["е", "са", "това", "ще", "съм", "към", "след", "също", "които", "който", "която", "като", "тези", "този", "във", "със", "бъде", "има", "нашия"],
}
_STOPSETS = {lang: set(words) for lang, words in _STOP.items()}
_LATIN = ("en", "de", "pt", "it", "fi", "sw", "fr", "es", "nl")
_DEVANAGARI = ("hi", "mr", "ne")

_VI_LETTERS = set("đươăĐƯƠĂ") | {chr(c) for c in range(0x1EA0, 0x1EFA)}
_PUNCT = "\"'`.,;:!?()[]{}<>«»“”‘’„—–-…।॥،؛؟*_#/\\|"

SUPPORTED = tuple(sorted(set(_SCRIPT_LANG.values()) | set(_STOP) | {"vi", "ar", "fa", "ur"}))


def _script(ch: str) -> str:
    try:
        name = unicodedata.name(ch)
    except ValueError:
        return ""
    first = name.split(" ", 1)[0]
    if first in ("LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI") or first in _SCRIPT_LANG:
        return first
    return "OTHER"


def _best(words: list[str], langs: tuple[str, ...], default: str) -> str:
    scores = {lang: sum(w in _STOPSETS[lang] for w in words) for lang in langs}
    best = max(langs, key=lambda lang: (scores[lang], lang == default))
    return best if scores[best] > 0 else default


def detect(text: str) -> str | None:
    """An ISO 639-1 code for the language of `text`, or None when it has no letters."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return None
    scripts = Counter(_script(ch) for ch in letters)
    script, _ = scripts.most_common(1)[0]
    if script in _SCRIPT_LANG:
        return _SCRIPT_LANG[script]
    words = [w.strip(_PUNCT) for w in text.lower().split()]
    if script == "LATIN":
        vi = sum(ch in _VI_LETTERS for ch in letters)
        if vi >= max(3, 0.03 * len(letters)):
            return "vi"
        return _best(words, _LATIN, "en")
    if script == "DEVANAGARI":
        return _best(words, _DEVANAGARI, "hi")
    if script == "CYRILLIC":
        ru = sum(ch in "ыэёЫЭЁ" for ch in letters) + 2 * sum(w in _STOPSETS["ru"] for w in words)
        bg = sum(ch in "ъЪ" for ch in letters) + 2 * sum(w in _STOPSETS["bg"] for w in words)
        return "bg" if bg > ru else "ru"
    if script == "ARABIC":
        ur = sum(ch in "ٹڈڑںےۓھ" for ch in letters)
        if ur >= max(2, 0.01 * len(letters)):
            return "ur"
        fa = sum(ch in "پچژگکی" for ch in letters)
        ar = sum(ch in "ةيكى" for ch in letters)
        return "fa" if fa > ar else "ar"
    return "unknown"
