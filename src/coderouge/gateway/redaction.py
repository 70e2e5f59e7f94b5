"""GDPR redaction for the gateway: personal data out of a request, placeholders back into the answer.

One `Redactor` per request. `redact()` is called on every text that leaves for a provider (and on
what is logged or stored); it replaces each personal datum by a placeholder `<KIND_N>`:

    EMAIL  e-mail addresses (practical RFC 5322 pattern, Unicode letters allowed, no trailing dot)
    IBAN   candidates by regex, validated with `stdnum.iban` (mod-97 and the country's BBAN format)
    NIR    French social security number, 15 characters with Corsica 2A/2B, `stdnum.fr.nir`
    SIRET  14-digit SIRET (`stdnum.fr.siret`: Luhn on the SIRET and on its SIREN), and a 9-digit
           SIREN (`stdnum.fr.siren`) under the same kind, but only right after the word SIREN or
           RCS (a bare 9-digit number is Luhn-valid one time in ten: order numbers, amounts...)
    CARD   13-19 digits, Luhn (`stdnum.luhn`) and a known IIN prefix/length (see `_CARD_RANGES`)
    IP     IPv4 and IPv6 candidates validated by `ipaddress`; loopback, unspecified and link-local
           addresses identify no one and are left alone
    PHONE  `phonenumbers.PhoneNumberMatcher`, region FR, `Leniency.VALID`: French national formats
           ("06 12 34 56 78", "01.23.45.67.89", "0033 6...") and any international "+CC ..." number

Detection order (each detector runs on the text with the spans already claimed masked out):
EMAIL, IBAN, NIR, SIRET (then SIREN after its keyword), CARD, IP, PHONE. The most specific shapes
go first: an e-mail may hold digits ("jean.0612345678@..."); an IBAN holds long digit runs that
could pass Luhn or look like phone numbers; a NIR is 15 digits (an Amex length) with a mod-97 key;
a SIRET is 14 digits that pass Luhn twice (SIRET and SIREN), so in a French context it wins over a
14-digit Diners card when written whole or as INSEE prints it (3-3-3-5, or 9-5); grouped like a
card ("3056 930902 5904") it is a CARD. Either way it is redacted; only the kind differs. Phones
come last because the matcher is the most lenient: by then cards, IBANs, SIRETs and NIRs are
masked and cannot be read as phone numbers. Dates, years, amounts, versions and order numbers are
not taken (tested). Cards and SIRETs are read in groups of 3+ digits separated by a space or a
dash (never in pairs, which is how phone numbers are written).

Placeholders are consistent within the request: values are compared after normalisation (e-mail
lower-cased, IBAN/NIR/SIRET/card compacted, IP in `ipaddress` canonical form, phone in E.164), the
same value always gets the same placeholder and each distinct value its own N (per kind, from 1).
Numbers already written in the input as placeholder-shaped text (`<EMAIL_1>`) are not handed out.
`mapping` gives placeholder -> the first occurrence's spelling; `restore()` puts them back; a
`StreamRestorer` does the same on a streamed answer, holding back only a tail that is still the
beginning of a known placeholder. `counts` says how many occurrences of each kind were replaced
(for metrics and logs; never the values). Secrets (API keys) are `coderouge.secrets`' business.

Not caught: national phone formats of other countries written without "+" or "00" (region FR is
assumed: "(415) 555-2671" stays), an IBAN/card/NIR/SIRET with a wrong check digit, a card outside
the issuer table or written in pairs of digits, a NIR without its key (13 digits), a bare SIREN
with no "SIREN"/"RCS" before it, an e-mail without a dotted domain (jean@localhost), loopback,
unspecified and link-local IPs (127.0.0.1, ::1, fe80::1: deliberately), names and postal
addresses. A value written twice in two spellings ("06 12..." and "+33 6 12...") comes back from
`restore()` in the first spelling.

Speed (CPython 3.11, timeit, CPU time, best of 7 x 100, on a shared 2-core machine): `redact()` on
4 KB of French/English prose with no personal data (and no digit): 0.01 ms; on 4 KB of prose full
of dates, versions, amounts and order numbers: 0.7 ms; on 4 KB of code full of numbers: 0.9 ms.
Patterns start on the character they consume (not on a look-behind) so that `re` skips quickly,
detectors that cannot apply are skipped (no "@", no digit, no ":"), and the phone matcher (~0.1 ms
per candidate it parses) only reads windows around digit sequences that could be a phone number.
No pattern backtracks more than linearly: 40 KB adversarial inputs take 1-120 ms, 0.3 s for the
worst (40 KB of "0 0 0 ..." read by the phone matcher, or 2,000 real phone numbers in 34 KB).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType

import phonenumbers
from stdnum import iban as _iban
from stdnum import luhn as _luhn
from stdnum.fr import nir as _nir
from stdnum.fr import siren as _siren
from stdnum.fr import siret as _siret

__all__ = ["KINDS", "Redactor", "StreamRestorer", "restore"]

KINDS = ("EMAIL", "PHONE", "IBAN", "CARD", "IP", "NIR", "SIRET")

_PLACEHOLDER_RE = re.compile(r"<(" + "|".join(KINDS) + r")_([1-9][0-9]*)>")
_MASK = "\x00"  # replaces claimed spans for the later detectors: not a word, digit, space or phone char

# Patterns start with the character they consume first (not with a look-behind), so that `re` can
# skip quickly through text that has nothing to offer; the boundaries are checked right after it.

# -- e-mail: found from each "@" (the local part is read backwards by hand: scanning the whole text
# with a pattern that starts with a repeated class costs ~1.5 ms per 4 KB) ---------------------------
_LOCAL_CHARS = frozenset("!#$%&'*+/=?^`{|}~-.")
_DOMAIN_RE = re.compile(r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}")

# -- IBAN: 2 letters, 2 check digits, 11 to 30 alphanumerics with optional single spaces ------------
_SP = "[ \u00a0\u202f]"
_IBAN_RE = re.compile(
    r"\d\d(?<=[A-Z]{2}\d\d)(?<!\w[A-Z]{2}\d\d)(?:" + _SP + r"?[A-Z0-9]){11,30}(?!\w)", re.IGNORECASE
)

# -- NIR: sex, year, month, department (2A/2B, or 97x overseas), commune, serial, key ---------------
_NS = r"[ .\u00a0\u202f-]?"
_NIR_RE = re.compile(
    r"[1-478](?<!\w.)(?<!\d[.,].)" + _NS + r"\d\d" + _NS + r"\d\d" + _NS
    + r"(?:(?:\d\d|2[AB])" + _NS + r"\d{3}|9[78]\d" + _NS + r"\d\d)"
    + _NS + r"\d{3}" + _NS + r"\d\d(?!\w)(?![.,]\d)",
    re.IGNORECASE,
)

# -- digit runs (SIRET and cards): groups of digits separated by one space or dash, not part of a
# word, a decimal number or a dotted/commaed number ------------------------------------------------
_RUN_RE = re.compile(r"\d(?<!\w\d)(?<!\d[.,]\d)(?:[ \u00a0\u202f-]?\d){12,}(?!\w)(?![.,]\d)")  # 13+ digits
_GROUP_RE = re.compile(r"\d+")
# a SIRET is written whole, as INSEE prints it (3-3-3-5) or as SIREN + NIC (9-5); a 14-digit number
# grouped otherwise (a Diners card "3056 930902 5904") is left to the card detector
_SIRET_SHAPES = frozenset({(14,), (3, 3, 3, 5), (9, 5)})

_SIREN_RE = re.compile(
    r"\b(?:SIREN|RCS)\b[^\d\n]{0,40}?(?<!\d)(\d{3}" + _SP + r"?\d{3}" + _SP + r"?\d{3})"
    r"(?!\w)(?![ \u00a0.,-]?\d)",
    re.IGNORECASE,
)

# Payment cards: Luhn alone accepts one 13-19 digit number in ten, so a number must also start with
# an issuer prefix that exists at that length (ISO/IEC 7812 ranges of the big networks):
# Visa 4 (13, 16, 19); Mastercard 51-55 and 2221-2720 (16); Amex 34, 37 (15); Diners 300-305, 36,
# 38, 39 (14-19); Discover 6011, 644-649, 65 (16-19); JCB 3528-3589 (16-19); UnionPay 62 (16-19);
# Maestro 50, 56-69 (13-19). Numbers starting with 0, 1, 7, 8, 9 are never taken as cards.
_CARD_RANGES: tuple[tuple[int, int, int, frozenset[int]], ...] = (
    # (prefix length, low, high, lengths)
    (1, 4, 4, frozenset({13, 16, 19})),
    (2, 51, 55, frozenset({16})),
    (4, 2221, 2720, frozenset({16})),
    (2, 34, 34, frozenset({15})),
    (2, 37, 37, frozenset({15})),
    (3, 300, 305, frozenset(range(14, 20))),
    (2, 36, 36, frozenset(range(14, 20))),
    (2, 38, 39, frozenset(range(14, 20))),
    (4, 6011, 6011, frozenset(range(16, 20))),
    (3, 644, 649, frozenset(range(16, 20))),
    (2, 65, 65, frozenset(range(16, 20))),
    (4, 3528, 3589, frozenset(range(16, 20))),
    (2, 62, 62, frozenset(range(16, 20))),
    (2, 50, 50, frozenset(range(13, 20))),
    (2, 56, 69, frozenset(range(13, 20))),
)

# -- IP addresses ---------------------------------------------------------------------------------
_IPV4_RE = re.compile(r"\d(?<![\w.]\d)\d{0,2}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?!\w)(?!\.\d)")
# from a colon (a literal: quick to scan for), widened to the left by hand
_IPV6_SCAN = re.compile(r":[0-9a-f]{0,4}:[0-9a-f:.]*", re.IGNORECASE)
_HEX = frozenset("0123456789abcdefABCDEF")
_IPV6_SHAPE = re.compile(r"(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?", re.IGNORECASE)

# -- phones: the matcher costs ~0.1 ms per candidate it parses, so it only reads windows around a
# digit sequence that can be a phone number: "+" and 6+ digits (Germany, Austria), "00" and 8+,
# "0" and 10+ (French national), "33" and 11+ (French without the plus). A window ends at a newline
# or at a space between two letters (other than x): no candidate of the matcher crosses either (its
# punctuation, copied below from phonenumbers' _VALID_PUNCTUATION, holds no newline and no letter
# but x; extension labels hold no space) nor starts or ends on a letter, and it looks at no more
# than the character on each side; so each window gives what the whole text would (fuzz-tested).
_PHONE_PUNCT = (
    "\\-x\u2010-\u2015\u2212\u30fc\uff0d-\uff0f \u00a0\u00ad\u200b\u2060\u3000()\uff08\uff09\uff3b\uff3d"
    ".\\[\\]/~\u2053\u223c\uff5e"
)
_PHONE_CAND_RE = re.compile(  # starts on a character class, so that `re` scans for it quickly
    r"(?:[+\uff0b][" + _PHONE_PUNCT + r"]{0,4}\d|\d(?<!\d\d))"
    r"(?:[" + _PHONE_PUNCT + r"]{0,4}\d){5,}",
    re.IGNORECASE,
)
_ASCII_DIGITS = "0123456789"
# other digits phonenumbers reads (full-width, Arabic-Indic, Persian): `c in text` is far quicker
# than a regex or a loop over a 4 KB text
_OTHER_DIGITS = "".join(chr(b + i) for b in (0xFF10, 0x0660, 0x06F0) for i in range(10))
_E164 = phonenumbers.PhoneNumberFormat.E164


def _card_ok(digits: str) -> bool:
    n = len(digits)
    if not 13 <= n <= 19:
        return False
    for plen, low, high, lengths in _CARD_RANGES:
        if n in lengths and low <= int(digits[:plen]) <= high:
            return _luhn.is_valid(digits)
    return False


def _alnum(s: str) -> str:
    return "".join(c for c in s if c.isalnum()).upper()


class Redactor:
    """Replaces personal data by `<KIND_N>` placeholders, consistently across one request."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._mapping: dict[str, str] = {}
        self._next: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._reserved: dict[str, set[int]] = {k: set() for k in KINDS}
        self._counts: dict[str, int] = {}

    # -- public API ------------------------------------------------------------------------------

    @property
    def mapping(self) -> Mapping[str, str]:
        """Placeholder -> original text (as first seen), read-only live view."""
        return MappingProxyType(self._mapping)

    @property
    def counts(self) -> dict[str, int]:
        """Occurrences replaced so far, per kind (only kinds seen). Never contains values."""
        return dict(self._counts)

    def redact(self, text: str) -> str:
        for m in _PLACEHOLDER_RE.finditer(text):  # keep placeholder-shaped text the user wrote unambiguous
            self._reserved[m.group(1)].add(int(m.group(2)))
        spans = self._detect(text)
        if not spans:
            return text
        out: list[str] = []
        pos = 0
        for start, end, kind, key in spans:
            out.append(text[pos:start])
            out.append(self._placeholder(kind, key, text[start:end]))
            self._counts[kind] = self._counts.get(kind, 0) + 1
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def restore(self, text: str) -> str:
        """Put the originals back in place of the placeholders this request handed out."""
        return restore(text, self._mapping)

    def restorer(self) -> StreamRestorer:
        """A `StreamRestorer` for this request's streamed answer (it sees the live mapping)."""
        return StreamRestorer(self._mapping)

    # -- internals -------------------------------------------------------------------------------

    def _placeholder(self, kind: str, key: str, original: str) -> str:
        ph = self._by_value.get((kind, key))
        if ph is None:
            n = self._next[kind] + 1
            while n in self._reserved[kind]:
                n += 1
            self._next[kind] = n
            ph = f"<{kind}_{n}>"
            self._by_value[(kind, key)] = ph
            self._mapping[ph] = original
        return ph

    def _detect(self, text: str) -> list[tuple[int, int, str, str]]:
        has_digit = any(d in text for d in _ASCII_DIGITS) or (
            not text.isascii() and any(d in text for d in _OTHER_DIGITS)
        )
        detectors = []
        if "@" in text:
            detectors.append(_find_emails)
        if has_digit:
            detectors += [_find_ibans, _find_nirs, _find_sirets_and_cards, _find_sirens]
            if "." in text:
                detectors.append(_find_ipv4)
        if ":" in text:
            detectors.append(_find_ipv6)
        if has_digit:
            detectors.append(_find_phones)
        found: list[tuple[int, int, str, str]] = []
        masked = text
        for detect in detectors:
            new = list(detect(masked))
            if new:
                found += new
                masked = _mask(masked, new)
        found.sort()
        kept: list[tuple[int, int, str, str]] = []
        for span in found:  # defensive: detectors work on masked text, so spans should not overlap
            if not kept or span[0] >= kept[-1][1]:
                kept.append(span)
        return kept


