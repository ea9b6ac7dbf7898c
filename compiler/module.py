"""Graph IR -> PyTorch: one module per node, and a straight-line forward generated once.

:func:`build_block` builds the module of one :class:`~genolang.compiler.graph.GNode` by its
``kind`` (the table of :mod:`genolang.compiler.graph`); kinds that are plain functions
(``input``, ``tap``, ``sum``, ``concat``, ``gap``, ``flatten``, ``as_map``) get ``None``.

:func:`build_module` turns a whole :class:`~genolang.compiler.graph.Graph` into a
:class:`GraphNet`. Its submodules are attributes named after the nodes (``"fusion[1].x"`` ->
``fusion_1__x``, see :func:`attribute_names`), so state-dict keys are deterministic. Its
``forward`` is generated ONCE, at build time, with :mod:`torch.fx` (a ``torch.fx.Graph``
with a placeholder per input, ``call_module`` per module node, ``getitem``, ``torch.cat``,
``mean``, ``flatten``, ``+`` or :func:`sum_all` per function node) and compiled to Python: a
straight-line function, one line per node (``net.code`` shows it), with a real signature
(the graph inputs, by position or by name), which ``torch.export`` and the ONNX exporters
trace directly. Nothing walks the node list at call time.
"""

from __future__ import annotations

import keyword
import linecache
import logging
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from itertools import count
from typing import Any

import torch
import torch.fx
from torch import nn
from torch.nn import functional as F

from genolang.compiler.activations import ACTIVATIONS
from genolang.compiler.backbones import BACKBONES
from genolang.compiler.errors import CompileError, ShapeError
from genolang.compiler.frontends import FRONTENDS
from genolang.compiler.graph import GNode, Graph, Shape
from genolang.compiler.ops import OPS
from genolang.compiler.ops.base import FactorizedReduce, ReLUConvBN
from genolang.compiler.relax import ArchParams
from genolang.compiler.resample import Resample
from genolang.compiler.supernet_ops import MIXED_KINDS, build_mixed, fx_mixed

log = logging.getLogger(__name__)

#: the kinds computed by a function in the forward, not by a module
FUNCTION_KINDS: frozenset[str] = frozenset({"input", "tap", "sum", "concat", "gap", "flatten", "as_map"})
_COUNTER = count()


