"""Tests for microkit.messaging._contact_filter: contact detection and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit.errors import ValidationError
from microkit.messaging._contact_filter import (
    CONTACT_KINDS,
    ContactMatch,
    find_contacts,
    redact,
)


def _found(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.text) for m in find_contacts(text)]


FLAGGED = [
    # phones
    ("call me 0912345678 now", [("phone", "0912345678")]),
    ("رقمي ٠٩١٢٣٤٥٦٧٨ للتواصل", [("phone", "٠٩١٢٣٤٥٦٧٨")]),
    ("شماره من ۰۹۱۲۳۴۵۶۷۸", [("phone", "۰۹۱۲۳۴۵۶۷۸")]),
    ("mixed digits 09١٢٣٤5678", [("phone", "09١٢٣٤5678")]),
    ("+218 91-234-5678", [("phone", "+218 91-234-5678")]),
    ("00218 (91) 234.5678", [("phone", "00218 (91) 234.5678")]),
    ("اتصل ٠٩١ ٢٣٤ ٥٦٧٨", [("phone", "٠٩١ ٢٣٤ ٥٦٧٨")]),
    ("spaced out 0 9 1 2 3 4 5 6 7", [("phone", "0 9 1 2 3 4 5 6 7")]),
    ("+966-55-123-4567.", [("phone", "+966-55-123-4567")]),
    ("seven digits 5551234", [("phone", "5551234")]),
    ("on 2026-01-01 call 0912345678", [("phone", "0912345678")]),
    # e-mails
    ("email me ahmed.ali@gmail.com.", [("email", "ahmed.ali@gmail.com")]),
    ("راسلني على ahmed_99@hotmail.co.uk", [("email", "ahmed_99@hotmail.co.uk")]),
    ("ahmed at gmail dot com", [("email", "ahmed at gmail dot com")]),
    ("ahmed [at] gmail [dot] com", [("email", "ahmed [at] gmail [dot] com")]),
    ("ahmed(at)yahoo(dot)com please", [("email", "ahmed(at)yahoo(dot)com")]),
    ("ahmed ات gmail دوت com", [("email", "ahmed ات gmail دوت com")]),
    ("ahmed @ gmail.com", [("email", "ahmed @ gmail.com")]),
    # links
    ("see https://example.com/portfolio).", [("link", "https://example.com/portfolio")]),
    ("http://wiki.org/Foo_(bar)", [("link", "http://wiki.org/Foo_(bar)")]),
    ("زر موقعي www.example.net", [("link", "www.example.net")]),
    ("visit mysite.ly", [("link", "mysite.ly")]),
    ("متجري shop.example.sa/items?id=1", [("link", "shop.example.sa/items?id=1")]),
    ("repo at tool.io, thanks", [("link", "tool.io")]),
    ("ahmed at gmail.com", [("link", "gmail.com")]),  # a bare "at" needs a spelled "dot"
    ("MySite.COM.thanks", [("link", "MySite.COM")]),
    # handles
    ("follow @ahmed_dev", [("handle", "@ahmed_dev")]),
    ("wa.me/218912345678", [("handle", "wa.me/218912345678")]),
    ("t.me/ahmed_dev", [("handle", "t.me/ahmed_dev")]),
    ("https://t.me/ahmed", [("handle", "https://t.me/ahmed")]),
    (
        "https://api.whatsapp.com/send?phone=2189",
        [("handle", "https://api.whatsapp.com/send?phone=2189")],
    ),
    ("whatsapp 0912345", [("handle", "whatsapp 0912345")]),
    ("my WhatsApp number is 0912345", [("handle", "WhatsApp number is 0912345")]),
    ("واتساب 0912345678", [("handle", "واتساب 0912345678")]),
    ("راسلني على الواتس ٠٩١٢٣٤٥٦٧٨", [("handle", "واتس ٠٩١٢٣٤٥٦٧٨")]),
    ("تلغرام @ahmed", [("handle", "تلغرام @ahmed")]),
    ("تليجرام: ahmed_99", [("handle", "تليجرام: ahmed_99")]),
    ("telegram: ahmed_99.", [("handle", "telegram: ahmed_99")]),
    # several in one message
    (
        "phone 0912345678 or mail a.b@x.com or t.me/abc_1",
        [("phone", "0912345678"), ("email", "a.b@x.com"), ("handle", "t.me/abc_1")],
    ),
]


@pytest.mark.parametrize(("text", "expected"), FLAGGED, ids=[t for t, _ in FLAGGED])
def test_contacts_are_flagged(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


CLEAN = [
    "the price is 5 USD",
    "السعر 500 دولار",
    "سأسلم خلال 3 أيام",
    "order 123456",
    "الطلب رقم 123456",
    "delivery on 2026-01-01",
    "التسليم 01/02/2026 أو ١٥.٠٣.٢٠٢٦",
    "from 2026-01-01 to 2026-01-05",
    "budget 1000-2000",
    "1.500.000 ل.س",
    "$1500000",
    "1500000 SAR",
    "١٥٠٠٠٠٠ ريال",
    "total 12500.50",
    "I worked in 2019 2020 2021",
    "version 2.0.1 at 10:30, rated 4.9",
    "1,500,000 views",
    "I'll send logo.ai, logo.psd and README.md",
    "e.g. this, i.e. that",
    "I will send via whatsapp tomorrow",
    "واتساب لا يعمل عندي",
    "look at me. Me too",
    "تواصل معي هنا على الموقع فقط",
    "meet @5pm",
    "",
]


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_messages_are_not_flagged(text: str) -> None:
    assert find_contacts(text) == []


def test_match_positions_index_the_message() -> None:
    text = "call me 0912345678 now"
    assert find_contacts(text) == [ContactMatch("phone", 8, 18, "0912345678")]


def test_email_domain_is_not_reported_again_as_link_or_handle() -> None:
    assert [m.kind for m in find_contacts("write to info@shop.example.com")] == ["email"]


@pytest.mark.parametrize(
    ("text", "mask", "expected"),
    [
        ("call 0912345678 or a@b.com", "***", "call *** or ***"),
        ("واتساب 0912345678 شكرا", "[محذوف]", "[محذوف] شكرا"),
        ("no contacts here", "***", "no contacts here"),
        ("www.x.io", "", ""),
    ],
)
def test_redact(text: str, mask: str, expected: str) -> None:
    assert redact(text, find_contacts(text), mask=mask) == expected


def test_redact_merges_overlapping_and_keeps_touching_spans_apart() -> None:
    text = "abcdefgh"
    overlapping = [ContactMatch("link", 0, 4, "abcd"), ContactMatch("phone", 2, 6, "cdef")]
    assert redact(text, overlapping) == "***gh"
    touching = [ContactMatch("link", 4, 6, "ef"), ContactMatch("phone", 0, 4, "abcd")]
    assert redact(text, touching, mask="#") == "##gh"


@pytest.mark.parametrize(
    "match",
    [ContactMatch("phone", 0, 3, "xyz"), ContactMatch("phone", 5, 12, "0912345")],
)
def test_redact_refuses_matches_of_another_text(match: ContactMatch) -> None:
    with pytest.raises(ValidationError) as info:
        redact("0912345678", [match])
    assert info.value.field == "matches"


@pytest.mark.parametrize(
    ("kind", "start", "end", "text"),
    [("fax", 0, 1, "x"), ("phone", 2, 2, ""), ("phone", -1, 0, ""), ("phone", 0, 3, "x")],
)
def test_contact_match_validates_itself(kind: str, start: int, end: int, text: str) -> None:
    with pytest.raises(ValidationError):
        ContactMatch(kind, start, end, text)


def test_non_str_is_refused() -> None:
    with pytest.raises(ValidationError):
        find_contacts(b"0912345678")  # type: ignore[arg-type]


# Inputs built to provoke regex backtracking; each must simply finish (and does, in
# about 0.1 s each, since every pattern is linear). No timing is asserted.
_N = 100_000
ADVERSARIAL = {
    "letters": "a" * _N,
    "digits": "1" * _N,
    "spaced-digits": "1 " * (_N // 2),
    "dashed-digits": "0-" * (_N // 2),
    "at-chain": "a@" * (_N // 2),
    "dot-chain": "a." * (_N // 2),
    "domain-chain": "a.com" * (_N // 5),
    "handle-chain": "@a" * (_N // 2),
    "spelled-at": "a at " * (_N // 5),
    "bracket-at": "a [at] b [dot] " * (_N // 15),
    "schemes": "http://" * (_N // 7),
    "www": "www." * (_N // 4),
    "closing-parens": "http://x" + ")" * _N,
    "open-parens": "(" * _N,
    "whitespace": "a" + " " * _N,
    "arabic-keyword": "واتس" * (_N // 4),
    "keyword-fillers": "telegram is is " * (_N // 15),
    "dates": "2026-01-" * (_N // 8),
    "plus-signs": "+ " * (_N // 2),
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=list(ADVERSARIAL))
def test_long_adversarial_messages_finish(text: str) -> None:
    matches = find_contacts(text)
    redact(text, matches)
    assert all(text[m.start : m.end] == m.text for m in matches)


def test_long_message_finds_everything() -> None:
    chunk = "مرحبا، رقمي 0912345678 وبريدي a@b.com والسعر 500 دولار. "
    matches = find_contacts(chunk * 2000)
    assert len(matches) == 4000
    assert {m.kind for m in matches} == {"phone", "email"}


def _check_invariants(text: str) -> None:
    matches = find_contacts(text)
    previous_end = 0
    for m in matches:
        assert m.kind in CONTACT_KINDS
        assert text[m.start : m.end] == m.text
        assert m.start >= previous_end  # sorted and non-overlapping
        previous_end = m.end
    redacted = redact(text, matches, mask="")
    assert len(redacted) == len(text) - sum(len(m.text) for m in matches)


@given(st.text())
def test_any_text_gives_consistent_matches(text: str) -> None:
    _check_invariants(text)


_pieces = st.sampled_from(
    [
        "0", "9", "٠", "٩", "۰", "۹", " ", "-", ".", "(", ")", "+", "00", "@", "at", " at ",
        "dot", " dot ", "[", "]", "gmail", "com", "ly", "www.", "http://", "https://", "/",
        "wa.me/", "t.me/", "whatsapp", "واتساب", "تلغرام", "ات", "دوت", "a", "_", "\n",
        "$", "USD", "دولار", "2026-01-01", "\ud800", ":",
    ]
)  # fmt: skip


@given(st.lists(_pieces, max_size=40).map("".join))
def test_contact_like_text_gives_consistent_matches(text: str) -> None:
    _check_invariants(text)