def _mask(text: str, spans: list[tuple[int, int, str, str]]) -> str:
    parts: list[str] = []
    pos = 0
    for start, end, _, _ in sorted(spans):
        parts.append(text[pos:start])
        parts.append(_MASK * (end - start))
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


# -- detectors: each yields (start, end, kind, normalised value) on the (masked) text ---------------


def _find_emails(text: str) -> Iterator[tuple[int, int, str, str]]:
    last_end = 0
    at = text.find("@")
    while at != -1:
        d = _DOMAIN_RE.match(text, at + 1)
        if d:
            start = at
            while start > last_end and (_word_char(text[start - 1]) or text[start - 1] in _LOCAL_CHARS):
                start -= 1
            local = text[start:at]
            if ".." in local:  # no empty dot-separated piece in a local part: keep what follows the last
                cut = local.rindex("..") + 2
                start, local = start + cut, local[cut:]
            while local.startswith("."):
                start, local = start + 1, local[1:]
            if local and not local.endswith("."):
                yield start, d.end(), "EMAIL", text[start : d.end()].lower()
                last_end = d.end()
        at = text.find("@", at + 1)


# IBAN and NIR candidates are searched one after the other: after a rejected candidate the search
# resumes one character after its start (not after its end), so that a long invalid candidate
# cannot hide a valid one that starts inside it.


