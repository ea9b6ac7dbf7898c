"""The LALR parser built from ``grammar.lark``: one construction, shared by the parser, the
syntax-error catalogue (which parses its examples to index them) and the formatter."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from lark import Lark

GRAMMAR = Path(__file__).with_name("grammar.lark")


def build(**options: Any) -> Lark:
    """A fresh LALR parser of the grammar (contextual lexer, positions on) with extra lark options."""
    return Lark(GRAMMAR.read_text(encoding="utf-8"), parser="lalr", lexer="contextual", propagate_positions=True,
                maybe_placeholders=True, **options)


@functools.cache
def tree_parser(strict: bool = False) -> Lark:
    """The shared LALR parser (cached; ``strict`` makes lark refuse grammar collisions)."""
    return build(strict=strict, cache=not strict)
