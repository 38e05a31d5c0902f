"""Tests for microkit.payments._signing: Stripe-style webhook signatures."""

from __future__ import annotations

import contextlib
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit.errors import ValidationError, WebhookVerificationError
from microkit.payments._signing import SIGNATURE_HEADER, sign, verify

SECRET = "whsec_new"
OLD_SECRET = "whsec_old"
NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
BODY = b'{"id":"evt_1","type":"payment.succeeded","amount":1500}'


def _verify(body: bytes, header: str | None, **kw: object) -> int:
    args: dict[str, object] = {"secrets": [SECRET], "now": NOW, "gateway": "test"}
    args.update(kw)
    return verify(body, header, **args)  # type: ignore[arg-type]


def test_header_name() -> None:
    assert SIGNATURE_HEADER == "Microkit-Signature"


def test_sign_matches_the_documented_construction() -> None:
    digest = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, secret=SECRET, timestamp=NOW) == f"t={NOW},v1={digest}"


def test_valid_signature_returns_timestamp() -> None:
    assert _verify(BODY, sign(BODY, secret=SECRET, timestamp=NOW)) == NOW


def test_empty_body_round_trips() -> None:
    assert _verify(b"", sign(b"", secret=SECRET, timestamp=NOW)) == NOW


@pytest.mark.parametrize(
    ("body", "header_secret", "secrets"),
    [
        pytest.param(BODY, SECRET, [SECRET, OLD_SECRET], id="new-secret-during-rotation"),
        pytest.param(BODY, OLD_SECRET, [SECRET, OLD_SECRET], id="old-secret-during-rotation"),
        pytest.param(BODY, OLD_SECRET, [OLD_SECRET], id="old-secret-alone"),
    ],
)
def test_rotated_secrets_are_all_accepted(
    body: bytes, header_secret: str, secrets: list[str]
) -> None:
    header = sign(body, secret=header_secret, timestamp=NOW)
    assert _verify(body, header, secrets=secrets) == NOW


def test_any_of_several_v1_entries_may_match() -> None:
    old = sign(BODY, secret=OLD_SECRET, timestamp=NOW).split(",")[1]
    new = sign(BODY, secret=SECRET, timestamp=NOW).split(",")[1]
    assert _verify(BODY, f"t={NOW},{old},{new}") == NOW
    assert _verify(BODY, f"t={NOW},{new},{old}", secrets=[OLD_SECRET]) == NOW


def test_header_tolerates_spaces_uppercase_hex_and_unknown_schemes() -> None:
    sig = sign(BODY, secret=SECRET, timestamp=NOW).split("v1=")[1]
    assert _verify(BODY, f" t={NOW} , v0=abc , v1={sig.upper()} ,") == NOW


def test_timestamp_in_header_is_signed() -> None:
    # Moving t forward to dodge the tolerance window breaks the signature.
    header = sign(BODY, secret=SECRET, timestamp=NOW - 3600)
    forged = header.replace(f"t={NOW - 3600}", f"t={NOW}")
    with pytest.raises(WebhookVerificationError, match="no v1 signature matches"):
        _verify(BODY, forged)


@pytest.mark.parametrize(
    ("body", "signed_with", "secrets"),
    [
        pytest.param(BODY.replace(b"1500", b"9500"), SECRET, [SECRET], id="tampered-body"),
        pytest.param(BODY[:-1], SECRET, [SECRET], id="truncated-body"),
        pytest.param(BODY + b"\n", SECRET, [SECRET], id="extended-body"),
        pytest.param(BODY, "whsec_attacker", [SECRET, OLD_SECRET], id="wrong-secret"),
        pytest.param(BODY, OLD_SECRET, [SECRET], id="retired-secret"),
    ],
)
def test_signature_mismatch_is_refused(body: bytes, signed_with: str, secrets: list[str]) -> None:
    header = sign(BODY, secret=signed_with, timestamp=NOW)
    with pytest.raises(WebhookVerificationError, match="no v1 signature matches") as info:
        _verify(body, header, secrets=secrets)
    assert info.value.gateway == "test"


@pytest.mark.parametrize(
    ("signed_at", "outcome"),
    [
        pytest.param(NOW - 300, NOW - 300, id="oldest-accepted"),
        pytest.param(NOW + 300, NOW + 300, id="newest-accepted"),
        pytest.param(NOW - 301, "in the past", id="stale"),
        pytest.param(NOW - 86_400, "in the past", id="replayed-a-day-later"),
        pytest.param(NOW + 301, "in the future", id="future"),
        pytest.param(0, "in the past", id="epoch"),
    ],
)
def test_tolerance_window(signed_at: int, outcome: int | str) -> None:
    header = sign(BODY, secret=SECRET, timestamp=signed_at)
    if isinstance(outcome, int):
        assert _verify(BODY, header) == outcome
    else:
        with pytest.raises(WebhookVerificationError, match=f"{outcome}.*tolerance"):
            _verify(BODY, header)


def test_custom_tolerance() -> None:
    header = sign(BODY, secret=SECRET, timestamp=NOW - 10)
    assert _verify(BODY, header, tolerance=10) == NOW - 10
    with pytest.raises(WebhookVerificationError, match="outside the 9s tolerance"):
        _verify(BODY, header, tolerance=9)