def _find_ibans(text: str) -> Iterator[tuple[int, int, str, str]]:
    pos = 0
    while m := _IBAN_RE.search(text, pos):
        pos = m.start() + 1
        s = m.start() - 2
        cand = text[s : m.end()]
        # the pattern may have run into the next word or number: drop trailing space-separated
        # chunks until the checksum holds (or the candidate is too short for any IBAN)
        while len(compact := _alnum(cand)) >= 15:
            if _iban.is_valid(compact):
                yield s, s + len(cand), "IBAN", compact
                pos = s + len(cand)
                break
            cut = max(cand.rfind(" "), cand.rfind("\u00a0"), cand.rfind("\u202f"))
            if cut <= 4:
                break
            cand = cand[:cut]


def _find_nirs(text: str) -> Iterator[tuple[int, int, str, str]]:
    pos = 0
    while m := _NIR_RE.search(text, pos):
        pos = m.start() + 1
        compact = _alnum(m.group())
        if _nir.is_valid(compact):
            yield m.start(), m.end(), "NIR", compact
            pos = m.end()


def _pick(
    text: str,
    groups: list[tuple[int, int]],
    lo: int,
    hi: int,
    check: Callable[[str], bool],
    shapes: frozenset[tuple[int, ...]] | None = None,
) -> list[tuple[int, int]]:
    """In a run of digit groups, the sub-runs (first group index, last group index) that `check`
    accepts: consecutive groups of 3+ digits each (cards and SIRETs are written in groups of 3 to 6,
    never in pairs like phone numbers), lo to hi digits in all, group lengths in `shapes` if given;
    left to right, longest first."""
    picked = []
    i = 0
    while i < len(groups):
        ends = []
        total = 0
        for j in range(i, len(groups)):
            glen = groups[j][1] - groups[j][0]
            if glen < 3:
                break
            total += glen
            if total > hi:
                break
            if total >= lo:
                ends.append(j)
        for j in reversed(ends):
            if shapes is not None and tuple(e - s for s, e in groups[i : j + 1]) not in shapes:
                continue
            digits = "".join(c for c in text[groups[i][0] : groups[j][1]] if c.isdigit())
            if check(digits):
                picked.append((i, j))
                i = j
                break
        i += 1
    return picked


