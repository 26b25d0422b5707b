"""A1111 prompt editing and alternation: a prompt → ``[[end_step, text], ...]``.

``[from:to:when]`` uses ``from`` up to step ``when`` and ``to`` after it, ``[to:when]`` adds
``to`` after ``when``, ``[from::when]`` removes ``from`` after ``when``; ``[a|b|c]`` cycles
through its options every step.  Constructs nest; ``(...)`` and ``[...]`` emphasis is kept
as text (it is parsed later by :func:`pipelines.prompts.parser.parse_prompt_attention`).

The result is exactly A1111's ``get_learned_conditioning_prompt_schedules``, which parses
with a lark grammar; this is a hand-written parser for the same language:

``prompt`` is a run of plain text (anything but ``\\[]():|``, or a backslash and any
character but a newline), ``(prompt)``, ``(prompt:prompt)``, ``[prompt]``,
``[prompt:prompt:N]``, ``[prompt:N]`` and ``[prompt|prompt...]`` (options may be empty).
Inside a construct everything must parse; at the top level a bracket or colon that does not
open a valid construct is kept as a literal character.  A ``|`` outside any ``[...|...]`` or a
trailing backslash makes the whole prompt unparsable, and then — as in A1111 — the prompt is
used verbatim for every step.  Nothing raises.  Where A1111's lark (Earley) parse is
ambiguous — a valid construct directly followed by stray top-level brackets, e.g. ``[a:5])`` —
its pick depends on ``PYTHONHASHSEED`` and so changes between A1111 runs; here the structured
reading (one of A1111's outcomes) is always taken.  On every other input the result was checked
identical to A1111's on tens of thousands of random and realistic prompts.

When ``N`` (a signed number: ``3``, ``.5``, ``1.``, ``1e1``) turns into a step, with the
current (non-"old") scheduling:

* first pass (``hires_steps`` is None): a number written with a ``.`` is a fraction of the
  steps (``0.25`` → ``int(0.25 * steps)``, ``1.5`` → past the end), one without is a step;
* hires pass (``hires_steps`` given): a number with a ``.`` minus 1 is the fraction of the hires
  steps (``1.5`` → half-way through hires), one without counts on from the first pass
  (``25`` with 20 base steps → hires step 5);  numbers that land before the pass give ``to``;
* ``use_old_scheduling=True`` is A1111's legacy rule: below 1 a fraction, else a step count,
  and the hires pass reuses the first pass's steps.

Each ``N`` is capped at ``steps``; only steps ≥ 1 become schedule boundaries.  A prompt whose
text changes at step ``k`` uses the first text for sampling steps ``0..k`` (A1111 compares
``current_step <= end_step`` with a 0-based step counter) — see
:func:`pipelines.prompts.stepping.schedule_index`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

# lark's common.SIGNED_NUMBER, tried in the same order (float forms first, then int).
_NUMBER = re.compile(r"[+-]?(?:\d+[eE][+-]?\d+|(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+)")
_SPACE = re.compile(r"\s+")
_PLAIN_STOP = set("\\[]():|")


@dataclass
class _Scheduled:
    before: Optional[list["_Node"]]
    after: list["_Node"]
    number: str
    when: int = 0


@dataclass
class _Alternate:
    options: list[list["_Node"]] = field(default_factory=list)


_Node = Union[str, _Scheduled, _Alternate]


class _NoParse(Exception):
    """The text at this position is not a valid construct."""


class _Parser:
    """Recursive descent over one prompt; nested constructs must be complete."""

    def __init__(self, text: str) -> None:
        self.text = text

    def peek(self, pos: int) -> str:
        return self.text[pos] if pos < len(self.text) else ""

    def plain(self, pos: int) -> int:
        """Index after the plain run starting at ``pos`` (``pos`` itself when there is none)."""
        text, end = self.text, len(self.text)
        while pos < end:
            char = text[pos]
            if char == "\\":
                if pos + 1 < end and text[pos + 1] != "\n":
                    pos += 2
                    continue
                break
            if char in _PLAIN_STOP:
                break
            pos += 1
        return pos

    def prompt(self, pos: int) -> tuple[list[_Node], int]:
        """A nested ``prompt``: stops at ``] ) : |`` or the end, raises on a bad construct."""
        nodes: list[_Node] = []
        while True:
            stop = self.plain(pos)
            if stop > pos:
                nodes.append(self.text[pos:stop])
                pos = stop
            char = self.peek(pos)
            if char in ("(", "["):
                construct, pos = self.construct(pos)
                nodes.extend(construct)
            elif char == "\\":  # a backslash that escapes nothing
                raise _NoParse
            else:
                return nodes, pos

    def construct(self, pos: int) -> tuple[list[_Node], int]:
        """The ``(...)`` or ``[...]`` construct opening at ``pos``."""
        if self.text[pos] == "(":
            inner, pos = self.prompt(pos + 1)
            nodes: list[_Node] = ["(", *inner]
            if self.peek(pos) == ":":
                second, pos = self.prompt(pos + 1)
                nodes += [":", *second]
            if self.peek(pos) != ")":
                raise _NoParse
            return [*nodes, ")"], pos + 1
        first, pos = self.prompt(pos + 1)
        char = self.peek(pos)
        if char == "]":
            return ["[", *first, "]"], pos + 1
        if char == "|":
            alternate = _Alternate([first])
            while self.peek(pos) == "|":
                option, pos = self.prompt(pos + 1)
                alternate.options.append(option)
            if self.peek(pos) != "]":
                raise _NoParse
            return [alternate], pos + 1
        if char != ":":
            raise _NoParse
        closed = self.number_close(pos + 1)
        if closed is not None:
            number, pos = closed
            return [_Scheduled(None, first, number)], pos
        second, pos = self.prompt(pos + 1)
        if self.peek(pos) != ":":
            raise _NoParse
        closed = self.number_close(pos + 1)
        if closed is None:
            raise _NoParse
        number, pos = closed
        return [_Scheduled(first, second, number)], pos

    def number_close(self, pos: int) -> Optional[tuple[str, int]]:
        """``[spaces] NUMBER [spaces] ]`` at ``pos``: the number and the index after ``]``."""
        space = _SPACE.match(self.text, pos)
        pos = space.end() if space else pos
        number = _NUMBER.match(self.text, pos)
        if number is None:
            return None
        pos = number.end()
        space = _SPACE.match(self.text, pos)
        pos = space.end() if space else pos
        if self.peek(pos) != "]":
            return None
        return number.group(0), pos + 1

    def top(self) -> Optional[list[_Node]]:
        """The whole prompt; stray ``[ ] ( ) :`` are literal here; None when unparsable."""
        nodes: list[_Node] = []
        pos, end = 0, len(self.text)
        while pos < end:
            stop = self.plain(pos)
            if stop > pos:
                nodes.append(self.text[pos:stop])
                pos = stop
                continue
            char = self.text[pos]
            if char in "([":
                try:
                    construct, pos = self.construct(pos)
                except _NoParse:
                    nodes.append(char)
                    pos += 1
                    continue
                nodes.extend(construct)
            elif char in "]):":
                nodes.append(char)
                pos += 1
            else:  # '|' outside an alternation, or a backslash escaping nothing
                return None
        return nodes


def _walk(nodes: Sequence[_Node]):
    for node in nodes:
        yield node
        if isinstance(node, _Scheduled):
            if node.before is not None:
                yield from _walk(node.before)
            yield from _walk(node.after)
        elif isinstance(node, _Alternate):
            for option in node.options:
                yield from _walk(option)


def _when(number: str, steps: int, int_offset: int, float_offset: float, old: bool) -> int:
    value = float(number)
    if old:
        value = value * steps if value < 1 else value
    elif "." in number:
        value = (value - float_offset) * steps
    else:
        value = value - int_offset
    return min(steps, int(value))


def _render(nodes: Sequence[_Node], step: int) -> str:
    parts: list[str] = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, _Scheduled):
            chosen = (node.before or []) if step <= node.when else node.after
            parts.append(_render(chosen, step))
        else:
            parts.append(_render(node.options[(step - 1) % len(node.options)], step))
    return "".join(parts)


def prompt_schedule(prompt: str, steps: int, hires_steps: Optional[int] = None,
                    use_old_scheduling: bool = False) -> list[list[int | str]]:
    """The ``[[end_step, text], ...]`` schedule of one prompt (see the module docstring)."""
    if hires_steps is None or use_old_scheduling:
        int_offset, float_offset = 0, 0.0
    else:
        int_offset, float_offset, steps = steps, 1.0, hires_steps
    try:
        nodes = _Parser(prompt).top()
        if nodes is None:
            return [[steps, prompt]]
        boundaries = {steps}
        for node in _walk(nodes):
            if isinstance(node, _Scheduled):
                node.when = _when(node.number, steps, int_offset, float_offset, use_old_scheduling)
                if node.when >= 1:
                    boundaries.add(node.when)
            elif isinstance(node, _Alternate):
                boundaries.update(range(1, steps + 1))
        return [[step, _render(nodes, step)] for step in sorted(boundaries)]
    except (RecursionError, OverflowError, ValueError):  # absurd nesting or numbers: verbatim
        return [[steps, prompt]]


def get_learned_conditioning_prompt_schedules(
    prompts: Sequence[str], steps: int, hires_steps: Optional[int] = None, use_old_scheduling: bool = False
) -> list[list[list[int | str]]]:
    """A1111's function of the same name: one schedule per prompt.

    >>> get_learned_conditioning_prompt_schedules(["a [b:c:3] d"], 10)
    [[[3, 'a b d'], [10, 'a c d']]]
    """
    cache: dict[str, list[list[int | str]]] = {}
    for prompt in prompts:
        if prompt not in cache:
            cache[prompt] = prompt_schedule(prompt, steps, hires_steps, use_old_scheduling)
    return [[list(entry) for entry in cache[prompt]] for prompt in prompts]


__all__ = ["get_learned_conditioning_prompt_schedules", "prompt_schedule"]
