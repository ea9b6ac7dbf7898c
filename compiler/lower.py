"""Lowering: a space and one of its genotypes -> Graph IR, by generic rules only.

No Python per architecture family: every example space compiles from its file alone. The
rules (docs/compiler.md has the long form):

- ``input``: a model input (+ its ``frontend``); ``backbone``: the registered model and one
  ``tap`` node per feature tap.
- ``node``: its inputs are the fields holding references, in declaration order. Plain
  references are adapted to the op's kind, combined (``combine``, default ``sum``), then
  ``op`` and ``act`` apply: ``act(op(combine(inputs)))``. References carrying an op
  (``op=Enum`` domains) give ``combine(op_k(input_k))``. A binary op (BM-NAS) takes its two
  inputs as (x, y). A node without inputs reads its container's ``in``; with none, it is an
  error. ``@prev`` is the previous instance of the node's repeat (for the first: the
  container's ``in``, or nothing).
- widths: a node's ``filters``/``hidden`` field, else its container's ``channels``, else the
  input width. ``stride`` applies to ops reading a strided cell's inputs.
- ``group``/``cell``: members lowered in order, then ``out`` (``last``, ``concat_all``,
  ``sum_all``, ``concat_loose``, ``sum_loose``) over its direct members.
- ``stack``: items in order; a cell's ``@prev``/``@prev2`` are the previous items (the stack's
  ``in`` before the first); each input of a cell with a width is preprocessed to it (1x1
  projection, or factorized reduction for an input twice as large: DARTS); a strided cell
  doubles the stack's running width.
- ``head``: a vector (pooled or flattened) into [hidden] Linear -> ``classes``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genolang.compiler.builder import Value
from genolang.compiler.errors import CompileError
from genolang.compiler.frame import Frame
from genolang.compiler.graph import Graph
from genolang.compiler.lower_post import apply_post
from genolang.compiler.node import apply_node, input_fields, op_params
from genolang.compiler.place import Place
from genolang.compiler.refs import read_edges
from genolang.compiler.relaxed import Mixing, Relaxed, open_paths
from genolang.conditions import all_hold
from genolang.domains import Domain
from genolang.genotype import Genotype
from genolang.ir import Computed, Decided, Entity
from genolang.space import Space

STRUCTURAL = ("input", "backbone", "node", "group", "cell", "stack", "head")
log = logging.getLogger(__name__)


class Lowering:
    """One lowering run: the space's entities in order, over the value map of ``place``.

    Decisions are read from the value map only (decision path -> value). A value that is a
    :class:`~genolang.compiler.relaxed.Relaxed` decision (a supernet's) is handed to ``mixing``
    where a mixed node can stand for it, and refused elsewhere.
    """

    def __init__(self, space: Space, place: Place, *, mixing: Mixing | None = None):
        self.space, self.ir, self.place, self.mixing = space, space.ir, place, mixing
        self.values, self.b = place.values, place.b
        self.domains: dict[str, Domain] = {d.path: d.domain for d in self.ir.decisions}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.children, self.items = _tree(self.ir.entities)

    def run(self, meta: Mapping[str, str]) -> Graph:
        """The graph; ``meta`` names it (space, genotype, digest, fingerprint, text: :class:`Graph`)."""
        root = Frame(path="", tpath="")
        for e in self.children[""]:
            self.lower_entity(e, root)
        if not self.outputs:
            raise CompileError(f"space {self.space.name!r} has no head: nothing to output")
        return self.b.graph(inputs=self.inputs, outputs=self.outputs, **dict(meta))

    def lower_entity(self, e: Entity, frame: Frame) -> None:
        if not self.active(e):
            return
        self.place.at(e, frame)
        value = self.place.guard(lambda: getattr(self, f"lower_{e.kind}")(e, frame), e)
        if value is not None:
            frame.bind(e.path, value, member=e.kind in ("node", "group", "stack"))

    # ------------------------------------------------------------------ the value map

    def active(self, e: Entity) -> bool:
        """Whether ``e``'s conditions hold (a condition reading an open decision is refused)."""
        for c in e.conds:
            open_ = open_paths(c.paths(), self.values)
            if open_:
                raise self.place.fail(f"the structure of {e.path!r} depends on `{open_[0]}`, which a supernet "
                                      "cannot relax; give it a value", e)
        return all_hold(e.conds, self.values)

    def fields(self, e: Entity) -> dict[str, Any]:
        """``e``'s fields with the decided and computed ones evaluated (inactive ones absent)."""
        out = {}
        for k, v in e.fields.items():
            if isinstance(v, Decided):
                if v.path in self.values:  # inactive (`when`): absent
                    out[k] = self.decided_value(v.path, k, e)
            elif isinstance(v, Computed):
                out[k] = self.computed(v, k, e)
            else:
                out[k] = v
        return out

    def decided_value(self, path: str, field: str, e: Entity) -> Any:
        """A decision's value for ``field``; a relaxed one only where a mixed node can stand."""
        value = self.values[path]
        if isinstance(value, Relaxed) and not value.relaxable_in(field):
            raise self.place.fail(f"decision `{path}` ({value.domain.kind} of `{field}`) cannot be relaxed in a "
                                  "supernet; give it a value (fixed=...)", e)
        return value

    def computed(self, c: Computed, field: str, e: Entity) -> Any:
        """A computed field: the decisions it reads must be given (arithmetic is not relaxed)."""
        open_ = open_paths(c.paths(), self.values)
        if open_:
            raise self.place.fail(f"`{field}` of {e.path!r} is computed from decision `{open_[0]}`, which a "
                                  "supernet cannot relax; give it a value (fixed=...)", e)
        return c.evaluate(self.values)

    def mixer(self) -> Mixing:
        assert self.mixing is not None, "only a supernet's value map holds relaxed decisions"
        return self.mixing

    # ------------------------------------------------------------------ references and nodes

    def ref(self, raw: Any, e: Entity, frame: Frame, *, field: str) -> Value:
        values = self.refs(raw, e, frame, field=field)
        if len(values) != 1:
            raise self.place.fail(f"`{field}` of {e.path!r} must name one element, names {len(values)}", e)
        return values[0]

    def refs(self, raw: Any, e: Entity, frame: Frame, *, field: str) -> list[Value]:
        """The values a field's reference(s) name (``@prev`` resolved)."""
        if isinstance(raw, Relaxed):
            return self.mixer().refs(raw, e, frame, f"{frame.actual(e.path)}.{field}")
        return [v for _, v in read_edges(self.place, raw, e, frame)]

    def lower_node(self, e: Entity, frame: Frame) -> Value:
        f = self.fields(e)
        if any(isinstance(v, Relaxed) for v in f.values()):
            return self.mixer().node(e, f, frame)
        keys = input_fields(e, self.domains)
        edges = [edge for k in keys for edge in read_edges(self.place, f.get(k), e, frame)]
        if not edges:
            if not frame.ins:
                raise self.place.fail(
                    f"node {frame.actual(e.path)!r} has no inputs in this genotype (every reference it could read "
                    "is unselected) and its container has no `in`",
                    e, notes=tuple(f"decided by `{p}` = []" for p in self.place.decided_paths(e)))
            edges = [(None, frame.ins[-1])]
        params = op_params(f, keys)
        return self.place.guard(lambda: apply_node(self.b, f, params, edges, frame, frame.actual(e.path)), e)

    def output(self, frame: Frame, rule: str, e: Entity) -> Value:
        """A container's value by its ``out`` rule over its direct members."""
        members = frame.members
        if rule.endswith("_loose"):
            members = [v for v in members if v.name not in frame.reads]
        if not members:
            raise self.place.fail(f"{frame.path or e.path!r} has no members to output (`out = {rule}`)", e)
        if rule == "last":
            return members[-1]
        how = "sum" if rule.startswith("sum") else "concat"
        self.place.at(e, frame.parent or frame)
        return self.place.guard(lambda: self.b.combine(how, members, f"{frame.path}/out"), e)

    # ------------------------------------------------------------------ sources

    def lower_input(self, e: Entity, frame: Frame) -> Value:
        shape = tuple(e.fields["shape"])
        v = self.b.add(e.name, "input", [], shape, {"dtype": e.fields.get("dtype", "float32")})
        self.inputs.append(v.name)
        if "frontend" not in e.fields:
            return v
        from genolang.compiler.frontends import FRONTENDS

        spec = FRONTENDS.get(str(e.fields["frontend"]))
        params = dict(e.fields.get("frontend_params") or {})
        out = self.place.guard(lambda: spec.out_shape(shape, **params), e)
        return self.b.add(f"{e.name}/frontend", "frontend", [v], out, {"name": spec.name, "params": params})

    def lower_backbone(self, e: Entity, frame: Frame) -> Value:
        from genolang.compiler.backbones import BACKBONES

        spec = self.place.guard(lambda: BACKBONES.get(str(e.fields["model"])), e)
        src = self.ref(e.fields["in"], e, frame, field="in")
        reserved = {"model", "in", "frozen", "taps", "tap_nodes", "weights", "pretrain"}  # `name`: torchvision's
        params = {k: v for k, v in e.fields.items() if k not in reserved}
        if "tap_nodes" in e.fields:  # `taps = ["layer1", ...]`: the graph nodes tapped, in order
            params["taps"] = list(e.fields["tap_nodes"])
        shapes = self.place.guard(lambda: spec.tap_shapes(src.shape, **params), e)
        attrs = {"model": spec.name, "frozen": bool(e.fields.get("frozen", False)),
                 "weights": self.weights_path(e.fields.get("weights")), "params": params, "in_shape": list(src.shape),
                 "tap_shapes": [list(s) for s in shapes]}
        if e.fields.get("pretrain") is not None:  # epochs of training on the search data (the runtime's)
            attrs["pretrain"] = int(e.fields["pretrain"])
        body = self.b.add(e.path, "backbone", [src], (), attrs, macs=backbone_macs(spec, src.shape, params))
        last = body
        for i, shape in enumerate(shapes):
            last = self.b.add(f"{e.path}.tap[{i}]", "tap", [body], shape, {"index": i})
            frame.bind(f"{e.path}.tap[{i}]", last)
        return last

    def weights_path(self, weights: Any) -> str | None:
        """A backbone's ``weights``: a relative path is relative to the space's file (as imports are)."""
        if weights is None:
            return None
        path, home = Path(str(weights)).expanduser(), Path(self.ir.source.name).parent
        return str(path if path.is_absolute() or not Path(self.ir.source.name).is_file() else home / path)

    def lower_head(self, e: Entity, frame: Frame) -> Value:
        f = self.fields(e)  # any of them may be decided
        src = self.b.to_vector(self.ref(f["in"], e, frame, field="in"))
        hidden = f.get("hidden")
        classes = int(f["classes"])
        attrs = {"c_in": src.width, "classes": classes, "hidden": hidden,
                 "dropout": float(f.get("dropout", 0.0)), "task": f.get("task", "single_label")}
        macs = src.width * hidden + hidden * classes if hidden else src.width * classes
        v = self.b.add(e.path, "head", [src], (classes,), attrs, macs=macs)
        self.outputs.append(v.name)
        return v

    # ------------------------------------------------------------------ containers

    def lower_group(self, e: Entity, frame: Frame) -> Value:
        f = self.fields(e)
        ins = self.refs(f.get("in"), e, frame, field="in")
        sub = frame.child(e.path, e.path, ins=ins, width=f.get("channels"), length=f.get("length"))
        self.bind_ins(sub, e.path, f.get("in"), ins)
        for child in self.children[e.path]:
            self.lower_entity(child, sub)
        out = self.output(sub, str(f.get("out", "last")), e)
        for path, value in sub.values.items():  # `@g.a` names a member from outside the group too
            frame.values.setdefault(path, value)
        return self.post(out, f, sub, e)

    def lower_cell(self, e: Entity, frame: Frame) -> None:
        """A cell type is a template: its copies are lowered by the stacks placing them."""
        return None

    def lower_stack(self, e: Entity, frame: Frame) -> Value:
        f = self.fields(e)
        history = [self.ref(f["in"], e, frame, field="in")]
        width = f.get("channels")
        for item in self.items[e.path]:
            if not self.active(item):
                continue
            cell = self.ir.entities[item.fields["cell"]]
            stride = int(self.fields(cell).get("stride", 1))  # it may be decided
            if stride != 1 and width is not None:
                width = int(width) * stride
            self.place.at(item, frame)
            out = self.lower_item(item, cell, history, frame, width)
            frame.bind(item.path, out)
            history.append(out)
        return history[-1]

    def lower_item(self, item: Entity, cell: Entity, history: list[Value], frame: Frame,
                   stack_width: int | None) -> Value:
        f = self.fields(cell)
        width = f.get("channels", stack_width)
        raw = f.get("in", "@prev")
        ins = [self.prev_item(r, history) if r in ("@prev", "@prev2") else self.ref(r, cell, frame, field="in")
               for r in (raw if isinstance(raw, list) else [raw])]
        if width is not None:
            ins = self.preprocess(ins, int(width), item.path)
        sub = frame.child(item.path, cell.path, ins=ins, width=width, stride=int(f.get("stride", 1)))
        self.bind_ins(sub, cell.path, raw, ins)
        for child in self.children[cell.path]:
            self.lower_entity(child, sub)
        return self.post(self.output(sub, str(f.get("out", "last")), cell), f, sub, cell)

    def post(self, v: Value, f: dict[str, Any], frame: Frame, e: Entity) -> Value:
        """The container's output after its ``post`` steps (:mod:`lower_post`)."""
        if not f.get("post"):
            return v
        self.place.at(e, frame.parent or frame)
        return self.place.guard(lambda: apply_post(self.b, list(f["post"]), v, frame.ins, frame.width, frame.path), e)

    @staticmethod
    def prev_item(ref: str, history: list[Value]) -> Value:
        back = 2 if ref == "@prev2" else 1
        return history[-back] if len(history) >= back else history[-1]

    def preprocess(self, ins: list[Value], width: int, path: str) -> list[Value]:
        """DARTS cell preprocessing: each input to ``width``; one twice as large is halved first."""
        sizes = [tuple(v.shape[1:]) for v in ins if v.kind == "map"]
        size = min(sizes, key=lambda s: s[0] * s[1]) if sizes else None
        out = []
        for i, v in enumerate(ins):
            name = f"{path}.in[{i}]" if len(ins) > 1 else f"{path}.in"
            if v.kind != "map" or tuple(v.shape[1:]) == size:
                out.append(self.b.preprocess(v, width, name=name))
            elif (math.ceil(v.shape[1] / 2), math.ceil(v.shape[2] / 2)) == size:
                out.append(self.b.reduce(v, width, name=name, memo=False))
            else:  # no single halving aligns it: resized first (builder.align_spatial's rule)
                assert size is not None, "v is a map, so sizes holds its size"
                out.append(self.b.preprocess(self.b.align_spatial(v, size), width, name=name))
        return out

    @staticmethod
    def bind_ins(frame: Frame, tpath: str, raw: Any, ins: list[Value]) -> None:
        """Make ``@cell.in`` / ``@cell.in[i]`` name the container's (preprocessed) inputs; a relaxed
        pick/choose fills the slots ``in[0..k-1]`` (each the mixed value)."""
        if isinstance(raw, list) or (isinstance(raw, Relaxed) and raw.slotted):
            for i, v in enumerate(ins):
                frame.bind(f"{tpath}.in[{i}]", v)
        elif ins:
            frame.bind(f"{tpath}.in", ins[0])


def _tree(entities: dict[str, Entity]) -> tuple[dict[str, list[Entity]], dict[str, list[Entity]]]:
    """(container path -> structural children in order, stack path -> its items)."""
    children: dict[str, list[Entity]] = {"": []}
    items: dict[str, list[Entity]] = {}
    for e in entities.values():
        if e.kind in ("group", "cell", "stack", "node", "backbone"):
            children.setdefault(e.path, [])
            items.setdefault(e.path, [])
        if e.kind == "item":
            items.setdefault(e.parent or "", []).append(e)
        elif e.kind in ("input", "backbone", "node", "group", "cell", "stack", "head"):
            parts = e.path.split(".")
            owner = next((".".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)
                          if ".".join(parts[:i]) in entities), "")
            children.setdefault(owner, []).append(e)
    return children, items