def _find_sirets_and_cards(text: str) -> Iterator[tuple[int, int, str, str]]:
    """SIRETs first, then cards among the groups the SIRETs left (one scan of the digit runs)."""
    for m in _RUN_RE.finditer(text):
        groups = [(g.start(), g.end()) for g in _GROUP_RE.finditer(text, m.start(), m.end())]
        rest_from = 0
        segments = []
        for i, j in _pick(text, groups, 14, 14, _siret.is_valid, _SIRET_SHAPES):
            s, e = groups[i][0], groups[j][1]
            yield s, e, "SIRET", "".join(c for c in text[s:e] if c.isdigit())
            segments.append(groups[rest_from:i])
            rest_from = j + 1
        segments.append(groups[rest_from:])
        for seg in segments:
            for i, j in _pick(text, seg, 13, 19, _card_ok):
                s, e = seg[i][0], seg[j][1]
                yield s, e, "CARD", "".join(c for c in text[s:e] if c.isdigit())


def _find_sirens(text: str) -> Iterator[tuple[int, int, str, str]]:
    low = text.lower()
    if "siren" in low or "rcs" in low:
        for m in _SIREN_RE.finditer(text):
            digits = _alnum(m.group(1))
            if _siren.is_valid(digits):
                yield m.start(1), m.end(1), "SIRET", "SIREN:" + digits