class ToSeq(nn.Module):
    """BM-NAS reshape of a map (N, C, H, W) or a vector (N, C) to a seq (N, c_out, L).

    The input is viewed as (N, C, P) with P = ``positions`` (H*W for a map, 1 for a vector),
    max-pooled to L positions, then Conv1d(C, c_out, 1) (with bias) -> BatchNorm1d -> ReLU. The pooling
    is exactly ``F.adaptive_max_pool1d(x, L)`` (window i covers ``floor(i*P/L)`` to
    ``ceil((i+1)*P/L)``; P < L repeats positions, a vector is repeated L times) but written
    with sizes fixed at build time, so it exports to ONNX without adaptive pooling:
    P == L: nothing; P a multiple of L: ``max_pool1d`` with kernel = stride = P/L;
    otherwise a fixed gather of the windows (each padded by repeating its first position,
    which leaves its max unchanged) and a max over the window axis.
    """

    index: torch.Tensor  # a buffer, registered when the pooling gathers windows

    def __init__(self, c_in: int, c_out: int, length: int, *, positions: int = 1, affine: bool = True):
        super().__init__()
        if min(c_in, c_out, length, positions) < 1:
            raise ShapeError(f"to_seq needs positive sizes, got c_in={c_in}, c_out={c_out}, "
                             f"length={length}, positions={positions}")
        self.c_in, self.length, self.positions = c_in, length, positions
        self.kernel = positions // length if positions % length == 0 else 0
        self.window = 0
        if not self.kernel:
            index = self.window_index(positions, length)
            self.window = index.shape[1]
            self.register_buffer("index", index.flatten(), persistent=False)
        self.conv = nn.Conv1d(c_in, c_out, 1)  # with a bias, as BM-NAS's step convs
        self.bn = nn.BatchNorm1d(c_out, affine=affine)
        self.relu = nn.ReLU(inplace=False)

    @staticmethod
    def window_index(positions: int, length: int) -> torch.Tensor:
        """(length, window) int64 positions of adaptive max pooling's windows, padded by repetition."""
        bounds = [(i * positions // length, -(-(i + 1) * positions // length)) for i in range(length)]
        window = max(end - start for start, end in bounds)
        rows = [list(range(start, end)) + [start] * (window - (end - start)) for start, end in bounds]
        return torch.tensor(rows, dtype=torch.long)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) or (N, C) -> (N, C, L), the fixed-size adaptive max pooling."""
        x = x.reshape(-1, self.c_in, self.positions)
        if self.kernel == 1:
            return x
        if self.kernel:
            return F.max_pool1d(x, self.kernel, self.kernel)
        windows = x.index_select(2, self.index).reshape(-1, self.c_in, self.length, self.window)
        return windows.amax(dim=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y: torch.Tensor = self.relu(self.bn(self.conv(self.pool(x))))
        return y


# ---------------------------------------------------------------- one module per node kind


def _attr(node: GNode, key: str) -> Any:
    if key not in node.attrs:
        raise CompileError(f"node {node.name!r} ({node.kind}) lacks the attribute {key!r}")
    return node.attrs[key]


def _in_shape(node: GNode, in_shapes: Sequence[Shape] | None) -> Shape:
    if "in_shape" in node.attrs:
        return tuple(node.attrs["in_shape"])
    if not in_shapes:
        raise CompileError(f"node {node.name!r} ({node.kind}) needs its input shape (attrs in_shape or in_shapes)")
    return tuple(in_shapes[0])


def _op(node: GNode, affine: bool, in_shapes: Sequence[Shape] | None) -> nn.Module:
    spec = OPS.get(_attr(node, "op"))
    return spec.build(c_in=int(_attr(node, "c_in")), c_out=int(_attr(node, "c_out")),
                      stride=int(node.attrs.get("stride", 1)), affine=affine, **node.attrs.get("params", {}))


def _to_seq(node: GNode, affine: bool, in_shapes: Sequence[Shape] | None) -> nn.Module:
    positions = node.attrs.get("positions")
    if positions is None:
        positions = math.prod(_in_shape(node, in_shapes)[1:])
    return ToSeq(int(_attr(node, "c_in")), int(_attr(node, "c_out")), int(_attr(node, "length")),
                 positions=int(positions), affine=affine)


def _proj(node: GNode, affine: bool, in_shapes: Sequence[Shape] | None) -> nn.Module:
    c_in, c_out, rank = int(_attr(node, "c_in")), int(_attr(node, "c_out")), len(node.shape)
    if rank == 3:
        return ReLUConvBN(c_in, c_out, 1, affine=affine)
    if rank == 2:
        return nn.Sequential(nn.Conv1d(c_in, c_out, 1, bias=False), nn.BatchNorm1d(c_out, affine=affine),
                             nn.ReLU(inplace=False))
    if rank == 1:
        return nn.Linear(c_in, c_out)
    raise ShapeError(f"proj node {node.name!r}: no projection for a value of shape {list(node.shape)}")


def _head(node: GNode, affine: bool, in_shapes: Sequence[Shape] | None) -> nn.Module:
    c_in, classes = int(_attr(node, "c_in")), int(_attr(node, "classes"))
    hidden, dropout = node.attrs.get("hidden"), float(node.attrs.get("dropout") or 0.0)
    if hidden:
        return nn.Sequential(nn.Linear(c_in, int(hidden)), nn.ReLU(inplace=False), nn.Dropout(dropout),
                             nn.Linear(int(hidden), classes))
    layers: list[nn.Module] = [nn.Dropout(dropout)] if dropout > 0 else []
    return nn.Sequential(*layers, nn.Linear(c_in, classes))


def _backbone(node: GNode, affine: bool, in_shapes: Sequence[Shape] | None) -> nn.Module:
    spec = BACKBONES.get(_attr(node, "model"))
    return spec.build(in_shape=_in_shape(node, in_shapes), frozen=bool(node.attrs.get("frozen", False)),
                      weights=node.attrs.get("weights"), **node.attrs.get("params", {}))


def _frontend(node: GNode, affine: bool, in_shapes: Sequence[Shape] | None) -> nn.Module:
    return FRONTENDS.get(_attr(node, "name")).build(in_shape=_in_shape(node, in_shapes),
                                                    **node.attrs.get("params", {}))


Builder = Callable[[GNode, bool, Sequence[Shape] | None], nn.Module]  # node, affine, input shapes

_BUILDERS: dict[str, Builder] = {
    "op": _op, "to_seq": _to_seq, "proj": _proj, "head": _head, "backbone": _backbone, "frontend": _frontend,
    "act": lambda node, affine, shapes: ACTIVATIONS.get(_attr(node, "act")).build(**node.attrs.get("params", {})),
    "layernorm": lambda node, affine, shapes: nn.LayerNorm(list(_attr(node, "shape"))),
    "reduce": lambda node, affine, shapes: FactorizedReduce(int(_attr(node, "c_in")), int(_attr(node, "c_out")),
                                                            affine=affine),
    "resample": lambda node, affine, shapes: Resample(tuple(_in_shape(node, shapes)[1:]), tuple(node.shape[1:])),
}


def build_block(node: GNode, *, affine: bool = True, in_shapes: Sequence[Shape] | None = None) -> nn.Module | None:
    """The module computing ``node``, or ``None`` for the kinds that are functions.

    ``affine=False`` gives BN without learned scale in ops, projections, reductions and
    ``to_seq`` (a DARTS supernet). ``in_shapes`` (the shapes of ``node.inputs``) is needed by
    front-ends and backbones when their attrs hold no ``in_shape``, and by ``to_seq``
    without ``positions``.
    """
    if node.kind in FUNCTION_KINDS or _act_function(node):
        return None
    if node.kind in MIXED_KINDS:
        return build_mixed(node, affine)
    if node.kind not in _BUILDERS:
        raise CompileError(f"node {node.name!r} has an unknown kind {node.kind!r}")
    return _BUILDERS[node.kind](node, affine, in_shapes)


# ---------------------------------------------------------------- names and the generated forward


def sum_all(*xs: torch.Tensor) -> torch.Tensor:
    """Element-wise sum of the inputs, left to right (a ``sum`` node: one call in the forward)."""
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out


#: names a node may not take: nn.Module's attributes, those GraphNet sets, and the names the
#: generated forward uses (``self``, the globals torch.fx code refers to)
RESERVED: frozenset[str] = frozenset(dir(nn.Module())) | {
    "arch", "graph", "names", "input_names", "output_names", "code", "fx_graph", "affine", "module_of",
    "self", "torch", "operator", "inf", "nan", "NoneType", "device", "fx_pytree", "pytree"}


def sanitize(name: str) -> str:
    """A Python identifier for a node name: ``"fusion[1].x"`` -> ``"fusion_1__x"``.

    Every character outside ``[0-9A-Za-z_]`` becomes ``_``; a leading digit gets ``n_``; a
    Python keyword or an attribute of ``nn.Module`` / :class:`GraphNet` gets a trailing ``_``.
    """
    out = re.sub(r"[^0-9A-Za-z_]", "_", name) or "_"
    if out[0].isdigit():
        out = "n_" + out
    if keyword.iskeyword(out) or out in RESERVED or out.startswith("__"):
        out += "_"
    return out


def attribute_names(graph: Graph) -> dict[str, str]:
    """node name -> its attribute / variable name; two nodes sanitized alike raise :class:`CompileError`."""
    names: dict[str, str] = {}
    owner: dict[str, str] = {}
    for node in graph.nodes:
        attr = sanitize(node.name)
        if attr in owner:
            raise CompileError(f"nodes {owner[attr]!r} and {node.name!r} both map to the attribute {attr!r}; "
                               "rename one of them")
        owner[attr] = node.name
        names[node.name] = attr
    return names


#: parameter-free activations emitted as function calls (no module call in the forward)
ACT_FUNCTIONS: dict[str, Any] = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


def _act_function(node: GNode) -> bool:
    return node.kind == "act" and node.attrs.get("act") in ACT_FUNCTIONS and not node.attrs.get("params")


def _fx_node(g: torch.fx.Graph, node: GNode, args: list[torch.fx.Node], attr: str,
             arch_keys: Mapping[str, str], direct: frozenset[str] = frozenset()) -> torch.fx.Node:
    kind = node.kind
    if _act_function(node):
        return g.create_node("call_function", ACT_FUNCTIONS[node.attrs["act"]], (args[0],), name=attr)
    if kind == "backbone" and node.name in direct:  # a body that returns its taps as a list
        return g.create_node("call_module", f"{attr}.body", tuple(args), name=attr)
    if kind in MIXED_KINDS:
        return fx_mixed(g, node, args, attr, arch_keys[node.attrs["decision"]])
    if kind == "tap":
        return g.create_node("call_function", operator.getitem, (args[0], int(_attr(node, "index"))), name=attr)
    if kind == "sum":
        fn = operator.add if len(args) == 2 else sum_all
        return g.create_node("call_function", fn, tuple(args), name=attr)
    if kind == "concat":
        return g.create_node("call_function", torch.cat, (list(args),), {"dim": 1}, name=attr)
    if kind == "gap":
        return g.create_node("call_method", "mean", (args[0], (2, 3)), name=attr)
    if kind == "flatten":
        return g.create_node("call_method", "flatten", (args[0], 1), name=attr)
    if kind == "as_map":
        return g.create_node("call_method", "reshape", (args[0], (-1, *node.shape)), name=attr)
    return g.create_node("call_module", attr, tuple(args), name=attr)


def fx_graph(graph: Graph, names: dict[str, str], arch_keys: Mapping[str, str] | None = None,
             direct: frozenset[str] = frozenset()) -> torch.fx.Graph:
    """The ``torch.fx.Graph`` of the forward: placeholders in ``graph.inputs`` order, one node per GNode."""
    g = torch.fx.Graph()
    env: dict[str, torch.fx.Node] = {}
    for name in graph.inputs:
        if name not in graph or graph[name].kind != "input":
            raise CompileError(f"graph input {name!r} is not an input node")
        env[name] = g.placeholder(names[name])
    for node in graph.nodes:
        if node.kind == "input":
            if node.name not in env:
                raise CompileError(f"input node {node.name!r} is not listed in the graph's inputs")
            continue
        missing = [i for i in node.inputs if i not in env]
        if missing:
            raise CompileError(f"node {node.name!r} reads {missing[0]!r} before it is defined")
        env[node.name] = _fx_node(g, node, [env[i] for i in node.inputs], names[node.name], arch_keys or {}, direct)
    unknown = [o for o in graph.outputs if o not in env]
    if unknown or not graph.outputs:
        raise CompileError(f"graph output {unknown[0]!r} is not a node" if unknown else "the graph has no outputs")
    outs = [env[o] for o in graph.outputs]
    g.output(outs[0] if len(outs) == 1 else tuple(outs))
    g.lint()
    return g


def compile_forward(g: torch.fx.Graph) -> tuple[Any, str]:
    """(function, source) of the straight-line forward ``g`` generates (``self.<attr>`` module calls)."""
    py = g.python_code(root_module="self")
    src = py.src.strip() + "\n"
    key = f"<genolang.GraphNet.forward#{next(_COUNTER)}>"
    linecache.cache[key] = (len(src), None, src.splitlines(True), key)  # tracebacks and inspect show it
    scope = dict(py.globals)
    exec(compile(src, key, "exec"), scope)  # our own generated code, compiled once
    return scope["forward"], src


def _returns_tap_list(backbone: nn.Module | None) -> bool:
    """Whether a backbone node's body returns the list of its taps itself."""
    assert backbone is not None, "every backbone node has a module (built by GraphNet)"
    return bool(getattr(backbone.body, "returns_tap_list", False))


class GraphNet(nn.Module):
    """The network of a :class:`Graph`: node modules as attributes, a generated forward.

    ``forward(*inputs)`` takes the graph inputs in ``graph.inputs`` order (or by name, the
    sanitized input names) and returns one tensor, or a tuple for several outputs.
    Attributes: ``graph`` (the IR), ``names`` (node name -> attribute name), ``input_names``,
    ``output_names``, ``fx_graph`` (the ``torch.fx.Graph``) and ``code`` (the forward's source).
    ``modules`` (node name -> module) gives nodes existing modules instead of new ones: two
    nets then share them (:func:`genolang.compiler.static.split_net`).
    """

    def __init__(self, graph: Graph, *, affine: bool = True, arch: ArchParams | None = None,
                 modules: Mapping[str, nn.Module] | None = None):
        super().__init__()
        if arch is not None:
            self.arch = arch  # a supernet's ArchParams: the mixed nodes read their weights from it
        self.graph = graph
        self.affine = affine
        self.names = attribute_names(graph)
        self.input_names = tuple(graph.inputs)
        self.output_names = tuple(graph.outputs)
        fx_graph(graph, self.names, {n.attrs["decision"]: "_" for n in graph.nodes if "decision" in n.attrs})
        for node in graph.nodes:  # the graph is well formed (checked above): build (or take) its modules
            module = (modules or {}).get(node.name)
            if module is None:
                module = build_block(node, affine=affine, in_shapes=[graph[i].shape for i in node.inputs])
            if module is not None:
                setattr(self, self.names[node.name], module)
        self._install_forward()
        log.debug("built GraphNet of %d nodes (%s)", len(graph.nodes), graph.genotype or "unnamed genotype")

    def _install_forward(self) -> None:
        """Generate and compile the forward; a per-instance subclass holds it (as torch.fx does)."""
        arch = self._modules.get("arch")
        keys = {p: arch.key(p) for p in arch.paths()} if isinstance(arch, ArchParams) else {}
        direct = frozenset(n.name for n in self.graph.nodes
                           if n.kind == "backbone" and _returns_tap_list(self.module_of(n.name)))
        self.fx_graph = fx_graph(self.graph, self.names, keys, direct)
        forward, self.code = compile_forward(self.fx_graph)
        self.__class__ = type(GraphNet.__name__, (GraphNet,), {"forward": forward, "__module__": __name__,
                                                                "__qualname__": GraphNet.__qualname__})

    def module_of(self, node: str) -> nn.Module | None:
        """The module of node ``node`` (``None`` for function nodes)."""
        module: nn.Module | None = getattr(self, self.names[node], None)
        return module
    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("fx_graph", "code")}
        return _restore, (state,)


def _restore(state: dict[str, Any]) -> GraphNet:
    """Unpickle / deep-copy a :class:`GraphNet`: its state, and the forward generated anew."""
    net = GraphNet.__new__(GraphNet)
    net.__dict__.update(state)
    net._install_forward()
    return net


def build_module(graph: Graph, *, affine: bool = True, arch: ArchParams | None = None) -> GraphNet:
    """The :class:`GraphNet` of ``graph`` (``affine=False``: BN without learned scale, a supernet).

    A graph with mixed nodes (a supernet's) needs ``arch``, the
    :class:`~genolang.compiler.relax.ArchParams` holding their logits.
    """
    return GraphNet(graph, affine=affine, arch=arch)
