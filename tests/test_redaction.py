"""The gateway's GDPR redaction: detection per kind, look-alikes left alone, consistent placeholders,
restore (whole and streamed)."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest
from stdnum import iban, luhn
from stdnum.fr import nir, siren, siret

from coderouge import secrets
from coderouge.gateway.redaction import KINDS, Redactor, StreamRestorer, restore

EMAILS = [
    "jean.dupont@example.fr",
    "x.y+tag@sub.example.co.uk",
    "élodie.martin@exemple.fr",
    "first_last-99@mail-server.example.org",
]
PHONES = [
    "06 12 34 56 78",
    "01.23.45.67.89",
    "06-12-34-56-78",
    "0612345678",
    "+33 6 12 34 56 78",
    "+33 (0)1 23 45 67 89",
    "0033 6 12 34 56 78",
    "+1 415 555 2671",
    "+44 20 7946 0958",
    "+49 30 1234567",
    "+41 44 668 18 00",
]
IBANS = [
    "FR14 2004 1010 0505 0001 3M02 606",
    "GB82 WEST 1234 5698 7654 32",
    "DE89 3704 0044 0532 0130 00",
    "GB29 NWBK 6016 1331 9268 19",
    "FR76 3000 6000 0112 3456 7890 189",
    "NL91 ABNA 0417 1643 00",
    "DE89370400440532013000",
    "fr14 2004 1010 0505 0001 3m02 606",
]
CARDS = [
    "4111 1111 1111 1111",  # Visa
    "5500 0000 0000 0004",  # Mastercard
    "3782 822463 10005",  # Amex, 4-6-5
    "4111-1111-1111-1111",
    "4111111111111111",
    "5555 5555 5555 4444",
    "2223 0000 4841 0010",  # Mastercard 2-series
    "6011 1111 1111 1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "3056 930902 5904",  # Diners, 4-6-4
]
IPS = [
    "192.168.1.10",
    "8.8.8.8",
    "203.0.113.42",
    "2001:db8::1",
    "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
    "2a01:e0a:1f2:3b40::42",
]
NIRS = [
    "2 55 08 14 168 025 38",
    "255081416802538",
    "2 95 10 99 126 111 93",
    "2 53 07 2B 073 004 70",  # Corsica
    "2 53 07 2A 073 004 43",
]
SIRETS = ["732 829 320 00074", "73282932000074", "361 234 560 00015"]


def _valid(kind: str, value: str) -> bool:
    """The examples are checked by the same libraries, so that a typo cannot make a test pass."""
    if kind == "IBAN":
        return iban.is_valid(value)
    if kind == "CARD":
        return luhn.is_valid(re.sub(r"\D", "", value))
    if kind == "NIR":
        return nir.is_valid(value)
    if kind == "SIRET":
        return siret.is_valid(value)
    if kind == "PHONE":
        return phonenumbers.is_valid_number(phonenumbers.parse(value, "FR"))
    return True


CASES = (
    [("EMAIL", v) for v in EMAILS]
    + [("PHONE", v) for v in PHONES]
    + [("IBAN", v) for v in IBANS]
    + [("CARD", v) for v in CARDS]
    + [("IP", v) for v in IPS]
    + [("NIR", v) for v in NIRS]
    + [("SIRET", v) for v in SIRETS]
)


@pytest.mark.parametrize(("kind", "value"), CASES)
def test_each_kind_is_redacted(kind, value):
    assert _valid(kind, value)
    text = f"Bonjour, voici la donnée : {value}. Merci !"
    r = Redactor()
    out = r.redact(text)
    assert out == f"Bonjour, voici la donnée : <{kind}_1>. Merci !"
    assert dict(r.mapping) == {f"<{kind}_1>": value}
    assert r.counts == {kind: 1}
    assert r.restore(out) == text


@pytest.mark.parametrize(
    "text",
    [
        "SIREN 732 829 320",
        "n° SIREN : 732829320",
        "RCS Paris 732 829 320",
        "RCS Nanterre B 404 833 048",
    ],
)
def test_siren_after_its_keyword_counts_as_siret(text):
    r = Redactor()
    out = r.redact(text)
    number = re.search(r"\d[\d ]+\d", text).group()
    assert siren.is_valid(number)
    assert out == text.replace(number, "<SIRET_1>")


def test_a_bare_siren_is_not_taken():
    # a 9-digit number passes Luhn one time in ten: without "SIREN"/"RCS" before it, it stays
    text = "Dossier 732829320 et 732 829 320 en cours."
    assert Redactor().redact(text) == text


LOOK_ALIKES = [
    "IBAN FR15 2004 1010 0505 0001 3M02 606 (wrong check digits)",
    "IBAN GB82 WEST 1234 5698 7654 33",
    "carte 4111 1111 1111 1112",
    "n° 1234 5678 9012 3456",
    "9111 1111 1111 1110 (Luhn-valid, but no card starts with 9)",
    "version 1.2.3, Python 3.11.4, release 10.5.3",
    "année 2024, en 1999, 15 000 habitants",
    "montant 1 234 567,89 € (ou 1.234.567,89 EUR), 12 500 € HT",
    "commande n° CMD-2024-000123, order 20240115-0042, ticket #48213",
    "le 15/01/2024 à 12:30:45, 2024-01-15T12:30:45Z",
    "ISBN 978-2-07-036822-8",
    "pi = 3.14159265358979; 2^31-1 = 2147483647; 1e10; 0x7fffffff",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
    "x = items[1::2]; y = a[::3]; std::vector<int>",
    "localhost 127.0.0.1, ::1, 0.0.0.0, fe80::1",
    "MAC 00:1A:2B:3C:4D:5E",
    "NIR 2 55 08 14 168 025 39 (wrong key)",
    "SIRET 732 829 320 00075 (wrong check digit)",
    "tel 06 12 34 56 7 (one digit short), +33 6 12",
    "http://example.com:8080/a?b=1, port 8080",
    "write to me at jean@localhost or user@ (no domain)",
]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_are_left_alone(text):
    r = Redactor()
    assert r.redact(text) == text
    assert r.counts == {} and dict(r.mapping) == {}


def test_invalid_examples_really_are_invalid():
    assert not iban.is_valid("FR15 2004 1010 0505 0001 3M02 606")
    assert not luhn.is_valid("4111111111111112")
    assert not luhn.is_valid("1234567890123456")
    assert luhn.is_valid("9111111111111110")
    assert not nir.is_valid("2 55 08 14 168 025 39")
    assert not siret.is_valid("732 829 320 00075")


def test_text_without_personal_data_is_returned_unchanged():
    text = (
        "Nous avons migré le service de facturation (v2.4.1) le 2024-03-01 : latence p99 de 1 234 ms "
        "à 87 ms, 12 500 requêtes/s, 3 incidents. def f(x): return x[1::2] + 0.5\n"
    ) * 30
    r = Redactor()
    assert r.redact(text) == text
    assert r.counts == {}


# -- overlaps between kinds -----------------------------------------------------------------------


def test_siret_versus_diners_card_depends_on_the_grouping():
    # 36123456000015 is a valid SIRET (Luhn on the SIRET and on its SIREN) and a Luhn-valid
    # 14-digit Diners number: written whole or as INSEE prints it, it is a SIRET; in the
    # card grouping 4-6-4 it is a card. Either way it is redacted.
    assert siret.is_valid("36123456000015") and luhn.is_valid("36123456000015")
    r = Redactor()
    out = r.redact("a 36123456000015 b 361 234 560 00015 c 3612 345600 0015")
    assert out == "a <SIRET_1> b <SIRET_1> c <CARD_1>"


def test_more_specific_kinds_win_over_cards_and_phones():
    r = Redactor()
    text = (
        "IBAN DE89370400440532013000, NIR 255081416802538, SIRET 73282932000074, "
        "mail jean.0612345678@example.fr, carte 4111 1111 1111 1111 / 06 12 34 56 78"
    )
    out = r.redact(text)
    assert out == (
        "IBAN <IBAN_1>, NIR <NIR_1>, SIRET <SIRET_1>, "
        "mail <EMAIL_1>, carte <CARD_1> / <PHONE_1>"
    )


def test_a_card_inside_a_longer_run_of_groups_is_found():
    r = Redactor()
    assert r.redact("ref 12 4111 1111 1111 1111 42 fin") == "ref 12 <CARD_1> 42 fin"


def test_a_long_invalid_iban_candidate_does_not_hide_a_valid_one():
    r = Redactor()
    text = "Ref 12345678901234 FR76 3000 6000 0112 3456 7890 189 merci"
    assert r.redact(text) == "Ref 12345678901234 <IBAN_1> merci"
    text = "IBAN FR15 2004 1010 0505 0001 3M02 606 ou GB82 WEST 1234 5698 7654 32."
    assert r.redact(text) == "IBAN FR15 2004 1010 0505 0001 3M02 606 ou <IBAN_2>."


def test_ip_addresses_in_urls():
    r = Redactor()
    out = r.redact("http://203.0.113.42:8080/x and http://[2001:db8::7]:8443/y, net 10.0.0.0/8.")
    assert out == "http://<IP_1>:8080/x and http://[<IP_2>]:8443/y, net <IP_3>/8."


def test_email_edges():
    r = Redactor()
    out = r.redact("<jean@example.fr>, mailto:marie@example.fr. (paul@example.com)")
    assert out == "<<EMAIL_1>>, mailto:<EMAIL_2>. (<EMAIL_3>)"
    assert r.mapping["<EMAIL_2>"] == "marie@example.fr"  # no trailing full stop


# -- consistency ----------------------------------------------------------------------------------


def test_same_value_same_placeholder_across_messages():
    r = Redactor()
    a = r.redact("Contact: jean.dupont@example.fr, marie@example.fr")
    b = r.redact("Again Jean.Dupont@Example.FR and jean.dupont@example.fr")
    assert a == "Contact: <EMAIL_1>, <EMAIL_2>"
    assert b == "Again <EMAIL_1> and <EMAIL_1>"
    assert r.mapping["<EMAIL_1>"] == "jean.dupont@example.fr"  # first spelling
    assert r.counts == {"EMAIL": 4}


def test_normalised_forms_share_a_placeholder():
    r = Redactor()
    out = r.redact(
        "FR14 2004 1010 0505 0001 3M02 606 = FR1420041010050500013M02606; "
        "06 12 34 56 78 = +33 6 12 34 56 78 = 0033612345678; "
        "4111 1111 1111 1111 = 4111-1111-1111-1111; "
        "2001:db8::1 = 2001:0db8:0000:0000:0000:0000:0000:0001; "
        "+44 20 7946 0958"
    )
    assert out == (
        "<IBAN_1> = <IBAN_1>; <PHONE_1> = <PHONE_1> = <PHONE_1>; <CARD_1> = <CARD_1>; "
        "<IP_1> = <IP_1>; <PHONE_2>"
    )
    assert r.mapping["<PHONE_1>"] == "06 12 34 56 78"
    assert r.counts == {"IBAN": 2, "PHONE": 4, "CARD": 2, "IP": 2}


def test_numbers_are_per_kind_and_distinct_values_get_distinct_numbers():
    r = Redactor()
    out = r.redact("a@example.fr b@example.fr 06 12 34 56 78 a@example.fr 01 23 45 67 89")
    assert out == "<EMAIL_1> <EMAIL_2> <PHONE_1> <EMAIL_1> <PHONE_2>"
    assert set(r.mapping) == {"<EMAIL_1>", "<EMAIL_2>", "<PHONE_1>", "<PHONE_2>"}


def test_counts_hold_no_values():
    r = Redactor()
    r.redact("jean@example.fr 4111 1111 1111 1111 192.168.1.10")
    counts = r.counts
    assert set(counts) <= set(KINDS)
    assert all(isinstance(v, int) for v in counts.values())
    assert "jean" not in repr(counts)


def test_placeholders_already_in_the_input_are_not_reused():
    r = Redactor()
    out = r.redact("Template: <EMAIL_1> is replaced by jean@example.fr")
    assert out == "Template: <EMAIL_1> is replaced by <EMAIL_2>"
    assert r.restore(out) == "Template: <EMAIL_1> is replaced by jean@example.fr"


# -- restore --------------------------------------------------------------------------------------


def test_restore_round_trip():
    text = (
        "Je suis Jean (jean.dupont@example.fr, 06 12 34 56 78), IBAN FR14 2004 1010 0505 0001 3M02 606, "
        "carte 3782 822463 10005, NIR 2 53 07 2B 073 004 70, SIRET 732 829 320 00074, IP 2001:db8::1 "
        "et 203.0.113.42, au Royaume-Uni +44 20 7946 0958."
    )
    r = Redactor()
    out = r.redact(text)
    for value in r.mapping.values():
        assert value not in out
    assert r.counts == {"EMAIL": 1, "PHONE": 2, "IBAN": 1, "CARD": 1, "NIR": 1, "SIRET": 1, "IP": 2}
    assert r.restore(out) == text
    assert restore(out, r.mapping) == text


def test_unknown_placeholders_are_left_as_written():
    r = Redactor()
    r.redact("jean@example.fr")
    answer = "Écrivez à <EMAIL_1>, pas à <EMAIL_9> ni <PHONE_1> ni <EMAIL_01> ni <email_1>."
    assert r.restore(answer) == (
        "Écrivez à jean@example.fr, pas à <EMAIL_9> ni <PHONE_1> ni <EMAIL_01> ni <email_1>."
    )


def _stream(restorer: StreamRestorer, chunks: list[str]) -> list[str]:
    out = [restorer.feed(c) for c in chunks]
    out.append(restorer.flush())
    return out


def test_stream_restore_with_a_placeholder_split_at_every_position():
    r = Redactor()
    r.redact("jean.dupont@example.fr, 06 12 34 56 78")
    answer = (
        "Bien sûr <EMAIL_1> ! Appelez le <PHONE_1> ou écrivez à <EMAIL_1>; <EMAIL_9> n'existe pas < ni <E."
    )
    expected = r.restore(answer)
    assert "<EMAIL_1>" not in expected and "<EMAIL_9>" in expected
    n = len(answer)
    for i in range(n + 1):  # every split in two, then every split in three
        assert "".join(_stream(r.restorer(), [answer[:i], answer[i:]])) == expected
        for j in range(i, n + 1):
            assert "".join(_stream(r.restorer(), [answer[:i], answer[i:j], answer[j:]])) == expected


def test_stream_restore_with_random_chunkings():
    r = Redactor()
    r.redact("a@example.fr b@example.fr 4111 1111 1111 1111 FR14 2004 1010 0505 0001 3M02 606")
    answer = "x <EMAIL_1> y <EMAIL_2><CARD_1><IBAN_1> <<EMAIL_1>> <IBAN_12> <CARD_1 z " * 5
    expected = r.restore(answer)
    rnd = random.Random(11)
    for _ in range(500):
        cuts = sorted(rnd.sample(range(1, len(answer)), rnd.randint(1, 40)))
        chunks = [answer[a:b] for a, b in zip([0, *cuts], [*cuts, len(answer)])]
        assert "".join(_stream(r.restorer(), chunks)) == expected
    # one character at a time
    assert "".join(_stream(r.restorer(), list(answer))) == expected


def test_stream_holds_back_only_a_possible_placeholder_start():
    r = Redactor()
    r.redact("jean@example.fr")
    s = r.restorer()
    assert s.feed("Hello ") == "Hello "  # nothing that could be a placeholder: emitted at once
    assert s.feed("<EMA") == ""  # could be <EMAIL_1>
    assert s.feed("IL_1> there") == "jean@example.fr there"
    assert s.feed("a <") == "a "  # "<" alone could still start one
    assert s.feed(" b") == "< b"
    assert s.feed("1 < 2 <E") == "1 < 2 "  # only the last "<" can start one
    assert s.feed("x <EMAIL_9") == "<Ex <EMAIL_9"  # the held "<E" goes out; no placeholder starts "<EMAIL_9"
    assert s.feed("> <PH") == "> <PH"  # no PHONE placeholder in this request
    assert s.feed("<EMAIL_1") == ""
    assert s.flush() == "<EMAIL_1"  # a cut-off placeholder at the end is given back as written
    assert s.flush() == ""


def test_stream_restorer_without_mapping_passes_everything():
    s = StreamRestorer({})
    assert s.feed("<EMA") == "<EMA"
    assert s.feed("IL_1>") == "IL_1>"
    assert s.flush() == ""


# -- not the secrets module -----------------------------------------------------------------------


def test_secrets_redaction_is_a_separate_matter():
    text = "key sk-abcdefghijklmnop and jean@example.fr"
    # coderouge.secrets removes API keys, not personal data...
    assert secrets.redact(text) == "key [REDACTED] and jean@example.fr"
    # ...and the GDPR redactor removes personal data, not API keys (nor does it use their marker)
    r = Redactor()
    assert r.redact(text) == "key sk-abcdefghijklmnop and <EMAIL_1>"
    assert "[REDACTED]" not in r.redact(text)


def test_phone_windows_find_what_the_matcher_finds_on_the_whole_text():
    # the redactor runs the phone matcher only on windows around plausible digit sequences: on
    # random mixes of numbers, words and punctuation it must find exactly what a full scan finds
    from coderouge.gateway.redaction import _find_phones

    frags = [
        "06 12 34 56 78", "01.23.45.67.89", "+33 6 12 34 56 78", "+1 415 555 2671", "0033 6 12 34 56 78",
        "33 6 12 34 56 78", "(+33) 6 12 34 56 78", "+49 30 123456", "2024-01-15", "12:30", "1 234 567,89 €",
        "version 1.2.3", "12", "tel:", "n°", "abc", "-", "/", "(", ")", "0612345678", "x", ".", ",", "le",
        "09 87 65 43 21", "ext. 12", "anexo 3", "#", "word", "numéro", "+", "33", "0", "00", "3-33",
        "０６ １２ ３４ ５６ ７８", "1234 5678 9012 3456", "%", "€", ":05", "- 503#",
    ]
    rnd = random.Random(5)
    for _ in range(400):
        text = "".join(
            rnd.choice(frags) + rnd.choice(["", " ", " ", ", ", "\n", "-"]) for _ in range(rnd.randint(1, 12))
        )
        matcher = phonenumbers.PhoneNumberMatcher(text, "FR", leniency=phonenumbers.Leniency.VALID)
        full = [(m.start, m.end) for m in matcher]
        assert [(s, e) for s, e, _, _ in _find_phones(text)] == full, text
