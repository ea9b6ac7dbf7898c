"""The genolang syntax tree: frozen, strict pydantic models with source spans.

Every node carries a ``span`` that is excluded from serialisation, equality-relevant
data only in its other fields, and a ``kind`` tag so unions are discriminated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Span(NamedTuple):
    """1-based, end-exclusive source region."""

    line: int
    column: int
    end_line: int
    end_column: int


_set = object.__setattr__
_N = TypeVar("_N", bound="Node")
_SPANS = frozenset({"span", "path_span", "name_span", "kind_span"})


class Node(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", defer_build=True)
    span: Span | None = Field(default=None, exclude=True, repr=False)

    def __eq__(self, other: object) -> bool:
        """Structural equality: spans (where a node was written) do not count."""
        if type(other) is not type(self):
            return NotImplemented
        mine, theirs = self.__dict__, other.__dict__
        return all(mine[k] == theirs.get(k) for k in mine if k not in _SPANS)

    def __hash__(self) -> int:
        return hash(tuple(self.__dict__.get(k) for k in type(self).model_fields if k not in _SPANS))

    @classmethod
    def make(cls: type[_N], **fields: Any) -> _N:
        """Build a node from fields the parser already typed, without re-validating them.

        The parsers build trees this way (validation per node would halve parse speed);
        ``Module.model_validate`` validates trees from outside (JSON) strictly, and a test
        checks every parsed example survives ``model_validate(model_dump())`` unchanged.
        """
        defaults = cls.__dict__.get("_defaults")
        if defaults is None:
            defaults = {k: f.default for k, f in cls.model_fields.items() if not f.is_required()}
            type.__setattr__(cls, "_defaults", defaults)
        node = object.__new__(cls)
        _set(node, "__dict__", {**defaults, **fields})
        _set(node, "__pydantic_fields_set__", set(fields))
        _set(node, "__pydantic_extra__", None)
        _set(node, "__pydantic_private__", None)
        return node


# ------------------------------------------------------------------ values
class Sym(Node):
    kind: Literal["sym"] = "sym"
    name: str


class IntV(Node):
    kind: Literal["int"] = "int"
    value: int


class FloatV(Node):
    kind: Literal["float"] = "float"
    value: float


class BoolV(Node):
    kind: Literal["bool"] = "bool"
    value: bool


class StrV(Node):
    kind: Literal["str"] = "str"
    value: str


class RefV(Node):
    """``@a.b[2]`` as written (relative or absolute)."""

    kind: Literal["ref"] = "ref"
    path: str


class LabelledV(Node):
    """``op(@ref)``: a reference carrying an op label (DARTS/NASNet edges)."""

    kind: Literal["labelled"] = "labelled"
    label: str
    ref: RefV


class RepeatedV(Node):
    """``cell * 6`` inside a stack's ``cells`` list."""

    kind: Literal["repeated"] = "repeated"
    name: str
    count: int | str


class ExprV(Node):
    """Arithmetic in a field value (``W * 2``, ``w + 1``); ``name * count`` alone is a RepeatedV."""

    kind: Literal["expr"] = "expr"
    expr: Expr


class ListV(Node):
    kind: Literal["list"] = "list"
    items: tuple[Value, ...]


class RecordField(Node):
    name: str
    value: Value


class RecordV(Node):
    kind: Literal["record"] = "record"
    fields: tuple[RecordField, ...]


Value = Annotated[
    Sym | IntV | FloatV | BoolV | StrV | RefV | LabelledV | RepeatedV | ExprV | ListV | RecordV,
    Field(discriminator="kind"),
]


# ------------------------------------------------------------------ expressions
class NumE(Node):
    kind: Literal["num"] = "num"
    value: int | float


class StrE(Node):
    kind: Literal["str"] = "str"
    value: str


class QName(Node):
    """``a.b[*]``, ``cell.before``, ``tap[2]``: names, ``"*"`` and int indices."""

    kind: Literal["qname"] = "qname"
    parts: tuple[str | int, ...]


class NegE(Node):
    kind: Literal["neg"] = "neg"
    operand: Expr


