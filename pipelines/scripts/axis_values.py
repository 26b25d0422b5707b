"""Axis value syntax of A1111's X/Y/Z plot: CSV lists, ranges, counts, sizes.

``"1-5"`` → 1..5, ``"1-10 (+2)"`` → every 2nd, ``"0.5-1 [3]"`` → 3 evenly spaced values,
``"a, \"b, c\""`` → two strings (CSV quoting). Items of one list may mix forms:
``"1-3, 7, 10-20 (+5)"``. Every problem raises ``ValueError`` with the offending item, so the
caller can name the axis; nothing here raises anything else.

Where A1111 misbehaves this module does what the syntax says and the docs promise: a
decreasing range without a step counts down (A1111 yields nothing), range ends are inclusive
for any step (A1111 drops the end of a decreasing stepped range and float ranges can
overshoot it), ``(2)`` is accepted like ``(+2)``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from typing import Callable, TypeVar

import numpy as np

# Refuse ranges that would expand to absurd lists ("1-100000000") before building them.
MAX_VALUES = 10_000

_INT = r"[+-]?\s*\d+"
_FLOAT = r"[+-]?\s*(?:\d+(?:\.\d*)?|\.\d+)"


def _range_pattern(number: str) -> re.Pattern[str]:
    return re.compile(
        rf"\s*(?P<start>{number})\s*-\s*(?P<end>{number})\s*"
        rf"(?:\(\s*(?P<step>{number})\s*\)|\[\s*(?P<count>\d+)\s*\])?\s*"
    )


_INT_RANGE = _range_pattern(_INT)
_FLOAT_RANGE = _range_pattern(_FLOAT)
_SIZE = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")

T = TypeVar("T", int, float)


def split_csv(text: str) -> list[str]:
    """Items of a comma-separated list, CSV quotes honoured, each stripped (A1111's reader)."""
    try:
        rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    except csv.Error as exc:
        raise ValueError(f"cannot read {text!r} as a comma-separated list: {exc}") from None
    return [item.strip() for row in rows for item in row]


def join_csv(values: list[str]) -> str:
    """The inverse of :func:`split_csv` (A1111's list_to_csv_string), for dropdown choices."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue().strip()


def _number(text: str, kind: Callable[[str], T]) -> T:
    return kind(re.sub(r"\s+", "", text))


def _count_checked(count: int, item: str) -> int:
    if count < 1:
        raise ValueError(f"{item!r} asks for {count} values")
    if count > MAX_VALUES:
        raise ValueError(f"{item!r} expands to {count} values; the limit is {MAX_VALUES}")
    return count


def _stepped(start: float, end: float, step: float, item: str) -> list[float]:
    """start, start+step, ... up to and including ``end`` (never past it)."""
    if step == 0:
        raise ValueError(f"{item!r} has a step of 0")
    if (end - start) * step < 0:
        raise ValueError(f"{item!r}: a step of {step:g} never goes from {start:g} to {end:g}")
    # A tolerance relative to the step keeps 0.1-steps from losing their last value.
    count = _count_checked(math.floor((end - start) / step + 1e-9) + 1, item)
    return [start + i * step for i in range(count)]


def _expand(item: str, pattern: re.Pattern[str], kind: Callable[[str], T]) -> list[T]:
    match = pattern.fullmatch(item)
    if match is None:
        try:
            return [_number(item, kind)]
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise ValueError(f"{item!r} is not {what} or a range like 1-5, 1-10 (+2), 0-1 [5]") from None
    start, end = _number(match["start"], kind), _number(match["end"], kind)
    if match["count"] is not None:
        count = _count_checked(int(match["count"]), item)
        # A1111 truncates evenly spaced values for whole-number axes.
        return [kind(v) for v in np.linspace(start, end, count).tolist()]
    step = _number(match["step"], kind) if match["step"] is not None else (1 if end >= start else -1)
    return [kind(v) for v in _stepped(start, end, step, item)]


def _parse_numbers(text: str, pattern: re.Pattern[str], kind: Callable[[str], T]) -> list[T]:
    values: list[T] = []
    for item in split_csv(text):
        if not item:
            raise ValueError(f"empty value in {text!r}")
        values += _expand(item, pattern, kind)
        if len(values) > MAX_VALUES:
            raise ValueError(f"{text!r} expands to more than {MAX_VALUES} values")
    if not values:
        raise ValueError("no values given")
    return values


def parse_ints(text: str) -> list[int]:
    """Whole numbers and integer ranges: ``"1-3, 7, 10-1 (-3), 1-10 [4]"``."""
    return _parse_numbers(text, _INT_RANGE, int)


def parse_floats(text: str) -> list[float]:
    """Numbers and ranges: ``"5, 7.5, 1-2 (+0.25), 0.5-1 [3]"``; rounding noise removed."""
    return [round(v, 10) for v in _parse_numbers(text, _FLOAT_RANGE, float)]


def parse_strings(text: str) -> list[str]:
    """CSV items as given; empty items are kept (an S/R replacement may be empty)."""
    values = split_csv(text)
    if not values:
        raise ValueError("no values given")
    return values


def parse_size(item: str) -> tuple[int, int]:
    """``"512x768"`` → (512, 768); also ``X`` and ``×``."""
    match = _SIZE.fullmatch(item)
    if match is None:
        raise ValueError(f"{item!r} is not a size like 512x768")
    return int(match[1]), int(match[2])


def parse_sizes(text: str) -> list[tuple[int, int]]:
    return [parse_size(item) for item in parse_strings(text)]
