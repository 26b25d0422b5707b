"""A1111 prompt syntax: emphasis weights, prompt editing / alternation schedules, AND.

Expected values marked "A1111" were produced by A1111's own ``modules/prompt_parser.py``
(with lark 1.1.2, the version it pins) and recorded here; the doctests of that file are
included verbatim.  Atelier's parsers are independent implementations.
"""

from __future__ import annotations

import random

import pytest

from pipelines.prompts import (
    ComposablePromptError,
    get_learned_conditioning_prompt_schedules,
    parse_prompt_attention,
    prompt_schedule,
    single_prompt,
    split_composable,
)

# --------------------------------------------------------------------------------- A1111 tables

ATTENTION_CASES = [
    ('normal text', [['normal text', 1.0]]),
    ('an (important) word', [['an ', 1.0], ['important', 1.1], [' word', 1.0]]),
    ('(unbalanced', [['unbalanced', 1.1]]),
    ('\\(literal\\]', [['(literal]', 1.0]]),
    ('(unnecessary)(parens)', [['unnecessaryparens', 1.1]]),
    ('a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).', [['a ', 1.0], ['house', 1.5730000000000004], [' ', 1.1], ['on', 1.0], [' a ', 1.1], ['hill', 0.55], [', sun, ', 1.1], ['sky', 1.4641000000000006], ['.', 1.1]]),
    ('a (b:1.5) c', [['a ', 1.0], ['b', 1.5], [' c', 1.0]]),
    ('', [['', 1.0]]),
    ('[a]', [['a', 0.9090909090909091]]),
    ('[[a]]', [['a', 0.8264462809917354]]),
    ('((a))', [['a', 1.2100000000000002]]),
    ('(a:0.5)', [['a', 0.5]]),
    ('(a: 1.2 )', [['a', 1.2]]),
    ('(a:-1)', [['a', -1.0]]),
    ('(a:+1.5)', [['a', 1.5]]),
    ('a:1.5)', [['a:1.5)', 1.0]]),
    ('a)', [['a)', 1.0]]),
    ('a]', [['a]', 1.0]]),
    ('[a', [['a', 0.9090909090909091]]),
    ('(a[b)c]', [['a', 1.1], ['b', 1.0], ['c', 0.9090909090909091]]),
    ('[a(b]c)', [['a', 0.9090909090909091], ['b', 1.0], ['c', 1.1]]),
    ('((a:1.2):1.5)', [['a', 1.7999999999999998]]),
    ('(a (b:2) c)', [['a ', 1.1], ['b', 2.2], [' c', 1.1]]),
    ('\\\\', [['\\', 1.0]]),
    ('a\\b', [['ab', 1.0]]),
    ('a\\', [['a', 1.0]]),
    ('\\\\(a)', [['\\', 1.0], ['a', 1.1]]),
    ('a BREAK b', [['a', 1.0], ['BREAK', -1], ['b', 1.0]]),
    ('BREAK', [['', 1.0], ['BREAK', -1], ['', 1.0]]),
    ('a BREAK', [['a', 1.0], ['BREAK', -1], ['', 1.0]]),
    ('BREAK b', [['', 1.0], ['BREAK', -1], ['b', 1.0]]),
    ('aBREAKb', [['aBREAKb', 1.0]]),
    ('a BREAK BREAK b', [['a', 1.0], ['BREAK', -1], ['', 1.0], ['BREAK', -1], ['b', 1.0]]),
    ('(a BREAK b)', [['a', 1.1], ['BREAK', -1.1], ['b', 1.1]]),
    ('a,BREAK,b', [['a,', 1.0], ['BREAK', -1], [',b', 1.0]]),
    ('a\nBREAK\nb', [['a', 1.0], ['BREAK', -1], ['b', 1.0]]),
    ('(a:1)(b:1)', [['ab', 1.0]]),
    ('[a:1.5]', [['a:1.5', 0.9090909090909091]]),
    ('(a:b)', [['a:b', 1.1]]),
    ('(a::1.2)', [['a:', 1.2]]),
    ('x (y:0)', [['x ', 1.0], ['y', 0.0]]),
    ('(masterpiece:1.2), best quality, [ugly]', [['masterpiece', 1.2], [', best quality, ', 1.0], ['ugly', 0.9090909090909091]]),
    ('a ( b ) c', [['a ', 1.0], [' b ', 1.1], [' c', 1.0]]),
    ('(a)(b:1.1)', [['ab', 1.1]]),
]