class BinE(Node):
    kind: Literal["bin"] = "bin"
    op: Literal["+", "-", "*"]
    left: Expr
    right: Expr


Expr = Annotated[NumE | StrE | QName | NegE | BinE, Field(discriminator="kind")]


class RangeArg(Node):
    kind: Literal["range"] = "range"
    lo: Expr
    hi: Expr


class Kwarg(Node):
    kind: Literal["kwarg"] = "kwarg"
    name: str
    value: Expr


Arg = Annotated[NumE | StrE | QName | NegE | BinE | RangeArg | Kwarg, Field(discriminator="kind")]


# ------------------------------------------------------------------ domains
class EnumRef(Node):
    kind: Literal["enum_ref"] = "enum_ref"
    name: str


class Call(Node):
    kind: Literal["call"] = "call"
    name: str
    args: tuple[Arg, ...]


DomainExpr = Annotated[EnumRef | Call, Field(discriminator="kind")]


# ------------------------------------------------------------------ conditions
class Cmp(Node):
    kind: Literal["cmp"] = "cmp"
    path: str
    op: Literal["==", "!=", "<=", ">=", "<", ">"]
    value: Value


class In(Node):
    kind: Literal["in"] = "in"
    path: str
    values: tuple[Value, ...]


class Truthy(Node):
    kind: Literal["truthy"] = "truthy"
    path: str


class Not(Node):
    kind: Literal["not"] = "not"
    operand: Cond


class BoolOp(Node):
    kind: Literal["and", "or"]
    left: Cond
    right: Cond


Cond = Annotated[Cmp | In | Truthy | Not | BoolOp, Field(discriminator="kind")]


# ------------------------------------------------------------------ members
class Decision(Node):
    kind: Literal["decision"] = "decision"
    name: str
    domain: DomainExpr
    default: Value | None = None


class FieldM(Node):
    kind: Literal["field"] = "field"
    name: str
    value: Value


class Block(Node):
    kind: Literal["block"] = "block"
    block_kind: str | None
    name: str
    count: Expr | None
    members: tuple[Member, ...]
    name_span: Span | None = Field(default=None, exclude=True, repr=False)
    kind_span: Span | None = Field(default=None, exclude=True, repr=False)


class EnumDecl(Node):
    kind: Literal["enum"] = "enum"
    name: str
    members: tuple[Sym, ...]


class Let(Node):
    kind: Literal["let"] = "let"
    name: str
    value: Expr


class When(Node):
    kind: Literal["when"] = "when"
    cond: Cond
    members: tuple[Member, ...]


class Forbid(Node):
    kind: Literal["forbid"] = "forbid"
    cond: Cond


class Require(Node):
    kind: Literal["require"] = "require"
    metric: str
    op: Literal["==", "!=", "<=", ">=", "<", ">"]
    amount: str


Member = Annotated[
    Decision | FieldM | Block | EnumDecl | Let | When | Forbid | Require,
    Field(discriminator="kind"),
]


# ------------------------------------------------------------------ top level
class SpaceDecl(Node):
    kind: Literal["space"] = "space"
    name: str
    version: int
    members: tuple[Member, ...]


class Assign(Node):
    kind: Literal["assign"] = "assign"
    path: str
    value: Value
    path_span: Span | None = Field(default=None, exclude=True, repr=False)


class MetaBlock(Node):
    kind: Literal["meta"] = "meta"
    fields: tuple[RecordField, ...]


class GenotypeDecl(Node):
    kind: Literal["genotype"] = "genotype"
    name: str
    space: str
    version: int
    fingerprint: str | None
    assigns: tuple[Assign, ...]
    meta: tuple[RecordField, ...] = ()


class Import(Node):
    kind: Literal["import"] = "import"
    path: str


Item = Annotated[SpaceDecl | GenotypeDecl | Import, Field(discriminator="kind")]


class Module(Node):
    """One parsed file."""

    kind: Literal["module"] = "module"
    version: int
    items: tuple[Item, ...]


# Validators are built on first use (``defer_build``): `genolang check` starts fast.
