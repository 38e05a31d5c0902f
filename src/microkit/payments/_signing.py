"""Stripe-style HMAC-SHA256 webhook signatures: sign a raw body, verify a signature header."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Final, NoReturn

from ..errors import ValidationError, WebhookVerificationError

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "sign", "verify"]

#: The HTTP header that carries the signature, e.g. ``t=1767225600,v1=5257a8…``.
SIGNATURE_HEADER: Final = "Microkit-Signature"

#: Seconds a signed timestamp may differ from ``now``, in either direction.
DEFAULT_TOLERANCE: Final = 300

_SCHEME: Final = "v1"
# A plain run of ASCII digits. ``int()`` alone would also take "+5", " 5", "1_0" and
# Arabic-Indic digits; the length cap keeps int() far below its 4300-digit limit.
_TIMESTAMP: Final = re.compile(r"[0-9]{1,18}")
# A SHA-256 digest in hex. Anything else can never match, and filtering it out first
# also keeps non-ASCII text away from hmac.compare_digest, which raises TypeError on it.
_HEX_DIGEST: Final = re.compile(r"[0-9a-fA-F]{64}")
_PREVIEW_CHARS: Final = 80


def sign(body: bytes, *, secret: str, timestamp: int) -> str:
    """Sign a webhook body and return the value of the :data:`SIGNATURE_HEADER` header.

    The signature is HMAC-SHA256, keyed with ``secret`` (UTF-8), over
    ``f"{timestamp}.".encode() + body``; the header value is
    ``f"t={timestamp},v1={hexdigest}"``.

    Args:
        body: The exact bytes that will be sent as the request body.
        secret: The shared webhook secret; must not be empty.
        timestamp: Unix time in whole seconds; must not be negative.

    Returns:
        The header value, e.g. ``"t=1767225600,v1=<64 hex digits>"``.

    Raises:
        ValidationError: ``body`` is not bytes, ``secret`` is empty or not a str, or
            ``timestamp`` is not a non-negative int.

    .. versionadded:: 0.1
    """
    _check_body(body)
    key = _secret_bytes(secret, field="secret")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValidationError(
            f"timestamp: expected unix seconds as a non-negative int, got {timestamp!r}",
            field="timestamp",
            value=timestamp,
        )
    return f"t={timestamp},{_SCHEME}={_digest(key, timestamp, body)}"


def verify(
    body: bytes,
    header: str | None,
    *,
    secrets: Sequence[str],
    now: int,
    tolerance: int = DEFAULT_TOLERANCE,
    gateway: str,
) -> int:
    """Check a webhook's :data:`SIGNATURE_HEADER` against its raw body.

    The header is ``t=<unix seconds>`` plus one or more ``v1=<hex>`` entries,
    comma-separated (spaces around entries are tolerated; entries of other schemes,
    such as ``v0=``, are ignored). The body is accepted if any ``v1`` signature
    equals the HMAC under any of ``secrets`` -- listing the old and the new secret
    lets a rotation proceed without dropping webhooks. Signatures are compared with
    :func:`hmac.compare_digest`. The signature is checked before the timestamp, so a
    "tolerance" error means the webhook was authentic but old or early.

    Replay protection is two-part: this function refuses timestamps more than
    ``tolerance`` seconds from ``now``, which bounds how long a captured request
    stays usable; within that window the *caller* must drop duplicates by the
    event's id (e.g. a unique key on processed event ids), because a replayed
    request is byte-for-byte valid.

    Args:
        body: The raw request body, exactly as received (before any JSON parsing).
        header: The header's value, or ``None`` when the request had none.
        secrets: Every currently valid secret, e.g. ``[new, old]`` during rotation.
        now: The current unix time in seconds (pass a clock, for testability).
        tolerance: Largest accepted ``abs(now - t)`` in seconds.
        gateway: The gateway name recorded on the error.

    Returns:
        The header's timestamp ``t``, in unix seconds.

    Raises:
        WebhookVerificationError: the header is missing or empty; the header is
            malformed (an entry without ``=``, no ``t``, several ``t``, a ``t`` that
            is not plain digits, no ``v1``); the timestamp is further than
            ``tolerance`` in the past or in the future; or no ``v1`` signature matches
            under any secret. Any str header and any bytes body lead either to a
            return or to this error.
        ValidationError: the caller's configuration is unusable: ``body`` is not
            bytes, ``secrets`` is a bare str or holds no non-empty str, or
            ``tolerance`` is negative.

    .. versionadded:: 0.1
    """
    _check_body(body)
    keys = _secret_list(secrets)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0:
        raise ValidationError(
            f"tolerance: expected a non-negative int of seconds, got {tolerance!r}",
            field="tolerance",
            value=tolerance,
        )

    timestamp, signatures = _parse(header, gateway=gateway)
    expected = [_digest(key, timestamp, body) for key in keys]
    if not any(hmac.compare_digest(e, s) for e in expected for s in signatures):
        raise WebhookVerificationError(
            f"webhook {SIGNATURE_HEADER}: no {_SCHEME} signature matches the body under "
            f"any of the {len(keys)} configured secret(s) (wrong secret, or altered body)",
            gateway=gateway,
        )
    if timestamp < now - tolerance:
        raise WebhookVerificationError(
            f"webhook {SIGNATURE_HEADER}: timestamp {timestamp} is {now - timestamp}s in "
            f"the past, outside the {tolerance}s tolerance (stale or replayed)",
            gateway=gateway,
        )
    if timestamp > now + tolerance:
        raise WebhookVerificationError(
            f"webhook {SIGNATURE_HEADER}: timestamp {timestamp} is {timestamp - now}s in "
            f"the future, outside the {tolerance}s tolerance (clock skew?)",
            gateway=gateway,
        )
    return timestamp


def _parse(header: str | None, *, gateway: str) -> tuple[int, list[str]]:
    """Split a header into its timestamp and its lower-cased hex ``v1`` signatures."""
    if header is None or (isinstance(header, str) and not header.strip()):
        got = "no header" if header is None else "an empty header"
        raise WebhookVerificationError(
            f"webhook {SIGNATURE_HEADER} header missing: expected "
            f"'t=<unix seconds>,{_SCHEME}=<hex>', got {got}",
            gateway=gateway,
        )
    if not isinstance(header, str):
        # Typed as str, but frameworks sometimes hand over bytes; refuse, don't crash.
        _malformed(f"expected a str, got {type(header).__name__}", header, gateway)

    timestamps: list[str] = []
    signatures: list[str] = []
    v1_entries = 0
    for raw in header.split(","):
        item = raw.strip()
        if not item:
            continue  # tolerate a trailing or doubled comma
        key, sep, value = item.partition("=")
        if not sep:
            _malformed(f"entry {item[:_PREVIEW_CHARS]!r} is not key=value", header, gateway)
        key = key.strip()
        value = value.strip()
        if key == "t":
            timestamps.append(value)
        elif key == _SCHEME:
            v1_entries += 1
            # A v1 entry that is not a hex digest can never match: skip it here, so
            # the outcome is "no matching signature" rather than a crash.
            if _HEX_DIGEST.fullmatch(value):
                signatures.append(value.lower())

    if not timestamps:
        _malformed("no t= timestamp", header, gateway)
    if len(timestamps) > 1:
        _malformed("more than one t= timestamp", header, gateway)
    if not _TIMESTAMP.fullmatch(timestamps[0]):
        _malformed(
            f"t={timestamps[0][:_PREVIEW_CHARS]!r} is not whole unix seconds", header, gateway
        )
    if not v1_entries:
        _malformed(f"no {_SCHEME}= signature", header, gateway)
    return int(timestamps[0]), signatures


def _malformed(reason: str, header: object, gateway: str) -> NoReturn:
    """Raise the malformed-header error; ``header`` is shortened for log safety."""
    preview = header[:_PREVIEW_CHARS] if isinstance(header, str) else header
    raise WebhookVerificationError(
        f"webhook {SIGNATURE_HEADER} header malformed: {reason}; expected "
        f"'t=<unix seconds>,{_SCHEME}=<hex>', got {preview!r}",
        gateway=gateway,
    )


def _digest(key: bytes, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 hex digest of ``f"{timestamp}."`` followed by ``body``."""
    mac = hmac.new(key, f"{timestamp}.".encode("ascii"), hashlib.sha256)
    mac.update(body)  # fed separately: no copy of a large body
    return mac.hexdigest()


