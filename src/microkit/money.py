"""Money as integer minor units of an ISO 4217 currency, and exact allocation."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final, Literal, Self

import attrs

from .errors import CurrencyMismatch, InvalidAmount, UnknownCurrency

__all__ = ["CURRENCIES", "Currency", "Money", "RoundingMode", "currency", "percent_of"]


_EXPONENTS: Final[dict[str, int]] = {
    code: exp
    for code, exp in (
        ("USD", 2), ("EUR", 2), ("GBP", 2), ("SAR", 2), ("AED", 2), ("EGP", 2),
        ("QAR", 2), ("MAD", 2), ("DZD", 2), ("LBP", 2), ("SYP", 2), ("SDG", 2),
        ("TRY", 2), ("CHF", 2), ("CAD", 2),
        ("LYD", 3), ("KWD", 3), ("BHD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3), ("IQD", 3),
        ("JPY", 0), ("KRW", 0),
    )
}


def _unknown(code: object) -> UnknownCurrency:
    return UnknownCurrency(
        f"currency: expected an ISO 4217 code from microkit's table, got {code!r}",
        field="currency",
        value=code,
    )


@attrs.frozen(order=False)
class Currency:
    """An ISO 4217 currency: its code and how many decimal places its minor unit has.

    Only the currencies of microkit's table exist, each with the table's exponent:
    ``Currency("USD", 2)`` equals ``currency("USD")``, and ``Currency("USD", 3)`` is
    refused, so a precision from elsewhere cannot slip in.

    Raises:
        UnknownCurrency: the code is not in :data:`CURRENCIES` (``field="currency"``),
            or its exponent is not the table's (``field="exponent"``).

    .. versionadded:: 0.1
    .. versionchanged:: 0.3 Checked against the table.
    """

    #: Three-letter ISO 4217 code, e.g. ``"LYD"``.
    code: str = attrs.field()
    #: Decimal places of the minor unit: USD 2 (cents), LYD 3 (dirhams), JPY 0.
    exponent: int = attrs.field()

    @exponent.validator
    def _check(self, attribute: attrs.Attribute[int], value: int) -> None:
        code = self.code
        expected = _EXPONENTS.get(code) if isinstance(code, str) else None
        if expected is None:
            raise _unknown(code)
        if type(value) is not int or value != expected:
            raise UnknownCurrency(
                f"exponent: {code} has {expected} decimal places in microkit's ISO 4217"
                f" table, got {value!r}",
                field="exponent",
                value=value,
            )

    def __str__(self) -> str:
        return self.code


#: microkit's own exponent table; never trust a gateway's idea of precision.
CURRENCIES: Final[dict[str, Currency]] = {
    code: Currency(code, exp) for code, exp in _EXPONENTS.items()
}


def currency(code: str | Currency) -> Currency:
    """Look a currency up by code.

    Raises:
        UnknownCurrency: the code is not in :data:`CURRENCIES`.
    """
    if isinstance(code, Currency):
        return code
    try:
        return CURRENCIES[code]
    except (KeyError, TypeError):
        raise _unknown(code) from None


#: Largest amount in minor units: what a signed 64-bit column holds (PostgreSQL BIGINT).
MAX_MINOR: Final = 2**63 - 1
MAX_DIGITS: Final = len(str(MAX_MINOR))

RoundingMode = Literal["half_up", "half_even"]
_ROUNDING: Final = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN}


@attrs.frozen(order=False, repr=False)
class Money:
    """An exact amount: integer minor units and a :class:`Currency`.

    Construct with :meth:`of` from a decimal string, :class:`~decimal.Decimal`
    or int of major units, or directly as ``Money(1250, currency("USD"))`` in
    minor units. Arithmetic and comparison work within one currency only.

    Raises:
        InvalidAmount: an amount that is not an int, or beyond :data:`MAX_MINOR` minor
            units either way (what the SQL backends can store); arithmetic whose result
            would be, too.

    .. versionadded:: 0.1
    .. versionchanged:: 0.3 Amounts are bounded by :data:`MAX_MINOR`.
    """

    #: Amount in minor units (cents, dirhams).
    amount: int = attrs.field()
    #: The currency.
    currency: Currency = attrs.field(converter=currency)

    @amount.validator
    def _check_amount(self, attribute: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int:
            raise InvalidAmount(
                f"amount: expected integer minor units, got {value!r}",
                field="amount",
                value=value,
            )
        if not -MAX_MINOR <= value <= MAX_MINOR:
            raise InvalidAmount(
                f"amount: expected at most {MAX_MINOR} minor units either way, got {value!r}",
                field="amount",
                value=value,
            )

    @classmethod
    def of(cls, value: str | Decimal | int, code: str | Currency) -> Self:
        """Money from major units: ``Money.of("12.500", "LYD")`` is 12500 dirhams.

        Raises:
            InvalidAmount: a float, a non-number, or more decimals than the currency has.
            UnknownCurrency: the code is unknown.
        """
        cur = currency(code)
        if isinstance(value, bool) or not isinstance(value, str | Decimal | int):
            raise InvalidAmount(
                f"amount: expected str, Decimal or int, got {type(value).__name__} {value!r}"
                " (floats are refused: they cannot hold money exactly)",
                field="amount",
                value=value,
            )
        try:
            dec = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
        except InvalidOperation:
            raise InvalidAmount(
                f"amount: expected a decimal number, got {value!r}", field="amount", value=value
            ) from None
        if not dec.is_finite():
            raise InvalidAmount(
                f"amount: expected a finite number, got {value!r}", field="amount", value=value
            )
        # Exact integer arithmetic on the digits: Decimal arithmetic would round to the
        # context's 28 digits (or overflow) before we could notice.
        sign, digits, exponent = dec.as_tuple()
        assert isinstance(exponent, int)
        shift = exponent + cur.exponent
        if shift < 0 and any(digits[shift:]):
            raise InvalidAmount(
                f"amount: {cur.code} has {cur.exponent} decimal places, got {value!r}",
                field="amount",
                value=value,
            )
        if len(digits) + shift > MAX_DIGITS:
            raise InvalidAmount(
                f"amount: expected at most {MAX_MINOR} minor units, got {value!r}",
                field="amount",
                value=value,
            )
        magnitude = int("".join(map(str, digits)) or "0")
        minor = magnitude * 10**shift if shift >= 0 else magnitude // 10**-shift
        if minor > MAX_MINOR:
            raise InvalidAmount(
                f"amount: expected at most {MAX_MINOR} minor units, got {value!r}",
                field="amount",
                value=value,
            )
        return cls(-minor if sign else minor, cur)

    @classmethod
    def zero(cls, code: str | Currency) -> Self:
        """Zero in the given currency."""
        return cls(0, currency(code))

    # -- arithmetic ---------------------------------------------------------

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"expected Money, got {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"currency: expected {self.currency.code}, got {other.currency.code}",
                field="currency",
                value=other.currency.code,
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if type(factor) is not int:
            raise InvalidAmount(
                f"factor: expected int, got {factor!r}; use allocate() or percent_of()",
                field="factor",
                value=factor,
            )
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return self.amount != 0

    @property
    def decimal(self) -> Decimal:
        """The amount in major units, exactly."""
        return Decimal(self.amount).scaleb(-self.currency.exponent)

    def allocate(self, weights: Sequence[int]) -> list[Money]:
        """Split into parts proportional to ``weights`` that always sum to the whole.

        Largest-remainder method: each part gets the floor of its exact share,
        then the leftover minor units go one each to the parts with the
        largest fractional remainders (earliest first on ties).

        Raises:
            InvalidAmount: no weights, a negative or non-int weight, or all zero.
        """
        if not weights or any(type(w) is not int or w < 0 for w in weights) or sum(weights) == 0:
            raise InvalidAmount(
                f"weights: expected non-negative ints with a positive sum, got {list(weights)!r}",
                field="weights",
                value=list(weights),
            )
        total = sum(weights)
        sign = -1 if self.amount < 0 else 1
        whole = abs(self.amount)
        shares = [whole * w // total for w in weights]
        remainders = [whole * w % total for w in weights]
        leftover = whole - sum(shares)
        for i in sorted(range(len(weights)), key=lambda i: -remainders[i])[:leftover]:
            shares[i] += 1
        return [Money(sign * s, self.currency) for s in shares]

    def __repr__(self) -> str:
        return f"Money.of({str(self.decimal)!r}, {self.currency.code!r})"

    def __str__(self) -> str:
        return f"{self.decimal} {self.currency.code}"


def percent_of(amount: Money, rate: Decimal, rounding: RoundingMode = "half_up") -> Money:
    """``amount × rate`` rounded to whole minor units with an explicit rounding mode."""
    exact = Decimal(amount.amount) * rate
    return Money(int(exact.quantize(Decimal(1), rounding=_ROUNDING[rounding])), amount.currency)
