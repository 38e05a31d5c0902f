"""Find and redact phone numbers, e-mails, links and messaging handles in chat messages."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

import attrs

from ..errors import ValidationError

__all__ = ["CONTACT_KINDS", "ContactMatch", "find_contacts", "redact"]

#: The values :attr:`ContactMatch.kind` can take.
CONTACT_KINDS: Final = frozenset({"phone", "email", "link", "handle"})


@attrs.frozen
class ContactMatch:
    """One piece of contact information found in a message.

    ``text`` is always ``message[start:end]`` of the message it was found in.

    .. versionadded:: 0.1
    """

    #: ``"phone"``, ``"email"``, ``"link"`` or ``"handle"``.
    kind: str
    #: Index of the first character in the message.
    start: int
    #: Index one past the last character (a slice end).
    end: int
    #: The matched characters.
    text: str

    def __attrs_post_init__(self) -> None:
        if self.kind not in CONTACT_KINDS:
            raise ValidationError(
                f"kind: expected one of {sorted(CONTACT_KINDS)}, got {self.kind!r}",
                field="kind",
                value=self.kind,
            )
        if not 0 <= self.start < self.end or len(self.text) != self.end - self.start:
            raise ValidationError(
                "start/end: expected 0 <= start < end and len(text) == end - start, got "
                f"start={self.start}, end={self.end}, len(text)={len(self.text)}",
                field="end",
                value=self.end,
            )


# Linear time: every pattern below either (a) starts with a lookbehind that admits
# only the first character of a run, so the possessive (``++``/``*+``) scan that
# follows covers each run once, or (b) cannot fail once its first characters match.
# Nothing nests an unbounded quantifier inside another over overlapping characters.

_DIGIT_CHARS: Final = "0123456789٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹"
_D: Final = "[0-9\u0660-\u0669\u06f0-\u06f9]"  # ASCII, Arabic-Indic, Persian digits
_TO_ASCII: Final = str.maketrans(_DIGIT_CHARS, "0123456789" * 3)
# What may sit between the digits of a phone number: spaces, dots, dashes, parentheses.
_SEP: Final = r"[ \t\u00a0\u202f.\-\u2010-\u2015()]"

_PHONE: Final = re.compile(rf"(?:\+[ \t\u00a0]?)?\(?{_D}(?:{_SEP}{{0,3}}{_D})*+")
_DIGIT_RUN: Final = re.compile(rf"{_D}+")
_SEP_RUN: Final = re.compile(rf"{_SEP}+")
_DATE: Final = re.compile(
    rf"(?<!{_D})(?:(?P<y1>{_D}{{4}})(?P<s1>[-./])(?P<m1>{_D}{{1,2}})(?P=s1)(?P<d1>{_D}{{1,2}})"
    rf"|(?P<a2>{_D}{{1,2}})(?P<s2>[-./])(?P<b2>{_D}{{1,2}})(?P=s2)(?P<y2>{_D}{{4}}))(?!{_D})"
)
_CURRENCY: Final = (
    r"[$€£]|(?:usd|us\$|eur|gbp|sar|lyd|aed|egp|kwd|qar|bhd|omr|jod|tnd|mad|dzd|syp|try)"
    r"(?![a-z])|ريال|دولار|دينار|جنيه|درهم|ليرة|ر\.س|د\.ل|د\.إ|ج\.م|ل\.س|د\.ك|ر\.ق|د\.أ"
)
_CURRENCY_BEFORE: Final = re.compile(rf"(?:{_CURRENCY})[\s\u00a0]*\Z", re.IGNORECASE)
_CURRENCY_AFTER: Final = re.compile(rf"[\s\u00a0]*(?:{_CURRENCY})", re.IGNORECASE)
_MIN_PHONE_DIGITS: Final = 7

_LOCAL: Final = r"[A-Za-z0-9._%+\-]"
_EMAIL: Final = re.compile(rf"(?<!{_LOCAL}){_LOCAL}++@[A-Za-z0-9.\-]++")
_TLDS: Final = (
    "com|net|org|info|biz|io|co|me|ly|sa|ae|eg|ma|dz|tn|jo|kw|qa|bh|om|iq|sy|lb|ps|sd|ye"
    "|tr|uk|de|fr|ru|app|dev|xyz|online|site|store|shop|gl|tv"
)
_OPEN: Final = r"[\[({<]"
_CLOSE: Final = r"[\])}>]"
_SPELLED_DOT: Final = (
    rf"(?:\s*+{_OPEN}\s*+(?:dot|دوت|نقطة)\s*+{_CLOSE}\s*+|\s++(?:dot|دوت|نقطة)\s++)"
)
_OBFUSCATED_EMAIL: Final = re.compile(
    rf"(?<!{_LOCAL}){_LOCAL}++(?:"
    # "[at]", "(at)" or a spaced "@": any dot will do.
    rf"(?:\s*+{_OPEN}\s*+(?:at|ات|@)\s*+{_CLOSE}\s*+|\s*+@\s*+)"
    rf"[A-Za-z0-9\-]++(?:{_SPELLED_DOT}|\.)"
    # A bare word "at" only with a spelled-out dot: "available at mysite.com" is a
    # link, and "look at me. Me too" is nothing.
    rf"|\s++(?:at|ات)\s++[A-Za-z0-9\-]++{_SPELLED_DOT}"
    rf")(?:{_TLDS})(?![A-Za-z0-9])",
    re.IGNORECASE,
)

_URL_TAIL: Final = r"""[^\s<>"']"""
_HTTP_LINK: Final = re.compile(rf"https?://{_URL_TAIL}++", re.IGNORECASE)
_WWW_LINK: Final = re.compile(rf"(?<![A-Za-z0-9.@/_\-])www\.{_URL_TAIL}++", re.IGNORECASE)
_BARE_DOMAIN: Final = re.compile(
    r"(?<![A-Za-z0-9.@/_\-])(?:[A-Za-z0-9][A-Za-z0-9\-]{0,62}+\.)+"
    rf"(?:{_TLDS})(?![A-Za-z0-9\-])(?:[/?#]{_URL_TAIL}*+)?",
    re.IGNORECASE,
)
_MESSENGER_LINK: Final = re.compile(
    r"(?:https?://(?:www\.)?|(?<![A-Za-z0-9.@/_\-])(?:www\.)?)"
    r"(?:wa\.me|t\.me|telegram\.me|telegram\.dog|(?:api|chat|web)\.whatsapp\.com)"
    rf"/{_URL_TAIL}++",
    re.IGNORECASE,
)
_URL_TRAILING: Final = ".,;:!?)]}>'\"»،؛؟…"

_AT_HANDLE: Final = re.compile(rf"(?<!{_LOCAL})@[A-Za-z_][A-Za-z0-9_.]*+")
_APP_EN: Final = (
    r"whats\s?app|watsapp|wattsapp|telegram|viber|signal|skype|snapchat|snap|instagram"
    r"|insta|facebook|messenger|wechat|discord"
)
# No left boundary: Arabic glues prefixes on (بالواتس، عالتلغرام، وواتساب).
_APP_AR: Final = (
    r"واتس(?:\s?اب)?|وتس|واتز|ت[يى]?ل[يى]?[غجقك]رام|فايبر|سكايب|سناب|[اإ]نستا|فيس\s?بوك"
    r"|م[ا]?سنجر|سيجنال"
)
_FILLER: Final = (
    r"is|number|num|no|nr|id|me|on|at|via|username|user|handle|account|acc"
    r"|رقم[يه]?|هو|على|عبر|حسابي|حساب|معرفي|معرف|يوزر|اسمي"
)
_FILLER_SEP: Final = r"[\s:=\-–—>.,،؛|]"
_KEYWORD_HANDLE: Final = re.compile(
    rf"(?:(?<![A-Za-z])(?:{_APP_EN})(?![A-Za-z])|(?:{_APP_AR})[\u0621-\u064a]{{0,6}}+)"
    rf"(?:{_FILLER_SEP}{{0,4}}(?:{_FILLER})(?![A-Za-z\u0621-\u064a])){{0,2}}"
    rf"{_FILLER_SEP}{{0,4}}"
    rf"(?:\+?{_D}(?:{_SEP}{{0,3}}{_D}){{4,}}+"  # a number of 5+ digits
    r"|@[A-Za-z0-9_][A-Za-z0-9_.]*+"  # an @handle
    r"|(?=[A-Za-z0-9_.]{0,31}[0-9_])[A-Za-z_][A-Za-z0-9_.]*+)",  # a name with a digit or _
    re.IGNORECASE,
)

# When matches overlap, the earliest start wins, then the longest, then this order:
# "wa.me/…" is both a link and a handle, and the handle is the more specific reading.
_PRIORITY: Final = {"handle": 0, "email": 1, "link": 2, "phone": 3}


def find_contacts(text: str) -> list[ContactMatch]:
    """Find contact information that would take a deal off the platform.

    Kinds detected:

    * ``"phone"`` -- a run of ASCII, Arabic-Indic (٠-٩) or Persian (۰-۹) digits, mixed
      freely, with up to three spaces, dots, dashes or parentheses between any two
      digits and an optional leading ``+``; flagged when it holds at least 7 digits,
      not counting a leading ``00`` international prefix. A candidate is *not* a
      phone when (unless it starts with ``+``) it is:

      - a date ``yyyy-mm-dd`` / ``dd-mm-yyyy`` with ``-``, ``.`` or ``/``, year 1900-2199;
      - a decimal number: a single ``.`` separator followed by at most 3 digits
        (``12500.50``);
      - thousands grouped with dots: ``1.500.000``;
      - a range ``1000-2000``: two dash-separated groups of equal length, no leading
        zero, the first smaller;
      - a list of years ``2019 2020 2021``;
      - next to a currency sign, code or name (``$``, ``USD``, ``دولار``, ``ر.س`` …).

      Prices such as ``5 USD`` and order numbers of up to 6 digits never reach 7
      digits. Commas, slashes, colons and newlines end a candidate, so ``1,500,000``
      and ``10:30`` are never phones. Numbers spelled in words are not detected, and
      thousands grouped with spaces (``1 500 000``) without a currency are flagged.
    * ``"email"`` -- ``name@domain.tld``, and spelled-out forms with a common TLD:
      ``name at gmail dot com``, ``name [at] gmail [dot] com``, ``name (at) gmail.com``,
      ``name @ gmail.com`` (spaces around ``@``), ``name ات gmail دوت com``. A bare
      word "at" counts only with a spelled-out dot, so ``available at mysite.com`` is
      a link.
    * ``"link"`` -- ``http(s)://…``, ``www.…`` and bare domains ending in a common TLD
      (``.com .net .org .io .ly .sa`` …), with an optional path. Trailing punctuation is
      not part of the link.
    * ``"handle"`` -- ``@username``; ``wa.me/…``, ``t.me/…``, ``telegram.me/…`` and
      WhatsApp links; and the name of a messaging app (WhatsApp, Telegram, Viber,
      Signal, Snapchat, Instagram …, in English or Arabic: واتساب، تلغرام …) followed,
      after at most two filler words such as ``number``/``رقمي``, by a number of 5+
      digits, an ``@handle`` or a user name containing a digit or ``_``. The match
      spans from the app's name to the end of the identifier.

    When detections overlap, the one that starts first wins, then the longer one, so
    the result never overlaps (an e-mail's domain is not reported again as a link).

    Args:
        text: The message, any str.

    Returns:
        The matches, sorted by ``start``, non-overlapping; empty if nothing was found.

    Raises:
        ValidationError: ``text`` is not a str. Never raised for a str.

    .. versionadded:: 0.1
    """
    if not isinstance(text, str):
        raise ValidationError(
            f"text: expected a str, got {type(text).__name__}", field="text", value=text
        )
    found: list[tuple[str, int, int]] = []
    found += _find_links(text)
    found += _find_emails(text)
    found += _find_handles(text)
    found += _find_phones(text)

    found.sort(key=lambda f: (f[1], -f[2], _PRIORITY[f[0]]))
    result: list[ContactMatch] = []
    last_end = 0
    for kind, start, end in found:
        if start >= last_end:
            result.append(ContactMatch(kind, start, end, text[start:end]))
            last_end = end
    return result


def redact(text: str, matches: Sequence[ContactMatch], mask: str = "***") -> str:
    """Replace every matched span of ``text`` by ``mask``.

    Overlapping spans are merged first, so each stretch of contact information becomes
    a single ``mask``; spans that merely touch each get their own.

    Args:
        text: The message the matches were found in.
        matches: Matches of ``text``, e.g. from :func:`find_contacts`, in any order.
        mask: The replacement for each merged span.

    Returns:
        ``text`` with the spans replaced; ``text`` itself when ``matches`` is empty.

    Raises:
        ValidationError: a match does not belong to ``text`` (its span is out of range
            or ``text[start:end] != match.text``), so redacting would hide the wrong
            characters.

    .. versionadded:: 0.1
    """
    spans: list[tuple[int, int]] = []
    for m in matches:
        if m.end > len(text) or text[m.start : m.end] != m.text:
            raise ValidationError(
                f"matches: expected matches of this text, got {m!r} for a text of "
                f"length {len(text)}",
                field="matches",
                value=m,
            )
        spans.append((m.start, m.end))
    spans.sort()
    pieces: list[str] = []
    pos = 0
    cur_start = cur_end = -1
    for start, end in spans:
        if start < cur_end:
            cur_end = max(cur_end, end)
            continue
        if cur_end >= 0:
            pieces += (text[pos:cur_start], mask)
            pos = cur_end
        cur_start, cur_end = start, end
    if cur_end >= 0:
        pieces += (text[pos:cur_start], mask)
        pos = cur_end
    pieces.append(text[pos:])
    return "".join(pieces)


def _trim_url(text: str, start: int, end: int) -> int:
    """End of a URL without the sentence punctuation that followed it."""
    # Counted once, not per stripped character: a URL followed by 50,000 ")" must
    # stay linear.
    opens = text.count("(", start, end)
    closes = text.count(")", start, end)
    while end > start and text[end - 1] in _URL_TRAILING:
        if text[end - 1] == ")":
            if opens >= closes:
                break  # it closes a "(" inside the URL, as in wiki/Foo_(bar)
            closes -= 1
        end -= 1
    return end


def _find_links(text: str) -> list[tuple[str, int, int]]:
    """Messenger links (as handles), http(s) and www links, and bare domains."""
    found: list[tuple[str, int, int]] = []
    for kind, pattern in (
        ("handle", _MESSENGER_LINK),
        ("link", _HTTP_LINK),
        ("link", _WWW_LINK),
        ("link", _BARE_DOMAIN),
    ):
        for m in pattern.finditer(text):
            start = m.start()
            end = _trim_url(text, start, m.end())
            # What must survive the trimming: a host after "://" or "www.".
            prefix = m.group().find("://") + 3 if pattern is _HTTP_LINK else 0
            if pattern is _WWW_LINK:
                prefix = len("www.")
            if end > start + prefix:
                found.append((kind, start, end))
    return found


def _find_emails(text: str) -> list[tuple[str, int, int]]:
    """Plain ``name@domain.tld`` addresses and spelled-out ``name at domain dot tld``."""
    found: list[tuple[str, int, int]] = []
    for m in _EMAIL.finditer(text):
        at = text.index("@", m.start())
        domain = text[at + 1 : m.end()].rstrip(".-")
        labels = domain.split(".")
        tld = labels[-1]
        if len(labels) >= 2 and all(labels) and tld.isascii() and tld.isalpha():
            found.append(("email", m.start(), at + 1 + len(domain)))
    found += [("email", m.start(), m.end()) for m in _OBFUSCATED_EMAIL.finditer(text)]
    return found


def _find_handles(text: str) -> list[tuple[str, int, int]]:
    """``@username`` and a messaging app's name followed by an identifier."""
    found: list[tuple[str, int, int]] = []
    for pattern in (_AT_HANDLE, _KEYWORD_HANDLE):
        for m in pattern.finditer(text):
            end = m.end()
            while end > m.start() and text[end - 1] == ".":  # a full stop, not the name
                end -= 1
            if pattern is _KEYWORD_HANDLE or end - m.start() >= 3:  # "@ab" at least
                found.append(("handle", m.start(), end))
    return found


def _find_phones(text: str) -> list[tuple[str, int, int]]:
    """Digit runs of 7+ digits that are not dates, prices, amounts, ranges or years."""
    # Blank dates out first (same length, so indexes stay valid) to keep
    # "2026-01-01 0912345678" from reading as one 18-digit number.
    masked = text
    dates = [m.span() for m in _DATE.finditer(text) if _is_date(m)]
    if dates:
        chars = list(text)
        for start, end in dates:
            chars[start:end] = "\0" * (end - start)
        masked = "".join(chars)
    return [
        ("phone", m.start(), m.end())
        for m in _PHONE.finditer(masked)
        if _is_phone(text, m.start(), m.end())
    ]


def _is_date(m: re.Match[str]) -> bool:
    """Whether a ``_DATE`` match holds a plausible calendar date."""
    if m["y1"] is not None:
        year, first, second = int(m["y1"]), int(m["m1"]), int(m["d1"])
        return 1900 <= year <= 2199 and 1 <= first <= 12 and 1 <= second <= 31
    year, first, second = int(m["y2"]), int(m["a2"]), int(m["b2"])
    # Day-month or month-day: both orders are in use.
    return (
        1900 <= year <= 2199 and 1 <= first <= 31 and 1 <= second <= 31 and min(first, second) <= 12
    )


def _is_phone(text: str, start: int, end: int) -> bool:
    """Apply the phone heuristics documented on :func:`find_contacts` to one candidate."""
    candidate = text[start:end].translate(_TO_ASCII)
    groups = _DIGIT_RUN.findall(candidate)
    digits = sum(map(len, groups))
    plus = candidate.startswith("+")
    if not plus and groups[0].startswith("00"):
        digits -= 2  # international prefix, like "+"
    if digits < _MIN_PHONE_DIGITS:
        return False
    if plus:
        return True
    seps = [s.strip() or " " for s in _SEP_RUN.findall(candidate.lstrip("("))]
    if len(groups) == 2 and seps == ["."] and len(groups[1]) <= 3:
        return False  # decimal number
    if (
        len(groups) >= 3
        and all(s == "." for s in seps)
        and len(groups[0]) <= 3
        and not groups[0].startswith("0")
        and all(len(g) == 3 for g in groups[1:])
    ):
        return False  # 1.500.000
    if (
        len(groups) == 2
        and seps in (["-"], ["–"])
        and len(groups[0]) == len(groups[1])
        and not groups[0].startswith("0")
        and not groups[1].startswith("0")
        and groups[0] < groups[1]  # equal lengths: string order is numeric order
    ):
        return False  # 1000-2000
    if len(groups) >= 2 and all(len(g) == 4 and g[:2] in ("19", "20") for g in groups):
        return False  # 2019 2020 2021
    before = text[max(0, start - 8) : start]
    after = text[end : end + 8]
    return not (_CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.match(after))