def _check_body(body: object) -> None:
    """Refuse a body that is not bytes-like (typically an already decoded str)."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ValidationError(
            f"body: expected the raw request bytes, got {type(body).__name__}",
            field="body",
            value=body,
        )


def _secret_bytes(secret: object, *, field: str) -> bytes:
    """A secret as UTF-8 key bytes; an empty key would make every signature forgeable."""
    if not isinstance(secret, str) or not secret:
        raise ValidationError(
            f"{field}: expected a non-empty str, got "
            + ("an empty str" if isinstance(secret, str) else type(secret).__name__),
            field=field,
            value="<redacted>",  # never keep (part of) a secret on an error object
        )
    # surrogatepass: a str with lone surrogates still yields a deterministic key.
    return secret.encode("utf-8", "surrogatepass")


def _secret_list(secrets: object) -> list[bytes]:
    """Validate the ``secrets`` argument of :func:`verify` and encode each secret."""
    # A bare str is a Sequence[str] of characters: verify(..., secrets="whsec_x")
    # would silently try each character as a key.
    if isinstance(secrets, str | bytes) or not isinstance(secrets, Sequence) or not secrets:
        raise ValidationError(
            "secrets: expected a non-empty sequence of secret strings, "
            f"got {type(secrets).__name__}",
            field="secrets",
            value="<redacted>",
        )
    return [_secret_bytes(s, field="secrets") for s in secrets]
