"""A1111 emphasis syntax: a prompt string → ``[[text, weight], ...]``.

``(text)`` multiplies the weight of ``text`` by 1.1, ``[text]`` divides it by 1.1,
``(text:1.3)`` multiplies it by 1.3; nesting multiplies.  ``\\(``, ``\\)``, ``\\[``, ``\\]``
and ``\\\\`` are literal characters.  ``BREAK`` (a whole word, in plain text) becomes
``['BREAK', -1]``, the marker the chunker turns into a new 75-token chunk.

The output is exactly A1111's ``parse_prompt_attention`` (same merging, same float products),
including its quirks, because infotext reproducibility depends on identical weights:

* brackets left open at the end still apply to everything after them; a stray closing
  bracket with nothing open is literal text;
* ``(a:1.2)`` is only a weight inside an open ``(``; otherwise ``:1.2)`` is literal text;
* a lone backslash (not before one of ``()[]\\``) is dropped;
* ``BREAK`` inside brackets is multiplied like any fragment, so it no longer equals
  ``['BREAK', -1]`` and is encoded as the word "BREAK" (A1111 does the same);
* adjacent fragments with equal weights are merged; an empty prompt is ``[['', 1.0]]``.

One deliberate difference: A1111 raises ``ValueError`` on a weight made of digits and dots
that is not a number (``(a:1.2.3)``, ``(a:.)``); here that ``:`` is read as literal text
(as if the weight form did not match). The one prompt the parser refuses, with
:class:`PromptWeightError`, is a weight that is not a finite number (``(a:nan)``, ``(a:inf)``,
a number of 400 digits, nesting whose product overflows): it would make every image NaN.
"""

from __future__ import annotations

import math
import re

Fragment = list  # [text: str, weight: float]; a list (not a tuple) to match A1111's output

ROUND_MULTIPLIER = 1.1
SQUARE_MULTIPLIER = 1 / 1.1
BREAK_WEIGHT = -1

_ESCAPABLE = "()[]\\"
_SPECIAL = "\\()[]:"
# ":" + optional spaces + digits/dots/sign + optional spaces + ")" closes a weighted group.
_WEIGHT_CLOSE = re.compile(r":\s*([+-]?[.\d]+)\s*\)")
_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)
_NON_FINITE_CLOSE = re.compile(r":\s*([+-]?(?:nan|inf(?:inity)?))\s*\)", re.I)


class PromptWeightError(ValueError):
    """A ``(text:weight)`` whose weight is not a finite number."""


def _refuse_non_finite(text: str, pos: int) -> None:
    match = _NON_FINITE_CLOSE.match(text, pos)
    if match is not None:
        raise PromptWeightError(f"prompt weight {match.group(1)!r} in '{text[max(0, pos - 20):match.end()]}' "
                                "is not a finite number")


def _weight(text: str, pos: int) -> tuple[float, int] | None:
    """The ``:w)`` weight starting at ``pos`` and the index after it, or None."""
    match = _WEIGHT_CLOSE.match(text, pos)
    if match is None:
        return None
    try:
        return float(match.group(1)), match.end()
    except ValueError:  # "1.2.3", "." — A1111 would raise; read the ':' as text instead
        return None


def _add_plain(out: list[Fragment], text: str) -> None:
    """Append plain text, splitting it at BREAK keywords."""
    for index, part in enumerate(_BREAK.split(text)):
        if index:
            out.append(["BREAK", BREAK_WEIGHT])
        out.append([part, 1.0])


def _scale(out: list[Fragment], start: int, factor: float) -> None:
    for fragment in out[start:]:
        fragment[1] *= factor


def _merge_equal_neighbours(out: list[Fragment]) -> list[Fragment]:
    merged: list[Fragment] = []
    for fragment in out:
        if merged and merged[-1][1] == fragment[1]:
            merged[-1][0] += fragment[0]
        else:
            merged.append(fragment)
    return merged


def parse_prompt_attention(text: str) -> list[list[str | float]]:
    """Split ``text`` into ``[fragment, weight]`` pairs the way A1111 does.

    >>> parse_prompt_attention('a (b:1.5) c')
    [['a ', 1.0], ['b', 1.5], [' c', 1.0]]
    """
    out: list[Fragment] = []
    round_open: list[int] = []
    square_open: list[int] = []
    pos, end = 0, len(text)
    while pos < end:
        char = text[pos]
        if char == "\\":
            nxt = text[pos + 1] if pos + 1 < end else ""
            if nxt and nxt in _ESCAPABLE:
                out.append([nxt, 1.0])
                pos += 2
            else:
                out.append(["", 1.0])  # a lone backslash vanishes (A1111)
                pos += 1
        elif char == "(":
            round_open.append(len(out))
            pos += 1
        elif char == "[":
            square_open.append(len(out))
            pos += 1
        elif char == ":":
            weighted = _weight(text, pos)
            if round_open:
                _refuse_non_finite(text, pos)
            if weighted is not None and round_open:
                _scale(out, round_open.pop(), weighted[0])
                pos = weighted[1]
            elif weighted is not None:
                _add_plain(out, text[pos:weighted[1]])
                pos = weighted[1]
            else:
                _add_plain(out, ":")
                pos += 1
        elif char == ")" and round_open:
            _scale(out, round_open.pop(), ROUND_MULTIPLIER)
            pos += 1
        elif char == "]" and square_open:
            _scale(out, square_open.pop(), SQUARE_MULTIPLIER)
            pos += 1
        elif char in ")]":
            _add_plain(out, char)
            pos += 1
        else:
            stop = pos + 1
            while stop < end and text[stop] not in _SPECIAL:
                stop += 1
            _add_plain(out, text[pos:stop])
            pos = stop
    for start in round_open:
        _scale(out, start, ROUND_MULTIPLIER)
    for start in square_open:
        _scale(out, start, SQUARE_MULTIPLIER)
    if not out:
        return [["", 1.0]]
    for fragment, weight in out:
        if not math.isfinite(weight):
            raise PromptWeightError(f"the weight of {fragment[:40]!r} is not a finite number ({weight}): "
                                    "a weight is too large")
    return _merge_equal_neighbours(out)


__all__ = ["BREAK_WEIGHT", "PromptWeightError", "parse_prompt_attention"]
