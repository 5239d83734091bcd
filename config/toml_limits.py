"""Cheap checks on TOML text before ``tomllib`` sees it.

``tomllib`` recurses once per nested array or inline table (5,000 levels is a
``RecursionError``) and slows down quadratically on long dotted keys (a
20,000-part key took 21 s and 1.6 GB).  No presspoint file needs more than a
few levels, so a scan that skips strings and comments and measures bracket
depth and dotted-key length refuses such text in linear time.
"""

from __future__ import annotations

import re

#: Nested ``[``/``{`` deeper than this is refused (device configs use 3).
MAX_NESTING = 32
#: A dotted key (``a.b.c``) or table header with more parts than this is refused.
MAX_KEY_PARTS = 32

_STRING = r'"""(?:[^\\]|\\.)*?"""|\'\'\'.*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
_KEY_PART = r'[A-Za-z0-9_+-]+|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\''
_TOKEN = re.compile(
    rf"(?P<dotted>(?:{_KEY_PART})(?:[ \t]*\.[ \t]*(?:{_KEY_PART}))+)"
    rf"|(?P<skip>{_STRING}|#[^\n]*|[A-Za-z0-9_+-]+)"
    r"|(?P<open>[\[{])"
    r"|(?P<close>[\]}])",
    re.DOTALL,
)
_DOT = re.compile(rf"{_STRING}|(\.)", re.DOTALL)


def shape_problem(text: str) -> str | None:
    """Why ``text`` is too deeply nested to parse safely, or ``None``."""
    depth = 0
    for token in _TOKEN.finditer(text):
        kind = token.lastgroup
        if kind == "open":
            depth += 1
            if depth > MAX_NESTING:
                line = text.count("\n", 0, token.start()) + 1
                return f"line {line}: nested more than {MAX_NESTING} levels deep"
        elif kind == "close":
            depth = max(0, depth - 1)
        elif kind == "dotted":
            parts = 1 + sum(1 for dot in _DOT.finditer(token.group()) if dot.group(1))
            if parts > MAX_KEY_PARTS:
                line = text.count("\n", 0, token.start()) + 1
                return f"line {line}: dotted key of {parts} parts; the limit is {MAX_KEY_PARTS}"
    return None
