"""Typed buttons: every kind fits Telegram's 64 bytes and parses nothing it would not pack (R14).

Every button kind the bot declares is found by importing the composition root (which imports
every feature), so a kind added later is covered without touching this file.
"""

from __future__ import annotations

import dataclasses
import string

from hypothesis import given, settings
from hypothesis import strategies as st

import app.build  # noqa: F401  (imports every feature, and so every button kind)
from bot.platform.buttons import CALLBACK_DATA_LIMIT, ButtonData, kinds

KINDS = sorted(kinds(), key=lambda k: k.prefix)
FORGED_PARTS = ["²", "٣", "1" * 30, "-1", " 1", "1 ", "", "0x10", "１", "\x00", "é", "🙂"]


def test_every_kind_is_found_and_prefixes_are_unique() -> None:
    """Several kinds exist, and no two share a prefix (a press would go to the wrong one)."""
    prefixes = [k.prefix for k in KINDS]
    assert {"f", "fr", "inc", "hd", "m", "wrn"} <= set(prefixes)
    assert len(prefixes) == len(set(prefixes))


def test_r14_the_longest_value_of_every_kind_fits_64_bytes() -> None:
    """R14: declared limits keep every packable value within Telegram's callback data limit."""
    too_long = {k.__name__: k.longest() for k in KINDS if k.longest() > CALLBACK_DATA_LIMIT}
    assert too_long == {}


@settings(max_examples=300, deadline=None)
@given(
    data=st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
)
def test_r14_random_data_is_refused_or_round_trips(data: str) -> None:
    """R14: random data parses as no kind, or as a value that packs back to the same data."""
    for kind in KINDS:
        value = kind.parse(data)
        if value is not None:
            assert value.pack() == data


def _forged(kind: type[ButtonData]) -> list[str]:
    """Data with this kind's prefix and the right number of fields, each field replaced."""
    count = len(dataclasses.fields(kind))  # type: ignore[arg-type]
    forged = []
    for part in FORGED_PARTS:
        for position in range(count):
            fields = ["0"] * count
            fields[position] = part
            forged.append(":".join([kind.prefix, *fields]))
    forged.append(kind.prefix)
    forged.append(":".join([kind.prefix, *(["1"] * (count + 1))]))
    return forged


def test_r14_unicode_digits_long_numbers_and_wrong_shapes_are_refused() -> None:
    """R14: "²", 30-digit numbers, signs, spaces, full-width digits: nothing parses."""
    for kind in KINDS:
        for data in _forged(kind):
            value = kind.parse(data)
            assert value is None or value.pack() == data, (kind.__name__, data)
        assert kind.parse(None) is None and kind.parse(b"m:report") is None  # type: ignore[arg-type]


@given(
    prefix=st.sampled_from([k.prefix for k in KINDS]),
    rest=st.lists(st.text(alphabet=string.printable + "²١", max_size=25), max_size=6),
)
@settings(max_examples=300, deadline=None)
def test_r14_any_shape_after_a_real_prefix_never_raises(prefix: str, rest: list[str]) -> None:
    """R14: whatever follows a real prefix, parsing answers a value or None, never raises."""
    data = ":".join([prefix, *rest])
    for kind in KINDS:
        value = kind.parse(data)
        if value is not None:
            assert value.pack() == data
