"""Secrets on the ground floor: API key lookup and redaction of every text we show, log or store.

A key read with `env_key()` (or given to `register_secret()`) is remembered and replaced by
`[REDACTED]` wherever it appears; strings shaped like vendor keys are redacted too. The gateway's
GDPR redaction of personal data grows beside this.
"""

from __future__ import annotations

import os
import re

_SECRET_PATTERNS = [re.compile(r"\b(sk|sk-ant|sk-proj|AIza)[-_A-Za-z0-9]{8,}")]
_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that `redact()` removes it from any text we show or store."""
    if value and len(value) >= 6:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for s in _SECRETS:
        if s in text:
            text = text.replace(s, "[REDACTED]")
    for pat in _SECRET_PATTERNS:
        text = pat.sub("[REDACTED]", text)
    return text


def env_key(*names: str) -> str | None:
    for n in names:
        v = os.environ.get(n)
        if v:
            register_secret(v)
            return v
    return None