GOOD_SIG = sign(BODY, secret=SECRET, timestamp=NOW).split(",")[1]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        pytest.param(None, "missing.*no header", id="none"),
        pytest.param("", "missing.*empty header", id="empty"),
        pytest.param("   ", "missing.*empty header", id="blank"),
        pytest.param("garbage", "malformed.*not key=value", id="garbage"),
        pytest.param(",,,", "malformed.*no t= timestamp", id="only-commas"),
        pytest.param(GOOD_SIG, "malformed.*no t= timestamp", id="missing-t"),
        pytest.param(f"t={NOW}", "malformed.*no v1= signature", id="missing-v1"),
        pytest.param(f"t={NOW},v0=abc", "malformed.*no v1= signature", id="only-v0"),
        pytest.param(f"t=soon,{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-word"),
        pytest.param(f"t=,{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-empty"),
        pytest.param(f"t=-5,{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-negative"),
        pytest.param(f"t=1.5,{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-float"),
        pytest.param(f"t=+{NOW},{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-plus"),
        pytest.param(f"t=1_767,{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-underscore"),
        pytest.param(f"t=١٧٦٧,{GOOD_SIG}", "malformed.*not whole unix seconds", id="t-arabic"),
        pytest.param(f"t={'9' * 5000},{GOOD_SIG}", "malformed.*not whole", id="t-huge"),
        pytest.param(f"t={NOW},t={NOW},{GOOD_SIG}", "malformed.*more than one t=", id="two-t"),
        pytest.param(f"t={NOW},v1=nothex", "no v1 signature matches", id="v1-not-hex"),
        pytest.param(f"t={NOW},v1=", "no v1 signature matches", id="v1-empty"),
        pytest.param(f"t={NOW},v1=é{GOOD_SIG[4:]}", "no v1 signature matches", id="v1-non-ascii"),
        pytest.param(f"t={NOW},{GOOD_SIG[:-2]}", "no v1 signature matches", id="v1-truncated"),
    ],
)
def test_malformed_headers(header: str | None, message: str) -> None:
    with pytest.raises(WebhookVerificationError, match=message) as info:
        _verify(BODY, header)
    assert info.value.gateway == "test"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"secrets": []}, "secrets", id="no-secrets"),
        pytest.param({"secrets": SECRET}, "secrets", id="bare-str-secrets"),
        pytest.param({"secrets": [SECRET, ""]}, "secrets", id="empty-secret"),
        pytest.param({"tolerance": -1}, "tolerance", id="negative-tolerance"),
    ],
)
def test_verify_refuses_bad_configuration(kwargs: dict[str, object], field: str) -> None:
    header = sign(BODY, secret=SECRET, timestamp=NOW)
    with pytest.raises(ValidationError) as info:
        _verify(BODY, header, **kwargs)
    assert info.value.field == field
    assert SECRET not in str(info.value)  # secrets never end up in messages


def test_verify_refuses_a_decoded_body() -> None:
    header = sign(BODY, secret=SECRET, timestamp=NOW)
    with pytest.raises(ValidationError) as info:
        _verify(BODY.decode(), header)  # type: ignore[arg-type]
    assert info.value.field == "body"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"secret": "", "timestamp": NOW}, "secret", id="empty-secret"),
        pytest.param({"secret": SECRET, "timestamp": -1}, "timestamp", id="negative-t"),
        pytest.param({"secret": SECRET, "timestamp": 1.5}, "timestamp", id="float-t"),
        pytest.param({"secret": SECRET, "timestamp": True}, "timestamp", id="bool-t"),
    ],
)
def test_sign_refuses_bad_arguments(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        sign(BODY, **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_bytearray_and_memoryview_bodies() -> None:
    header = sign(BODY, secret=SECRET, timestamp=NOW)
    assert _verify(bytearray(BODY), header) == NOW  # type: ignore[arg-type]
    assert _verify(memoryview(BODY), header) == NOW  # type: ignore[arg-type]


@given(header=st.text(), body=st.binary())
def test_verify_raises_only_webhook_errors_for_any_header(header: str, body: bytes) -> None:
    with contextlib.suppress(WebhookVerificationError):
        _verify(body, header)


_pieces = st.sampled_from(
    ["t=", "v1=", "v0=", ",", "=", " ", str(NOW), "-1", "é", "\x00", "\ud800", GOOD_SIG, "٣"]
)


@given(header=st.lists(st.one_of(_pieces, st.text(max_size=5))).map("".join))
def test_verify_raises_only_webhook_errors_for_header_like_text(header: str) -> None:
    with contextlib.suppress(WebhookVerificationError):
        _verify(BODY, header)


@given(body=st.binary(), secret=st.text(min_size=1), timestamp=st.integers(0, 2**40))
def test_sign_verify_round_trip(body: bytes, secret: str, timestamp: int) -> None:
    header = sign(body, secret=secret, timestamp=timestamp)
    assert _verify(body, header, secrets=[secret], now=timestamp) == timestamp