SCHEDULE_CASES = [
    ('test', 10, None, False, [[10, 'test']]),
    ('a [b:3]', 10, None, False, [[3, 'a '], [10, 'a b']]),
    ('a [b: 3]', 10, None, False, [[3, 'a '], [10, 'a b']]),
    ('a [[[b]]:2]', 10, None, False, [[2, 'a '], [10, 'a [[b]]']]),
    ('[(a:2):3]', 10, None, False, [[3, ''], [10, '(a:2)']]),
    ('a [b : c : 1] d', 10, None, False, [[1, 'a b  d'], [10, 'a  c  d']]),
    ('a[b:[c:d:2]:1]e', 10, None, False, [[1, 'abe'], [2, 'ace'], [10, 'ade']]),
    ('a [unbalanced', 10, None, False, [[10, 'a [unbalanced']]),
    ('a [b:.5] c', 10, None, False, [[5, 'a  c'], [10, 'a b c']]),
    ('a [{b|d{:.5] c', 10, None, False, [[10, 'a [{b|d{:.5] c']]),
    ('((a][:b:c [d:3]', 10, None, False, [[3, '((a][:b:c '], [10, '((a][:b:c d']]),
    ('[a|(b:1.1)]', 10, None, False, [[1, 'a'], [2, '(b:1.1)'], [3, 'a'], [4, '(b:1.1)'], [5, 'a'], [6, '(b:1.1)'], [7, 'a'], [8, '(b:1.1)'], [9, 'a'], [10, '(b:1.1)']]),
    ('[fe|]male', 10, None, False, [[1, 'female'], [2, 'male'], [3, 'female'], [4, 'male'], [5, 'female'], [6, 'male'], [7, 'female'], [8, 'male'], [9, 'female'], [10, 'male']]),
    ('[fe|||]male', 10, None, False, [[1, 'female'], [2, 'male'], [3, 'male'], [4, 'male'], [5, 'female'], [6, 'male'], [7, 'male'], [8, 'male'], [9, 'female'], [10, 'male']]),
    ('a [b:.5] c', 10, 10, False, [[10, 'a b c']]),
    ('a [b:1.5] c', 10, 10, False, [[5, 'a  c'], [10, 'a b c']]),
    ('a [b:c:3] d', 10, None, False, [[3, 'a b d'], [10, 'a c d']]),
    ('fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6][ in background:0.25] [shoddy:masterful:0.5]', 100, None, False, [[25, 'fantasy landscape with a mountain and an oak in foreground shoddy'], [50, 'fantasy landscape with a lake and an oak in foreground in background shoddy'], [60, 'fantasy landscape with a lake and an oak in foreground in background masterful'], [75, 'fantasy landscape with a lake and an oak in background masterful'], [100, 'fantasy landscape with a lake and a christmas tree in background masterful']]),
    ('[a:b:0.5]', 20, None, False, [[10, 'a'], [20, 'b']]),
    ('[a:b:0.5]', 7, None, False, [[3, 'a'], [7, 'b']]),
    ('[a:b:1.5]', 10, None, False, [[10, 'a']]),
    ('[a:b:1.0]', 10, None, False, [[10, 'a']]),
    ('[a:b:1]', 10, None, False, [[1, 'a'], [10, 'b']]),
    ('[a:b:0]', 10, None, False, [[10, 'b']]),
    ('[a:b:-2]', 10, None, False, [[10, 'b']]),
    ('[a:b:25]', 10, None, False, [[10, 'a']]),
    ('[a:b:1e1]', 10, None, False, [[10, 'a']]),
    ('[a:b:.5e1]', 10, None, False, [[10, 'a']]),
    ('[a:b:+3]', 10, None, False, [[3, 'a'], [10, 'b']]),
    ('[a:b: 4 ]', 10, None, False, [[4, 'a'], [10, 'b']]),
    ('[a:b:4 ]', 10, None, False, [[4, 'a'], [10, 'b']]),
    ('[a::3]', 10, None, False, [[3, 'a'], [10, '']]),
    ('[:b:3]', 10, None, False, [[3, ''], [10, 'b']]),
    ('[::3]', 10, None, False, [[3, ''], [10, '']]),
    ('[:3]', 10, None, False, [[3, ''], [10, '']]),
    ('[a:b:0.5]', 10, None, True, [[5, 'a'], [10, 'b']]),
    ('[a:b:1.5]', 10, None, True, [[1, 'a'], [10, 'b']]),
    ('[a:b:1.0]', 10, None, True, [[1, 'a'], [10, 'b']]),
    ('[a:b:0]', 10, None, True, [[10, 'b']]),
    ('[a:b:3]', 10, 20, True, [[3, 'a'], [10, 'b']]),
    ('[a:b:25]', 20, 10, False, [[5, 'a'], [10, 'b']]),
    ('[a:b:15]', 20, 10, False, [[10, 'b']]),
    ('[a:b:1.2]', 20, 10, False, [[1, 'a'], [10, 'b']]),
    ('[a:b:0.2]', 20, 10, False, [[10, 'b']]),
    ('[a:b:3]', 20, 10, False, [[10, 'b']]),
    ('[a|b]', 4, None, False, [[1, 'a'], [2, 'b'], [3, 'a'], [4, 'b']]),
    ('[a|b|c]', 5, None, False, [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'a'], [5, 'b']]),
    ('[a||b]', 6, None, False, [[1, 'a'], [2, ''], [3, 'b'], [4, 'a'], [5, ''], [6, 'b']]),
    ('[|]', 3, None, False, [[1, ''], [2, ''], [3, '']]),
    ('[a|b]', 3, 5, False, [[1, 'a'], [2, 'b'], [3, 'a'], [4, 'b'], [5, 'a']]),
    ('x [a|[b:c:2]] y', 4, None, False, [[1, 'x a y'], [2, 'x b y'], [3, 'x a y'], [4, 'x c y']]),
    ('[a:[b|c]:2]', 4, None, False, [[1, 'a'], [2, 'a'], [3, 'b'], [4, 'c']]),
    ('[[a|b]:c:2]', 4, None, False, [[1, 'a'], [2, 'b'], [3, 'c'], [4, 'c']]),
    ('([a:b:2])', 4, None, False, [[2, '(a)'], [4, '(b)']]),
    ('[(a:1.2):b:2]', 4, None, False, [[2, '(a:1.2)'], [4, 'b']]),
    ('([a|b]:1.2)', 4, None, False, [[1, '(a:1.2)'], [2, '(b:1.2)'], [3, '(a:1.2)'], [4, '(b:1.2)']]),
    ('|', 10, None, False, [[10, '|']]),
    ('a | b', 10, None, False, [[10, 'a | b']]),
    ('[a|b', 10, None, False, [[10, '[a|b']]),
    ('a|b]', 10, None, False, [[10, 'a|b]']]),
    ('', 10, None, False, [[10, '']]),
    (' ', 10, None, False, [[10, ' ']]),
    ('[a:b:c:d]', 10, None, False, [[10, '[a:b:c:d]']]),
    ('[a:b:c:3]', 10, None, False, [[10, '[a:b:c:3]']]),
    ('(x:abc)', 10, None, False, [[10, '(x:abc)']]),
    ('(a:b:c)', 10, None, False, [[10, '(a:b:c)']]),
    ('[a:b:3:4]', 10, None, False, [[10, '[a:b:3:4]']]),
    ('[a:b:1.5.5]', 10, None, False, [[10, '[a:b:1.5.5]']]),
    ('[a:b:x]', 10, None, False, [[10, '[a:b:x]']]),
    ('[a:b:]', 10, None, False, [[10, '[a:b:]']]),
    ('[a:b:3', 10, None, False, [[10, '[a:b:3']]),
    ('a:b:3]', 10, None, False, [[10, 'a:b:3]']]),
    ('a\\[b:3\\]', 10, None, False, [[10, 'a\\[b:3\\]']]),
    ('a \\(b\\) [c:2]', 10, None, False, [[2, 'a \\(b\\) '], [10, 'a \\(b\\) c']]),
    ('a\\', 10, None, False, [[10, 'a\\']]),
    ('a\\\\', 10, None, False, [[10, 'a\\\\']]),
    ('\\[a|b\\]', 10, None, False, [[10, '\\[a|b\\]']]),
    ('[[a:3]', 10, None, False, [[3, '['], [10, '[a']]),
    ('[a:3] ]', 10, None, False, [[3, ' ]'], [10, 'a ]']]),
    ('(a [b:3]', 10, None, False, [[3, '(a '], [10, '(a b']]),
    ('[a:[b:1]:2]', 10, None, False, [[1, 'a'], [2, 'a'], [10, 'b']]),
    ('a [b|c] [d:e:5] (f:1.2)', 6, None, False, [[1, 'a b d (f:1.2)'], [2, 'a c d (f:1.2)'], [3, 'a b d (f:1.2)'], [4, 'a c d (f:1.2)'], [5, 'a b d (f:1.2)'], [6, 'a c e (f:1.2)']]),
    ('[a:b:3] BREAK [c|d]', 4, None, False, [[1, 'a BREAK c'], [2, 'a BREAK d'], [3, 'a BREAK c'], [4, 'b BREAK d']]),
    ('[a\nb:c:2]', 4, None, False, [[2, 'a\nb'], [4, 'c']]),
    ('[a:b:\n2]', 4, None, False, [[2, 'a'], [4, 'b']]),
    ('[a:b:2]', 1, None, False, [[1, 'a']]),
    ('[a|b]', 1, None, False, [[1, 'a']]),
    ('[a:b:0.5]', 1, None, False, [[1, 'b']]),
]