def backbone_macs(spec: Any, shape: tuple[int, ...], params: dict[str, Any]) -> int:
    """A backbone's MACs per sample (0, logged, when its body cannot run on the meta device)."""
    key = (spec.name, shape, tuple(sorted((k, repr(v)) for k, v in params.items())))
    if key not in _MACS:
        try:
            _MACS[key] = spec.macs(shape, **params)
        except Exception as err:  # a user's factory may fail on meta tensors
            log.warning("backbone %r: MACs not counted (%s)", spec.name, err)
            _MACS[key] = 0
    return _MACS[key]


_MACS: dict[tuple[str, tuple[int, ...], tuple[tuple[str, str], ...]], int] = {}  # (backbone, shape, params)


def lower(space: Space, genotype: Genotype) -> Graph:
    """The Graph IR of ``genotype`` (a genotype of ``space``); compile errors name the place."""
    if genotype.space != space.name or genotype.fingerprint != space.fingerprint:
        raise CompileError(f"genotype {genotype.name!r} is pinned to space {genotype.space!r} "
                           f"({genotype.fingerprint[:19]}...), not to {space.name!r} ({space.fingerprint[:19]}...)")
    meta = {"space": space.name, "genotype": genotype.name, "digest": genotype.digest,
            "fingerprint": genotype.fingerprint, "text": genotype.to_text()}
    return lower_values(space, genotype.values, meta)


def lower_values(space: Space, values: Mapping[str, Any], meta: Mapping[str, str]) -> Graph:
    """The Graph IR of ``space`` under a plain value map (decision path -> value), named by ``meta``."""
    return Lowering(space, Place(space.ir, values)).run(meta)


def load_genotype(path: str, *, genotype: str | None = None) -> tuple[Space, Genotype, str]:
    """(space, genotype, how) from a file: the named genotype, the file's only one, or a space's default.

    ``how`` says which: "genotype", "default" (every decision has a default) or "sample(seed=0)".
    """
    from genolang.document import load

    doc = load(path)
    if doc.genotypes or genotype is not None:
        geno = doc.genotype(genotype)
        return doc.space(geno.space), geno, "genotype"
    space = doc.space()
    if all(d.has_default for d in space.ir.decisions):
        return space, space.default(), "default"
    return space, space.sample(0), "sample(seed=0)"


def compile_file(path: str, *, genotype: str | None = None) -> tuple[Space, Genotype, Graph]:
    """Load a file and lower one genotype (see :func:`load_genotype`)."""
    space, geno, _ = load_genotype(path, genotype=genotype)
    return space, geno, lower(space, geno)
