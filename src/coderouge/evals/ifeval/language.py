"""Language identification for IFEval's `language:response_language` and the "in English" half of
`change_case:english_capital` / `english_lowercase`, with the library the reference uses.

google-research's `instruction_following_eval/instructions.py` calls `langdetect.detect(value)`
(character n-gram profiles of 55 languages, ISO 639-1 codes plus zh-cn / zh-tw) and counts the
instruction as followed when langdetect raises `LangDetectException` (text with no letters to go
on). langdetect samples n-grams at random, so a verdict can change from one call to the next
unless `DetectorFactory.seed` is fixed; the reference fixes it to 0 (its instructions_test checks
`langdetect.DetectorFactory.seed == 0`), and so does this module, on import.
"""

from __future__ import annotations

import os
import threading

from langdetect import DetectorFactory, LangDetectException
from langdetect import detector_factory as _langdetect

__all__ = ["SUPPORTED", "detect"]

DetectorFactory.seed = 0  # verdicts repeat, as in the reference

# the codes langdetect can answer (one profile file each)
SUPPORTED = tuple(sorted(os.listdir(_langdetect.PROFILES_DIRECTORY)))

_init_lock = threading.Lock()


def _factory() -> DetectorFactory:
    # langdetect loads its profiles lazily into a module global, which it publishes before it has
    # filled it: IFEval's checks run on several threads, so the first load happens under a lock
    with _init_lock:
        _langdetect.init_factory()
    return _langdetect._factory


def detect(text: str) -> str | None:
    """langdetect's language code for `text` (what the reference compares), or None where langdetect
    cannot tell (LangDetectException: no letters), which the verifiers count as followed."""
    detector = _factory().create()
    try:
        detector.append(text)
        return detector.detect()
    except LangDetectException:
        return None