# A1111's doctests (modules/prompt_parser.py), verbatim.
ATTENTION_DOCTESTS = [
    ("normal text", [["normal text", 1.0]]),
    ("an (important) word", [["an ", 1.0], ["important", 1.1], [" word", 1.0]]),
    ("(unbalanced", [["unbalanced", 1.1]]),
    ("\\(literal\\]", [["(literal]", 1.0]]),
    ("(unnecessary)(parens)", [["unnecessaryparens", 1.1]]),
    ("a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
     [["a ", 1.0], ["house", 1.5730000000000004], [" ", 1.1], ["on", 1.0], [" a ", 1.1], ["hill", 0.55],
      [", sun, ", 1.1], ["sky", 1.4641000000000006], [".", 1.1]]),
]

_ALT = [[1, "a"], [2, "(b:1.1)"], [3, "a"], [4, "(b:1.1)"], [5, "a"], [6, "(b:1.1)"], [7, "a"], [8, "(b:1.1)"],
        [9, "a"], [10, "(b:1.1)"]]
SCHEDULE_DOCTESTS = [  # (prompt, steps, hires_steps, expected)
    ("test", 10, None, [[10, "test"]]),
    ("a [b:3]", 10, None, [[3, "a "], [10, "a b"]]),
    ("a [b: 3]", 10, None, [[3, "a "], [10, "a b"]]),
    ("a [[[b]]:2]", 10, None, [[2, "a "], [10, "a [[b]]"]]),
    ("[(a:2):3]", 10, None, [[3, ""], [10, "(a:2)"]]),
    ("a [b : c : 1] d", 10, None, [[1, "a b  d"], [10, "a  c  d"]]),
    ("a[b:[c:d:2]:1]e", 10, None, [[1, "abe"], [2, "ace"], [10, "ade"]]),
    ("a [unbalanced", 10, None, [[10, "a [unbalanced"]]),
    ("a [b:.5] c", 10, None, [[5, "a  c"], [10, "a b c"]]),
    ("((a][:b:c [d:3]", 10, None, [[3, "((a][:b:c "], [10, "((a][:b:c d"]]),
    ("[a|(b:1.1)]", 10, None, _ALT),
    ("[fe|]male", 10, None, [[1, "female"], [2, "male"], [3, "female"], [4, "male"], [5, "female"], [6, "male"],
                             [7, "female"], [8, "male"], [9, "female"], [10, "male"]]),
    ("[fe|||]male", 10, None, [[1, "female"], [2, "male"], [3, "male"], [4, "male"], [5, "female"], [6, "male"],
                               [7, "male"], [8, "male"], [9, "female"], [10, "male"]]),
    ("a [b:.5] c", 10, 10, [[10, "a b c"]]),
    ("a [b:1.5] c", 10, 10, [[5, "a  c"], [10, "a b c"]]),
]