def _find_ipv4(text: str) -> Iterator[tuple[int, int, str, str]]:
    for m in _IPV4_RE.finditer(text):
        try:
            ip = ipaddress.IPv4Address(m.group())
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_unspecified or ip.is_link_local):
            yield m.start(), m.end(), "IP", str(ip)


def _find_ipv6(text: str) -> Iterator[tuple[int, int, str, str]]:
    pos = 0
    while m := _IPV6_SCAN.search(text, pos):
        pos = m.end()
        s, e = m.start(), m.end()
        while s > 0 and text[s - 1] in _HEX and m.start() - s < 4:
            s -= 1
        while e > s and text[e - 1] == ".":  # a full stop after the address
            e -= 1
        raw = text[s:e]
        if raw.count(":") < 2 or (s > 0 and (_word_char(text[s - 1]) or text[s - 1] in ":.")):
            continue
        if e < len(text) and _word_char(text[e]):
            continue
        if "::" not in raw and raw.count(":") != 7 and not (raw.count(":") == 6 and "." in raw):
            continue  # times (12:30:45), MAC addresses, dict literals...
        if not _IPV6_SHAPE.fullmatch(raw):
            continue
        try:
            ip = ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        if ip.is_loopback or ip.is_unspecified or ip.is_link_local:
            continue
        # "1::2" (a Python slice) is a valid but reserved address: ask for 3 colons or a real one
        if raw.count(":") < 3 and ip.is_reserved:
            continue
        yield s, e, "IP", str(ip)


