"""Comments for ``genolang fmt``: capture them while parsing and attach them to the layout.

The grammar ignores comments, so a second lark instance (same grammar and options) collects
them through a lexer callback. Each comment is then attached, by source position, to one
*container* (module, space, block, when, genotype, meta, enum, list, record):

* a comment on a child's last line, after it, *trails* that child;
* the first comment of a container, when it is on the opening line and before any child,
  is its *opener* (printed after the ``{`` or ``[``);
* any other comment between children *leads* the next child, or sits before the closing
  brace when no child follows;
* a comment inside a child that is not itself inside a nested container (a multi-line
  condition, say) is hoisted to lead that child.
"""

from __future__ import annotations

import bisect
import functools
import threading
from dataclasses import dataclass, field

from lark import Lark, Token, Tree

from genolang.lalr import build

Part = Tree[Token] | Token  # a child of a lark tree

# How many leading children of each container rule are header parts rather than entries.
_HEADER_PARTS = {"start": 0, "space": 2, "block": 3, "when_block": 1, "genotype": 4,
                 "enum_decl": 1, "meta": 0, "list": 0, "record": 0}
_VALUE_OWNERS = ("field", "decision", "assign", "rfield")


@dataclass(frozen=True)
class Comment:
    text: str
    line: int
    pos: int


@dataclass
class Entry:
    """One line-group of a container body: a comment, or a child (with its trailing comment)."""

    blank_before: bool
    comment: Comment | None = None
    child: Part | None = None
    trailing: Comment | None = None


@dataclass
class Layout:
    opener: Comment | None = None
    entries: list[Entry] = field(default_factory=list)


class _Sink(threading.local):
    def __init__(self) -> None:
        self.tokens: list[Token] = []

    def __call__(self, tok: Token) -> Token:
        self.tokens.append(tok)
        return tok


_SINK = _Sink()


@functools.cache
def _comment_parser() -> Lark:
    return build(lexer_callbacks={"COMMENT": _SINK})


def parse_with_comments(text: str) -> tuple[Tree[Token], list[Comment]]:
    """The lark tree and the comments (text right-stripped) in source order."""
    _SINK.tokens = []
    tree = _comment_parser().parse(text)
    comments = [Comment(str(t).rstrip(), _known(t.line), _known(t.start_pos)) for t in _SINK.tokens]
    _SINK.tokens = []
    return tree, sorted(comments, key=lambda c: c.pos)


# ------------------------------------------------------------------ positions
def _known(position: int | None) -> int:
    assert position is not None, "the lexer's tokens carry positions (lark types them Optional)"
    return position


def start(node: Part) -> int:
    return _known(node.start_pos) if isinstance(node, Token) else node.meta.start_pos


def end(node: Part) -> int:
    return _known(node.end_pos) if isinstance(node, Token) else node.meta.end_pos


def end_line(node: Part) -> int:
    return _known(node.end_line) if isinstance(node, Token) else node.meta.end_line


def first_line(node: Part) -> int:
    return _known(node.line) if isinstance(node, Token) else node.meta.line


def kids(tree: Tree[Token]) -> list[Part]:
    """The entries of a container tree (members, items, fields, enum names)."""
    return [c for c in tree.children[_HEADER_PARTS[tree.data]:] if c is not None]


def _open_line(tree: Tree[Token]) -> int:
    """The line a comment must share with the opening brace to be the container's opener."""
    if tree.data == "start":
        return 0
    head = [c for c in tree.children[:_HEADER_PARTS[tree.data]] if c is not None]
    return end_line(head[-1]) if head else tree.meta.line


def inner_container(node: Part) -> Tree[Token] | None:
    """The container a child's inner comments go to: itself, or its list/record value."""
    if not isinstance(node, Tree):
        return None
    if node.data in _HEADER_PARTS:
        return node
    value = node.children[-1] if node.data in _VALUE_OWNERS else None
    return value if isinstance(value, Tree) and value.data in ("list", "record") else None


# ------------------------------------------------------------------ attachment
def has_comment(positions: list[int], node: Part) -> bool:
    """Whether a comment starts inside ``node`` (``positions`` sorted)."""
    i = bisect.bisect_left(positions, start(node))
    return i < len(positions) and positions[i] < end(node)


def attach(root: Tree[Token], comments: list[Comment]) -> dict[int, Layout]:
    """The layout of every container under ``root``, keyed by ``id`` of its tree."""
    layouts: dict[int, Layout] = {}
    _distribute(root, comments, layouts)
    return layouts


def _distribute(tree: Tree[Token], comments: list[Comment], layouts: dict[int, Layout]) -> None:
    children = kids(tree)
    starts = [start(k) for k in children]
    inner: list[list[Comment]] = [[] for _ in children]
    leading: list[list[Comment]] = [[] for _ in range(len(children) + 1)]  # the last: before the close
    trailing: dict[int, Comment] = {}
    layout = Layout()
    for c in comments:
        i = bisect.bisect_right(starts, c.pos) - 1  # the last child starting before c
        if i >= 0 and c.pos < end(children[i]):
            inner[i].append(c)
        elif i >= 0 and end_line(children[i]) == c.line:
            trailing[i] = c
        elif i < 0 and not leading[0] and layout.opener is None and c.line == _open_line(tree):
            layout.opener = c
        else:
            leading[i + 1].append(c)
    hoisted = [_descend(child, mine, layouts) for child, mine in zip(children, inner)]
    layout.entries = _entries(tree, children, leading, hoisted, trailing)
    layouts[id(tree)] = layout


def _descend(child: Part, comments: list[Comment], layouts: dict[int, Layout]) -> list[Comment]:
    """Hand a child's inner comments to its nested container; return those left to hoist."""
    sub = inner_container(child)
    if sub is None:
        return comments
    lo, hi = start(sub), end(sub)
    _distribute(sub, [c for c in comments if lo <= c.pos < hi], layouts)
    return [c for c in comments if not lo <= c.pos < hi]


def _entries(tree: Tree[Token], children: list[Part], leading: list[list[Comment]], hoisted: list[list[Comment]],
             trailing: dict[int, Comment]) -> list[Entry]:
    """Source order; ``blank_before`` where the source had an empty line before the entry."""
    out: list[Entry] = []
    prev = _open_line(tree)
    for k, child in enumerate(children):
        for c in leading[k]:
            out.append(Entry(c.line - prev > 1, comment=c))
            prev = c.line
        gap = first_line(child) - prev > 1
        out += [Entry(gap and n == 0, comment=c) for n, c in enumerate(hoisted[k])]
        out.append(Entry(gap and not hoisted[k], child=child, trailing=trailing.get(k)))
        prev = end_line(child)
    for c in leading[-1]:
        out.append(Entry(c.line - prev > 1, comment=c))
        prev = c.line
    return out