# ------------------------------------------------------------------------------------ emphasis


@pytest.mark.parametrize(("text", "expected"), ATTENTION_DOCTESTS)
def test_attention_matches_a1111_doctests(text: str, expected: list) -> None:
    assert parse_prompt_attention(text) == expected


@pytest.mark.parametrize(("text", "expected"), ATTENTION_CASES)
def test_attention_matches_a1111(text: str, expected: list) -> None:
    assert parse_prompt_attention(text) == expected


def test_attention_brief_example_and_types() -> None:
    result = parse_prompt_attention("a (b:1.5) c")
    assert result == [["a ", 1.0], ["b", 1.5], [" c", 1.0]]
    assert all(isinstance(t, str) and isinstance(w, float) for t, w in result)


def test_break_inside_brackets_is_weighted_like_a1111() -> None:
    # A1111 multiplies the BREAK marker too, so inside parentheses it stops being a break.
    assert parse_prompt_attention("(a BREAK b)") == [["a", 1.1], ["BREAK", -1.1], ["b", 1.1]]


@pytest.mark.parametrize(("text", "expected"), [
    ("(a:1.2.3)", [["a:1.2.3", 1.1]]),  # A1111 raises ValueError here
    ("(a:.)", [["a:.", 1.1]]),
    ("x (a:..5) y", [["x ", 1.0], ["a:..5", 1.1], [" y", 1.0]]),
])
def test_attention_bad_weight_is_text_instead_of_an_error(text: str, expected: list) -> None:
    assert parse_prompt_attention(text) == expected


