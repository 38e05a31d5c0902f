"""The JSON the SQL backends store records in: orjson's encoder (the ``fast`` extra)
writes what the standard library's would, and is used only where it is installed."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microkit.storage import _codec

pytest.importorskip("orjson")

STDLIB = _codec._stdlib_dumps()

#: What records and events hold once ``to_dict`` ran: JSON's own types, any int
#: (past 64 bits too), finite floats, any text (Arabic, control characters, lone
#: surrogates), nested.
scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def exponent_floats(value: Any) -> bool:
    """Whether ``value`` holds a float written with an exponent (``5.96e-08``)."""
    if isinstance(value, float):
        return "e" in repr(value)
    if isinstance(value, dict):
        return any(exponent_floats(v) for v in value.values())
    if isinstance(value, list):
        return any(exponent_floats(v) for v in value)
    return False


@given(values)
def test_the_fast_encoder_writes_what_the_standard_one_does(value: Any) -> None:
    fast, standard = _codec.dumps_json(value), STDLIB(value)
    if exponent_floats(value):  # the one difference: 5.96e-8, not 5.96e-08
        assert json.loads(fast) == json.loads(standard) == value
    else:
        assert fast == standard


def test_an_exponent_is_written_without_padding_the_same_number() -> None:
    assert _codec.dumps_json([5.960464477539063e-08]) == "[5.960464477539063e-8]"
    assert STDLIB([5.960464477539063e-08]) == "[5.960464477539063e-08]"


@given(values)
def test_what_is_written_reads_back_as_it_was(value: Any) -> None:
    assert json.loads(_codec.dumps_json(value)) == value


@pytest.mark.parametrize("value", [
    {1: "an int key"},                 # orjson takes str keys only
    {"big": 2**64},                    # past 64 bits
    ["\ud800"],                        # a lone surrogate
    {"e": pytest.importorskip("enum").Enum("E", {"A": "a"}, type=str).A},  # a str subclass
])
def test_what_orjson_would_not_write_the_same_way_the_standard_encoder_writes(
        value: Any) -> None:
    assert _codec.dumps_json(value) == STDLIB(value)


def test_enum_members_and_uuids_are_written_alike_by_both() -> None:
    import enum
    import uuid

    class Kind(enum.Enum):
        A = "a"
        B = (1, 2)

    value = {"k": Kind.A, "pair": Kind.B, "id": uuid.UUID(int=7), "ids": [uuid.UUID(int=8)]}
    assert _codec.dumps_json(value) == STDLIB(value) == (
        '{"k":"a","pair":[1,2],"id":"00000000-0000-0000-0000-000000000007",'
        '"ids":["00000000-0000-0000-0000-000000000008"]}')


def test_a_value_json_has_no_word_for_is_refused_by_both() -> None:
    class Thing:
        pass

    for encode in (_codec.dumps_json, STDLIB):
        with pytest.raises(TypeError, match="Thing"):
            encode({"a": Thing()})


def test_nan_is_the_one_difference_left() -> None:
    """Documented: microkit stores no NaN (amounts are integers)."""
    assert STDLIB([math.nan]) == "[NaN]"
    assert _codec.dumps_json([math.nan]) == "[null]"


def test_without_orjson_the_standard_encoder_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson: ImportError
    dumps = _codec._make_dumps()
    assert dumps({"a": [1, "تم"]}) == '{"a":[1,"تم"]}'
    assert dumps([math.nan]) == "[NaN]"
