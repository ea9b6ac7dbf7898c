"""The op and activation reference tables of docs/language.md, rendered from the metadata.

:func:`render_tables` gives the Markdown between the ``<!-- ops:begin -->`` and
``<!-- ops:end -->`` markers of docs/language.md; a test keeps the page equal to it
(regenerate with ``python -c "import genolang.opdocs as d; d.write_language_md()"``).
Only the built-in entries are listed (plugins document their own).
"""

from __future__ import annotations

from pathlib import Path

from genolang import catalog
from genolang.fields import Field
from genolang.opmeta import ACTIVATION_META, OP_META, OpMeta

BEGIN, END = "<!-- ops:begin -->", "<!-- ops:end -->"
PAGE = Path(__file__).resolve().parent.parent / "docs" / "language.md"
KINDS = {"map": "map [C, H, W]", "seq": "seq [C, L]", "vector": "vector [D]", "any": "any (as it comes)"}


def _field(f: Field) -> str:
    default = "required" if f.required else f"default {f.default!r}"
    return f"`{f.name}`: {f.describe()}, {default}"


def _width(meta: OpMeta) -> str:
    if meta.keeps_width:
        return "keeps C"
    return f"`{meta.width_param}`" if meta.width_param else "container width"


def _op_row(meta: OpMeta) -> str:
    fields = "; ".join(_field(f) for f in meta.fields) or "none"
    stride = "yes" if meta.strided else "no"
    return (f"| `{meta.name}` | {KINDS[meta.kind]} | {meta.arity} | {_width(meta)} | {stride} | {fields} | "
            f"{meta.doc or meta.source} |")


def render_tables() -> str:
    """The Markdown tables of the built-in ops and activations."""
    out = ["| op | consumes | inputs | output width | stride | parameters | what it is |",
           "|---|---|---|---|---|---|---|"]
    out += [_op_row(OP_META.get(n)) for n in sorted(catalog.OPS)]
    out += ["", "| activation | parameters |", "|---|---|"]
    for name in sorted(catalog.ACTIVATIONS):
        meta = ACTIVATION_META.get(name)
        out.append(f"| `{name}` | {'; '.join(_field(f) for f in meta.fields) or 'none'} |")
    return "\n".join(out)


def rendered_page(text: str) -> str:
    """``text`` (docs/language.md) with the tables between the markers replaced by :func:`render_tables`."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render_tables()}\n{END}{tail}"


def write_language_md(path: Path = PAGE) -> None:
    """Regenerate the tables in docs/language.md."""
    path.write_text(rendered_page(path.read_text(encoding="utf-8")), encoding="utf-8")