# ------------------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(("prompt", "steps", "hires", "expected"), SCHEDULE_DOCTESTS)
def test_schedule_matches_a1111_doctests(prompt: str, steps: int, hires: int | None, expected: list) -> None:
    assert get_learned_conditioning_prompt_schedules([prompt], steps, hires)[0] == expected


def test_stale_a1111_doctest_follows_the_real_grammar() -> None:
    # A1111's docstring still expects [[5, 'a  c'], [10, 'a {b|d{ c']] from before '|' became
    # alternation syntax; its current grammar cannot parse the prompt and keeps it verbatim.
    assert get_learned_conditioning_prompt_schedules(["a [{b|d{:.5] c"], 10)[0] == [[10, "a [{b|d{:.5] c"]]


@pytest.mark.parametrize(("prompt", "steps", "hires", "old", "expected"), SCHEDULE_CASES)
def test_schedule_matches_a1111(prompt: str, steps: int, hires: int | None, old: bool, expected: list) -> None:
    assert get_learned_conditioning_prompt_schedules([prompt], steps, hires, old)[0] == expected


def test_brief_example_and_batch_shape() -> None:
    assert get_learned_conditioning_prompt_schedules(["a [b:c:3] d"], 10) == [[[3, "a b d"], [10, "a c d"]]]
    result = get_learned_conditioning_prompt_schedules(["x", "a [b:2]", "x"], 4)
    assert result == [[[4, "x"]], [[2, "a "], [4, "a b"]], [[4, "x"]]]
    assert result[0] is not result[2]  # callers may mutate their copy


@pytest.mark.parametrize(("prompt", "outcomes"), [
    # A1111's lark parse of these is ambiguous and its pick changes with PYTHONHASHSEED; Atelier
    # always takes the structured reading, one of A1111's two outcomes.
    ("[a:3]]", [[[10, "[a:3]]"]], [[3, "]"], [10, "a]"]]]),
    ("[[a:1]:x]", [[[10, "[[a:1]:x]"]], [[1, "[:x]"], [10, "[a:x]"]]]),
    ("[a:5])", [[[10, "[a:5])"]], [[5, ")"], [10, "a)"]]]),
])
def test_ambiguous_prompts_take_the_structured_a1111_outcome(prompt: str, outcomes: list) -> None:
    result = prompt_schedule(prompt, 10)
    assert result in outcomes
    assert result == outcomes[1]


def test_editing_nests_inside_alternation_and_emphasis() -> None:
    assert prompt_schedule("([a|b]:1.2) [x:[y|z]:2]", 4) == [  # A1111
        [1, "(a:1.2) x"], [2, "(b:1.2) x"], [3, "(a:1.2) y"], [4, "(b:1.2) z"],
    ]


