"""``genolang fmt``: the canonical layout of a genolang file, comments kept.

Layout rules:

* ``genolang 1``, then one blank line between top-level items; 2-space indentation;
* one member per line, no ``;``; single blank lines between members are kept (runs of
  them collapse to one), none right after an opening brace;
* spaces around ``=``, after ``:`` and ``,``; ``kind name[count] {`` ... ``}`` blocks (the
  kind word printed when written), ``{}`` for an empty body;
* enums, lists, records and ``meta`` on one line when that line fits in 88 columns and
  holds no comment; otherwise one entry per line, each with a trailing comma;
* numbers by value (no underscores, floats by ``repr``), strings re-escaped, domains and
  conditions in canonical form with minimal parentheses, ``require`` amounts as written;
* trailing comments of consecutive lines are aligned in one column (as gofmt does);
* comments stay where they were: before the entry they precede, at the end of the line
  they trail, after an opening brace, or before a closing one (see
  :mod:`genolang.formatter_comments`).

The result parses to the same AST as the input, and formatting it again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lark import Token, Tree

from genolang import ast as A
from genolang import formatter_exprs as X
from genolang.formatter_comments import (
    Layout,
    Part,
    attach,
    end_line,
    first_line,
    has_comment,
    kids,
    parse_with_comments,
)
from genolang.parser import Builder, parse

WIDTH = 88
STEP = "  "

__all__ = ["WIDTH", "format_text"]


def format_text(text: str, name: str = "<input>") -> str:
    """``text`` in the canonical layout; raises :class:`GenolangError` if it does not parse."""
    parse(text, name, fast=False)  # every syntax, limit and version error, reported as `parse` does
    tree, comments = parse_with_comments(text)
    module = Builder().transform(tree)
    printer = _Printer(attach(tree, comments), [c.pos for c in comments])
    return "\n".join(printer.module(module, tree)) + "\n"


class _Printer:
    """Walks the AST and the lark tree side by side; the tree carries the comment positions."""

    def __init__(self, layouts: dict[int, Layout], positions: list[int]):
        self.layouts = layouts
        self.positions = positions

    def module(self, module: A.Module, tree: Tree[Token]) -> list[str]:
        return self.body(tree, [module.version, *module.items], "", module=True)[1]

    # ------------------------------------------------------------ containers
    def body(self, tree: Tree[Token], nodes: list[Any], indent: str, suffix: str = "",
             module: bool = False) -> tuple[str | None, list[str]]:
        """(opener comment, body lines) of a container whose entries are ``nodes``."""
        layout = self.layouts.get(id(tree)) or Layout()
        by_id = {id(k): n for k, n in zip(kids(tree), nodes)}
        lines: list[str] = []
        trailing: dict[int, str] = {}  # line index -> its trailing comment, aligned below
        after_child = False
        for entry in layout.entries:
            if lines and (entry.blank_before or (module and after_child)):
                lines.append("")
            if entry.comment is not None:
                lines.append(indent + entry.comment.text)
            else:
                assert entry.child is not None, "an entry holds a comment or a child"
                got = self.child(by_id[id(entry.child)], entry.child, indent, suffix)
                if entry.trailing is not None:
                    trailing[len(lines) + _trailing_line(entry.child, got) % len(got)] = entry.trailing.text
                lines += got
            after_child = entry.child is not None
        return (layout.opener.text if layout.opener else None), _align(lines, trailing)

    def braced(self, head: str, tree: Tree[Token], nodes: list[Any], indent: str, close: str = "}",
               suffix: str = "", item_suffix: str = "") -> list[str]:
        """``head`` (ending in the open bracket), the body one step in, the close bracket."""
        opener, body = self.body(tree, nodes, indent + STEP, item_suffix)
        if opener is None and not body:
            return [f"{indent}{head}{close}{suffix}"]
        first = f"{indent}{head}" + (f"  {opener}" if opener else "")
        return [first, *body, f"{indent}{close}{suffix}"]

    def child(self, node: Any, tree: Part, indent: str, suffix: str) -> list[str]:
        if isinstance(tree, Token):  # an enum member
            return [f"{indent}{node.name}{suffix}"]
        method = _CHILDREN.get(tree.data)
        if method is None:  # a list item
            return self.value_lines("", node, tree, indent, suffix)
        return method(self, node, tree, indent, suffix)

    def fits(self, line: str, tree: Part) -> bool:
        return len(line) <= WIDTH and not has_comment(self.positions, tree)

    # ------------------------------------------------------------ values
    def value_lines(self, prefix: str, value: A.Value, tree: Part, indent: str, suffix: str = "") -> list[str]:
        """``prefix`` + value, exploding lists and records that are too wide or hold comments."""
        line = f"{indent}{prefix}{X.value(value)}{suffix}"
        if not isinstance(value, (A.ListV, A.RecordV)) or self.fits(line, tree):
            return [line]
        assert isinstance(tree, Tree), "a list or record value is a tree"
        if isinstance(value, A.ListV):
            return self.braced(prefix + "[", tree, list(value.items), indent, "]", suffix, ",")
        return self.braced(prefix + "{", tree, list(value.fields), indent, "}", suffix, ",")

    def rfield(self, f: A.RecordField, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return self.value_lines(f"{f.name}: ", f.value, tree.children[-1], indent, suffix)

    # ------------------------------------------------------------ top level
    def header(self, version: int, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return [f"{indent}genolang {version}{suffix}"]

    def import_stmt(self, node: A.Import, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return [f"{indent}import {X.string(node.path)}{suffix}"]

    def space(self, node: A.SpaceDecl, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        head = f"space {node.name} version {node.version} {{"
        return self.braced(head, tree, list(node.members), indent)

    def genotype(self, node: A.GenotypeDecl, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        head = f"genotype {node.name} of {node.space} version {node.version}"
        if node.fingerprint is not None:
            head += f" fingerprint {X.string(node.fingerprint)}"
        return self.braced(head + " {", tree, _genotype_items(node, tree), indent)

    def assign(self, node: A.Assign, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return self.value_lines(f"{node.path} = ", node.value, tree.children[-1], indent, suffix)

    def meta(self, fields: tuple[A.RecordField, ...], tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        inner = ", ".join(X.record_field(f) for f in fields)
        line = f"{indent}meta {{ {inner} }}" if fields else f"{indent}meta {{}}"
        if self.fits(line, tree):
            return [line]
        return self.braced("meta {", tree, list(fields), indent, item_suffix=",")

    # ------------------------------------------------------------ space members
    def decision(self, node: A.Decision, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        head = f"{node.name}: {X.domain(node.domain)}"
        if node.default is None:
            return [f"{indent}{head}{suffix}"]
        return self.value_lines(head + " = ", node.default, tree.children[-1], indent, suffix)

    def field(self, node: A.FieldM, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return self.value_lines(f"{node.name} = ", node.value, tree.children[-1], indent, suffix)

    def block(self, node: A.Block, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        head = f"{node.block_kind} {node.name}" if node.block_kind else node.name
        if node.count is not None:
            head += f"[{X.expr(node.count)}]"
        return self.one_line(head, node, tree, indent, suffix) or self.braced(
            head + " {", tree, list(node.members), indent)

    def one_line(self, head: str, node: A.Block, tree: Tree[Token], indent: str, suffix: str) -> list[str] | None:
        """``head { a = 1; b: bool }`` for a short block of fields and decisions only."""
        if not node.members or any(m.kind not in ("field", "decision") for m in node.members):
            return None
        parts = [self.child(m, t, "", "") for m, t in zip(node.members, kids(tree))]
        if any(len(p) != 1 for p in parts):
            return None
        line = f"{indent}{head} {{ " + "; ".join(p[0] for p in parts) + f" }}{suffix}"
        return [line] if self.fits(line, tree) else None

    def enum_decl(self, node: A.EnumDecl, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        line = f"{indent}enum {node.name} {{ " + ", ".join(m.name for m in node.members) + " }"
        if self.fits(line, tree):
            return [line]
        return self.braced(f"enum {node.name} {{", tree, list(node.members), indent, item_suffix=",")

    def let_decl(self, node: A.Let, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return [f"{indent}let {node.name} = {X.expr(node.value)}"]

    def when_block(self, node: A.When, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return self.braced(f"when {X.cond(node.cond)} {{", tree, list(node.members), indent)

    def forbid(self, node: A.Forbid, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return [f"{indent}forbid {X.cond(node.cond)}"]

    def require(self, node: A.Require, tree: Tree[Token], indent: str, suffix: str) -> list[str]:
        return [f"{indent}require {node.metric} {node.op} {node.amount}"]


Printer = Callable[[_Printer, Any, Tree[Token], str, str], list[str]]  # (node, tree, indent, suffix)
_CHILDREN: dict[str, Printer] = {name: getattr(_Printer, name) for name in (
    "header", "import_stmt", "space", "genotype", "assign", "meta", "rfield", "decision", "field",
    "block", "enum_decl", "let_decl", "when_block", "forbid", "require")}


def _align(lines: list[str], trailing: dict[int, str]) -> list[str]:
    """Trailing comments of a run of lines (no blank line between) start in one column."""
    out = list(lines)
    run: list[int] = []
    for i in range(len(lines) + 1):
        if i < len(lines) and lines[i]:
            run.append(i)
            continue
        marked = [j for j in run if j in trailing]
        column = max((len(lines[j]) for j in marked), default=0) + 2
        for j in marked:
            out[j] = lines[j].ljust(column) + trailing[j]
        run = []
    return out


def _trailing_line(tree: Part, lines: list[str]) -> int:
    """Where a trailing comment goes: the last line, or the opening line of an entry written
    on one line and printed on several (where it reads back as the container's opener)."""
    return 0 if len(lines) > 1 and first_line(tree) == end_line(tree) else -1


def _genotype_items(node: A.GenotypeDecl, tree: Tree[Token]) -> list[A.Assign | tuple[A.RecordField, ...]]:
    """The genotype's entries in source order: assignments, and each meta block's fields."""
    assigns, used = iter(node.assigns), 0
    out: list[A.Assign | tuple[A.RecordField, ...]] = []
    for item in kids(tree):
        assert isinstance(item, Tree), "a genotype's entries are assign and meta trees"
        if item.data == "assign":
            out.append(next(assigns))
        else:
            n = len(kids(item))
            out.append(tuple(node.meta[used:used + n]))
            used += n
    return out
