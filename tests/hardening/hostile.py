"""A seeded generator of hostile texts for the URL-state and selection-expression parsers.

``make_texts(seed, n)`` draws ``n`` strings, cycling through kinds of trouble: random bytes
decoded with ``errors="replace"``, huge and long numbers (>= 2^64, past Python's 4,300-digit
``int()`` limit, ``1e999``, NaN and inf words), Unicode digits, deep or unbalanced nesting, long
texts around the parsers' limits, control and invisible characters, HTML and script payloads,
and valid expressions with random edits (the edits reach the evaluator, not only the tokenizer).
Same seed, same texts: a failure can be replayed from its index.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from data.query import MAX_LENGTH, MAX_NUMBER_LENGTH, MAX_VERTICES

#: Valid expressions over ``fuzz_catalog``'s columns, the seeds of the edited texts.
VALID = (
    "binary_prob > 0.9",
    "binary_prob >= 0.5 and x < 3 or not flag",
    "pop in ['young', 'giant'] and split == 'train'",
    "row not in [1, 2, 3]",
    "box(x, y, 0, 2, -1e3, 1e3)",
    "lasso(x, y, [(0, 0), (3, 0), (0, 3)])",
    "similar(1, 3) or similar(pop == 'young', 2)",
    "not (x > -1.5e-3 and (y < 2 or pop != 'it\\'s'))",
)
#: Characters and tokens the edits insert: grammar, near-grammar and trouble.
PIECES = (
    *"()[],'\"\\-+.eE0123456789 =<>!&|~#;_",
    " and ",
    " or ",
    "not ",
    " in ",
    "==",
    "box(",
    "lasso(",
    "similar(",
    "true",
    "nan",
    "inf",
    str(2**64),
    "9" * 5000,
    "1e999",
    "\x00",
    "\u00b2",
    "\u0663",
    "\u202e",
    "<img src=x onerror=alert(1)>",
)
UNICODE_DIGITS = "\u00b2\u00b3\u00b9\u00bd\u0660\u0663\u06f3\u0969\u09e9\uff13\U0001d7d8\u2167\u2463\u3007"
CONTROL = "".join(map(chr, range(32))) + "\x7f\x85\xa0\u2028\u2029\u200b\u200e\u202e\ufeff\ufffd"
PAYLOADS = (
    '<img src=x onerror="window.__pwned=1">',
    "<script>window.__pwned=1</script>",
    '"><svg onload=window.__pwned=1>',
    "[click](javascript:alert(1))",
    "**bold** `code` $x$",
)
PREFIXES = (
    "",
    "binary_prob > ",
    "x < -",
    "row in [",
    "similar(",
    "box(x, y, ",
    "lasso(x, y, [(",
    "flag and ",
)


def _choice(rng: np.random.Generator, items: tuple | str) -> str:
    return items[int(rng.integers(len(items)))]


def random_bytes(rng: np.random.Generator) -> str:
    return rng.bytes(int(rng.integers(0, 300))).decode("utf-8", errors="replace")


def big_number(rng: np.random.Generator) -> str:
    digits = int(_choice(rng, (19, 20, 21, 64, 99, 100, 101, 309, 4299, 4300, 4301, 6000)))
    number = _choice(
        rng,
        (
            "9" * digits,
            str(2 ** int(rng.integers(63, 400))),
            "1e" + "9" * min(digits, 400),
            "0." + "0" * min(digits, 400) + "1",
            "1e999",
            "-1e999",
            "1e-999",
            "nan",
            "NaN",
            "inf",
            "-inf",
            "Infinity",
            "1" * MAX_NUMBER_LENGTH,
        ),
    )
    return _choice(rng, PREFIXES) + number + _choice(rng, ("", ")", "]", ", 3)", "]"))


def unicode_digits(rng: np.random.Generator) -> str:
    digits = "".join(_choice(rng, UNICODE_DIGITS) for _ in range(int(rng.integers(1, 6))))
    return _choice(rng, ("", *PREFIXES)) + digits


def nesting(rng: np.random.Generator) -> str:
    depth = int(rng.integers(1, 300))
    kind = int(rng.integers(5))
    if kind == 0:
        return "(" * depth + "flag" + ")" * depth
    if kind == 1:
        return "not " * depth + "flag"
    if kind == 2:
        return "similar(" * depth + "flag" + ", 2)" * depth
    if kind == 3:
        return "(" * depth + "flag" + ")" * int(rng.integers(depth + 2))
    return "[" * depth + "]" * int(rng.integers(depth + 2))


def long_text(rng: np.random.Generator) -> str:
    # Mostly a few thousand characters; now and then right at or past the length limit.
    if rng.random() < 0.01:
        n = int(_choice(rng, (10_000, MAX_LENGTH - 5, MAX_LENGTH + 1)))
    else:
        n = int(rng.integers(200, 3_000))
    kind = int(rng.integers(6))
    if kind == 0:
        return "a" * n
    if kind == 1:
        return "pop == '" + "x" * n  # unclosed string
    if kind == 2:
        return "row in [" + "1, " * (n // 3) + "2]"
    if kind == 3:
        count = int(rng.integers(MAX_VERTICES - 5, MAX_VERTICES + 5))
        return "lasso(x, y, [" + "(0, 0), (1, 0), (0, 1), " * (count // 3) + "])"
    if kind == 4:
        return " or ".join(["flag"] * (n // 8))
    return "\\" * n


def control_chars(rng: np.random.Generator) -> str:
    text = _choice(rng, VALID)
    pos = int(rng.integers(len(text) + 1))
    return text[:pos] + "".join(_choice(rng, CONTROL) for _ in range(int(rng.integers(1, 5)))) + text[pos:]


def payload(rng: np.random.Generator) -> str:
    return _choice(rng, ("", *PREFIXES, "pop == '")) + _choice(rng, PAYLOADS)


def edited(rng: np.random.Generator) -> str:
    chars = list(_choice(rng, VALID))
    for _ in range(int(rng.integers(1, 6))):
        pos = int(rng.integers(len(chars) + 1))
        action = int(rng.integers(3))
        if action == 0 or not chars:
            chars.insert(pos, _choice(rng, PIECES))
        elif action == 1:
            del chars[min(pos, len(chars) - 1)]
        else:
            chars[min(pos, len(chars) - 1)] = _choice(rng, PIECES)
    return "".join(chars)


KINDS: tuple[Callable[[np.random.Generator], str], ...] = (
    random_bytes,
    big_number,
    unicode_digits,
    nesting,
    long_text,
    control_chars,
    payload,
    edited,
    edited,
    edited,
)


def make_texts(seed: int, n: int) -> list[str]:
    """``n`` hostile texts, every kind of ``KINDS`` in turn."""
    rng = np.random.default_rng(seed)
    return [KINDS[i % len(KINDS)](rng) for i in range(n)]