def test_old_scheduling_and_hires_rules() -> None:
    # current rule: a number with '.' is a fraction, without is a step — so 1.0 is the end
    assert prompt_schedule("[a:b:1.0]", 10) == [[10, "a"]]
    assert prompt_schedule("[a:b:1.0]", 10, use_old_scheduling=True) == [[1, "a"], [10, "b"]]
    # hires pass: integers count on from the first pass, '.' numbers above 1 are hires fractions
    assert prompt_schedule("[a:b:25]", 20, hires_steps=10) == [[5, "a"], [10, "b"]]
    assert prompt_schedule("[a:b:1.5]", 20, hires_steps=10) == [[5, "a"], [10, "b"]]
    assert prompt_schedule("[a:b:1.2]", 20, hires_steps=10) == [[1, "a"], [10, "b"]]  # int(1.99999…), as A1111
    assert prompt_schedule("[a:b:0.2]", 20, hires_steps=10) == [[10, "b"]]
    assert prompt_schedule("[a:b:3]", 20, hires_steps=10) == [[10, "b"]]


# ----------------------------------------------------------------------------- malformed input

MALFORMED = ["", " ", "|", "||", "a | b", "[", "]", "(", ")", ":", "[[[", ")))", "(x:abc)", "[a:b:c:d]",
             "[a:b:3:4]", "[a|b", "a|b]", "(a|b)", "[a:b:1|2]", "a\\", "\\", "[a\\]", "[:]", "[::]", "[a:b:]",
             "[a:b:x]", "[a:b:1e]", "[a:b:1.5.5]", "(a:1.2.3)", "(:)", "[|:|]", "BREAK", "AND", "\x00", "é (ü:1.1)"]


@pytest.mark.parametrize("prompt", MALFORMED)
def test_malformed_prompts_never_raise(prompt: str) -> None:
    schedule = prompt_schedule(prompt, 10)
    assert schedule[-1][0] == 10
    assert all(isinstance(text, str) for _, text in schedule)
    assert parse_prompt_attention(prompt)


@pytest.mark.parametrize("prompt", ["|", "a | b", "[a|b", "a\\", "[a:b:c:d]", "(x:abc) [a|b:3]"])
def test_unparsable_prompts_are_used_verbatim(prompt: str) -> None:
    assert prompt_schedule(prompt, 7) == [[7, prompt]]


def test_absurd_nesting_does_not_raise() -> None:
    deep = "[" * 3000 + "a:1" + "]" * 3000
    assert prompt_schedule(deep, 5)[-1][0] == 5
    assert parse_prompt_attention("(" * 3000 + "a" + ")" * 3000)[0][0] == "a"


def test_random_prompts_never_raise() -> None:
    rng = random.Random(1234)
    alphabet = list("ab [](): |1.5\\,\n") + ["BREAK", "AND", "0", "-", "e", ":1.2)", "[x|y]", "(z:1.3)", "::"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        steps = rng.choice([1, 2, 10, 30])
        hires, old = rng.choice([None, 5]), rng.random() < 0.2
        schedule = get_learned_conditioning_prompt_schedules([text], steps, hires, old)[0]
        ends = [step for step, _ in schedule]
        last = hires if hires is not None and not old else steps
        assert ends == sorted(set(ends)) and ends[-1] == last and ends[0] >= 1
        fragments = parse_prompt_attention(text)
        assert fragments and all(isinstance(t, str) and isinstance(w, float | int) for t, w in fragments)
        split_composable(text)


# ---------------------------------------------------------------------------------------- AND


def test_and_splits_like_a1111() -> None:
    assert split_composable("a cat AND a dog:1.5 AND x") == [("a cat", 1.0), (" a dog", 1.5), (" x", 1.0)]
    assert split_composable("BRANDY and ANDY") == [("BRANDY and ANDY", 1.0)]
    assert split_composable("a cat :0.7 ") == [("a cat", 0.7)]


def test_single_prompt_rejects_and_with_a_clear_message() -> None:
    with pytest.raises(ComposablePromptError, match="AND"):
        single_prompt("a cat AND a dog")
    assert isinstance(ComposablePromptError("x"), ValueError)
    part = single_prompt("a [cat:dog:3], (red:1.2)")
    assert (part.text, part.weight) == ("a [cat:dog:3], (red:1.2)", 1.0)
    assert single_prompt("a cat:2").weight == 2.0