def _may_be_phone(cand: str) -> bool:
    """Whether the matcher could find a valid number (region FR) in this digit sequence: after a
    plus, 6+ digits; otherwise, from the start of one of its digit groups (the matcher also tries
    the parts after a separator), "00" and 8+ digits, "0" and 10+, or "33" and 11+."""
    if cand[0] in "+\uff0b":
        return True  # the pattern asks for 6+ digits
    groups = _GROUP_RE.findall(cand)
    digits = "".join(groups)
    if not digits.isascii():
        digits = "".join(str(int(c)) for c in digits)
    pos = 0
    for g in groups:
        rest = digits[pos:]
        if len(rest) < 8:
            return False
        if rest[0] == "0" and (rest[1] == "0" or len(rest) >= 10):
            return True
        if rest[:2] == "33" and len(rest) >= 11:
            return True
        pos += len(g)
    return False


def _cut_letter(c: str) -> bool:
    return c.isalpha() and c not in "xX\uff58\uff38"


def _phone_windows(text: str) -> Iterator[tuple[int, int]]:
    """Windows (start, end) around the digit sequences that can be phone numbers, merged."""
    n = len(text)
    win_start, win_end = -1, -1
    for m in _PHONE_CAND_RE.finditer(text):
        if m.start() < win_end:
            continue
        if not _may_be_phone(m.group()):
            continue
        floor = text.rfind("\n", 0, m.start()) + 1
        start = m.start()
        while (i := text.rfind(" ", floor, start)) > floor:
            start = i
            if _cut_letter(text[i - 1]) and i + 1 < n and _cut_letter(text[i + 1]):
                break
        else:
            start = floor
        ceil = text.find("\n", m.end())
        ceil = n if ceil == -1 else ceil
        end = m.end()
        while (i := text.find(" ", end, ceil)) != -1:
            end = i + 1
            if i > 0 and _cut_letter(text[i - 1]) and i + 1 < n and _cut_letter(text[i + 1]):
                end = i
                break
        else:
            end = ceil
        if start <= win_end:
            win_end = end
            continue
        if win_end != -1:
            yield win_start, win_end
        win_start, win_end = start, end
    if win_end != -1:
        yield win_start, win_end


def _find_phones(text: str) -> Iterator[tuple[int, int, str, str]]:
    for ws, we in _phone_windows(text):
        window = text if (ws, we) == (0, len(text)) else text[ws:we]
        for m in phonenumbers.PhoneNumberMatcher(window, "FR", leniency=phonenumbers.Leniency.VALID):
            yield ws + m.start, ws + m.end, "PHONE", phonenumbers.format_number(m.number, _E164)


# -- restoring ------------------------------------------------------------------------------------


def restore(text: str, mapping: Mapping[str, str]) -> str:
    """Replace the placeholders of `mapping` in `text`; unknown placeholders are left as written."""
    if not mapping or "<" not in text:
        return text
    return _PLACEHOLDER_RE.sub(lambda m: mapping.get(m.group(), m.group()), text)


class StreamRestorer:
    """Restores placeholders in a streamed answer, even when one is split across chunks.

    `feed(chunk)` returns what can be shown now: everything except a tail that is still a proper
    beginning of one of `mapping`'s placeholders ("<", "<EMA", "<EMAIL_1"); `flush()` returns the
    rest at the end. Text that cannot become a known placeholder is never held back.
    """

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self._mapping = mapping
        self._held = ""

    def feed(self, chunk: str) -> str:
        buf = self._held + chunk
        self._held = ""
        cut = buf.rfind("<")
        if cut != -1:
            tail = buf[cut:]
            if ">" not in tail and any(ph.startswith(tail) for ph in self._mapping):
                self._held = tail
                buf = buf[:cut]
        return restore(buf, self._mapping)

    def flush(self) -> str:
        rest, self._held = self._held, ""
        return rest
