"""Hypothesis strategies over whole SPACES (the text a user writes), not genotypes.

A space is drawn construct by construct: inputs (maps of odd and even sizes, sequences,
vectors), nodes with searched ops, activations, widths, kernels and strides (3 included:
sizes no halving aligns), nodes without an op combining values of mixed kinds and sizes,
normalisation and attention whose divisor parameters may not divide a searched width, 1-D
convolutions over whatever they read, repeats with `@prev` and skip subsets,
groups with and without `in`, `when` blocks with readers inside or outside them, `forbid`
rules, reference decisions, cells stacked with a searched stride, and a head with searched
fields. Some draws are deliberately wrong (a field out of range, a node that may read
nothing, a read of a conditional element): `check` must refuse those with a GenolangError.
Shrinking removes members and moves every choice towards its first option, so a failing
space shrinks to a minimal one.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

MAP_OPS = ("conv3x3", "sep3x3", "maxpool3x3", "avgpool3x3", "identity", "skip_connect", "dil_conv_3x3")
ACTS = ("relu", "tanh", "sigmoid", "identity", "gelu")


class _Space:
    """The text being drawn and the names a later member may read."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.readable: list[tuple[str, str]] = []  # (path, "map" | "seq" | "vector" | "mixed"), always built
        self.n = 0
        self.flags: list[str] = []

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"


def _width(draw: Any, field: str, *, wrong: bool) -> str:
    if wrong and draw(st.integers(0, 9)) == 0:
        return f"{field} = {draw(st.sampled_from(['0', '1.5', '-2']))}"
    if draw(st.booleans()):
        return f"{field} = {draw(st.sampled_from([2, 4, 6]))}"
    options = draw(st.lists(st.sampled_from([2, 3, 4, 8]), min_size=1, max_size=3, unique=True))
    return f"{field}: choice({', '.join(map(str, options))})"


def _map_node(draw: Any, sp: _Space, src: str, *, wrong: bool) -> str:
    ops = draw(st.lists(st.sampled_from(MAP_OPS), min_size=1, max_size=3, unique=True))
    op = f"op = {ops[0]}" if len(ops) == 1 else f"op: choice({', '.join(ops)})"
    act = draw(st.sampled_from(["", "act = relu", f"act: choice({', '.join(ACTS[:3])})"]))
    return "; ".join(x for x in (op, act, f"x = {src}") if x)


def _conv_node(draw: Any, src: str, *, wrong: bool) -> str:
    kernel = draw(st.sampled_from(["kernel = 3", "kernel: choice(1, 3, 5)", "kernel_h = 1; kernel_w = 3"]
                                  + (["kernel = 4", "kernel: int(1..3)"] if wrong else [])))
    stride = draw(st.sampled_from(["", "stride = 1", "stride: choice(1, 2)", "stride: choice(1, 3)", "stride = 3"]))
    return "; ".join(x for x in ("op = conv", kernel, _width(draw, "filters", wrong=wrong), stride, f"x = {src}") if x)


def _fc_node(draw: Any, src: str, *, wrong: bool) -> str:
    act = draw(st.sampled_from(["", "act: choice(relu, tanh)"]))
    return "; ".join(x for x in ("op = fc", _width(draw, "hidden", wrong=wrong), act, f"x = {src}") if x)


@st.composite
def _member(draw: Any, sp: _Space, *, wrong: bool) -> None:
    maps = [p for p, k in sp.readable if k in ("map", "mixed")]  # "mixed": a map op sees it as a map
    kind = draw(st.sampled_from(["node", "conv", "fc", "repeat", "group", "when", "choice", "cells", "shared",
                                 "mix", "norm", "seq", "strided"]
                                if maps else ["fc", "choice", "when", "shared", "mix", "norm", "seq"]))
    src = "@" + draw(st.sampled_from(maps if kind in ("node", "conv", "repeat", "group", "cells", "strided") and maps
                                     else [p for p, _ in sp.readable]))
    name = sp.name("m")
    if kind == "node":
        sp.lines.append(f"node {name} {{ {_map_node(draw, sp, src, wrong=wrong)} }}")
        sp.readable.append((name, "map"))
    elif kind == "conv":
        sp.lines.append(f"node {name} {{ {_conv_node(draw, src, wrong=wrong)} }}")
        sp.readable.append((name, "map"))
    elif kind == "fc":
        sp.lines.append(f"node {name} {{ {_fc_node(draw, src, wrong=wrong)} }}")
        sp.readable.append((name, "vector"))
    elif kind == "repeat":
        _repeat(draw, sp, name, src, wrong=wrong)
    elif kind == "group":
        _group(draw, sp, name, src, wrong=wrong)
    elif kind == "when":
        _when(draw, sp, name, src, wrong=wrong)
    elif kind == "cells":
        _stack(draw, sp, name, src)
    elif kind == "shared":
        _shared(draw, sp, name, src, wrong=wrong)
    elif kind == "strided":  # a map and its strided copy summed: sizes no halving may align (stride 3)
        sp.lines.append(f"node {name} {{ op = conv; kernel = 3; filters = 2; stride: choice(1, 2, 3); x = {src} }}")
        sp.lines.append(f"node {name}_s {{ combine = {draw(st.sampled_from(['sum', 'concat']))}; "
                        f"x = [{src}, @{name}] }}")
        sp.readable.append((f"{name}_s", "map"))
    elif kind == "mix":
        _mix(draw, sp, name)
    elif kind == "norm":
        _norm(draw, sp, name, src)
    elif kind == "seq":
        sp.lines.append(f"node {name} {{ op = conv1d; {_width(draw, 'filters', wrong=wrong)}; "
                        f"stride: choice(1, 2); x = {src} }}")
        sp.readable.append((name, "seq"))
    else:
        _choice(draw, sp, name, wrong=wrong)


def _repeat(draw: Any, sp: _Space, name: str, src: str, *, wrong: bool) -> None:
    count, lo = draw(st.sampled_from(["2", "3"])), "1"
    if draw(st.booleans()):
        lo = draw(st.sampled_from(["1", "0"])) if wrong else "1"
        sp.lines.append(f"{name}_n: int({lo}..3)")
        count = f"{name}_n"
    skip = draw(st.sampled_from(["", f"; s: subset({name}.before)"]))
    if wrong and draw(st.booleans()):  # the first instance reads `@prev`: nothing outside a group
        sp.lines.append(f"node {name}[{count}] {{ op: choice(conv3x3, sep3x3); act = relu; x = @prev{skip} }}")
    else:
        sp.lines.append(f"node {name}[{count}] {{ op: choice(conv3x3, identity); "
                        f"a: one({src[1:]}, {name}.before){skip} }}")
    # `@name` is the last active instance; with a count that may be 0 there is none (E0293)
    sp.readable.append((name, "map"))


def _group(draw: Any, sp: _Space, name: str, src: str, *, wrong: bool) -> None:
    has_in = not wrong or draw(st.booleans())
    head = f"group {name} {{ {'in = ' + src + '; ' if has_in else ''}channels = {draw(st.sampled_from([2, 4]))}"
    body = f"node l[{draw(st.sampled_from([1, 2]))}] {{ op: choice(conv3x3, sep3x3, maxpool3x3); x = @prev; " \
           f"s: subset(l.before) }}"
    out = draw(st.sampled_from(["last", "concat_all", "sum_all", "concat_loose"]))
    sp.lines.append(f"{head}\n  {body}\n  out = {out} }}")
    sp.readable.append((name, "map"))
    if draw(st.booleans()):
        sp.readable.append((f"{name}.l[0]", "map"))  # a member read from outside the group


def _when(draw: Any, sp: _Space, name: str, src: str, *, wrong: bool) -> None:
    flag = f"{name}_on"
    sp.lines.append(f"{flag}: bool")
    sp.flags.append(flag)
    node = _fc_node(draw, src, wrong=wrong)
    inner = f"node {name} {{ {node} }}"
    reader = f"node {name}_r {{ op = fc; hidden = 4; x = @{name} }}"
    if wrong and draw(st.booleans()):
        sp.lines.append(f"when {flag} {{ {inner} }}\n{reader}")  # reads an element only sometimes built
    else:
        sp.lines.append(f"when {flag} {{ {inner}\n  {reader} }}")
    if draw(st.booleans()):
        sp.lines.append(f"forbid {flag} and {draw(st.sampled_from(sp.flags))} == false")


def _choice(draw: Any, sp: _Space, name: str, *, wrong: bool) -> None:
    cands = draw(st.lists(st.sampled_from([p for p, _ in sp.readable]), min_size=1, max_size=3, unique=True))
    mode = draw(st.sampled_from(["one", "subset_min", "subset"] if wrong else ["one", "subset_min"]))
    dom = {"one": f"one({', '.join(cands)})", "subset_min": f"subset({', '.join(cands)}, min=1)",
           "subset": f"subset({', '.join(cands)})"}[mode]
    sp.lines.append(f"node {name} {{ op = fc; hidden = 4; combine = concat; a: {dom} }}")
    sp.readable.append((name, "vector"))


def _shared(draw: Any, sp: _Space, name: str, src: str, *, wrong: bool) -> None:
    """One decision used by two fields, once through arithmetic (`hidden = w * 2 + 1`)."""
    sp.lines.append(f"{name}_w: {draw(st.sampled_from(['choice(2, 4)', 'int(1..3)']))}")
    computed = draw(st.sampled_from([f"{name}_w * 2 + 1", f"3 * {name}_w", f"{name}_w + {name}_w"]
                                    + ([f"{name}_w - 2"] if wrong else [])))  # 0 for w = 2: E0290
    sp.lines.append(f"node {name} {{ op = fc; hidden = {name}_w; x = {src} }}")
    sp.lines.append(f"node {name}_b {{ op = fc; hidden = {computed}; x = @{name} }}")
    sp.readable.append((f"{name}_b", "vector"))


def _mix(draw: Any, sp: _Space, name: str) -> None:
    """A node without an op over values of any kinds and sizes: the adapters must align them."""
    cands = draw(st.lists(st.sampled_from([p for p, _ in sp.readable]), min_size=1, max_size=3, unique=True))
    how = draw(st.sampled_from(["sum", "concat"]))
    sp.lines.append(f"node {name} {{ combine = {how}; a: subset({', '.join(cands)}, min=1) }}")
    sp.readable.append((name, "mixed"))


def _norm(draw: Any, sp: _Space, name: str, src: str) -> None:
    """GroupNorm or attention whose groups / heads / tokens may not divide the width they meet."""
    op = draw(st.sampled_from(["op = group_norm; groups: choice(1, 3, 4)", "op = self_attention; heads: choice(1, 3)",
                               "op = self_attention; heads = 2; tokens: choice(1, 4)", "op = layer_norm"]))
    sp.lines.append(f"node {name} {{ {op}; x = {src} }}")
    kind = dict(sp.readable).get(src[1:], "mixed")
    sp.readable.append((name, kind))


def _stack(draw: Any, sp: _Space, name: str, src: str) -> None:
    stride = draw(st.sampled_from(["", "stride = 2; ", "stride: choice(1, 2); "]))
    sp.lines.append(f"cell {name}_c {{ in = @prev; {stride}node n[2] {{ op: choice(conv3x3, sep3x3); x = @prev }} }}")
    cells = f"{name}_c * {draw(st.sampled_from([1, 2]))}"
    if draw(st.booleans()):  # a searched count on an item that is not the last
        sp.lines.append(f"{name}_k: int(0..2)")
        cells = f"{name}_c * {name}_k, {cells}"
    sp.lines.append(f"stack {name} {{ in = {src}; channels = 4; cells = [{cells}] }}")
    sp.readable.append((name, "map"))


@st.composite
def space_texts(draw: Any, *, wrong: bool = True) -> str:
    """The text of a small space with a head; ``wrong``: some draws break the static rules."""
    sp = _Space()
    wrong = wrong and draw(st.booleans())  # half the spaces hold a mistake; shrinking removes it
    for i in range(draw(st.integers(1, 2))):
        form = draw(st.sampled_from(["map", "seq", "vector"]))
        if form == "map":
            channels, height, width = (draw(st.sampled_from(v)) for v in ([1, 3], [4, 5, 8], [4, 7, 8]))
            shape = f"[{channels}, {height}, {width}]"
            sp.readable.append((f"x{i}", "map"))
        elif form == "seq":
            shape = f"[{draw(st.sampled_from([2, 4]))}, {draw(st.sampled_from([5, 6, 9]))}]"
            sp.readable.append((f"x{i}", "seq"))
        else:
            shape = f"[{draw(st.sampled_from([3, 5]))}]"
            sp.readable.append((f"x{i}", "vector"))
        sp.lines.append(f"input x{i} {{ shape = {shape} }}")
    for _ in range(draw(st.integers(0, 4))):
        draw(_member(sp, wrong=wrong))
    sp.lines.append(_head(draw, sp, wrong=wrong))
    return "genolang 1\nspace gen version 1 {\n  " + "\n  ".join(sp.lines) + "\n}\n"


def _head(draw: Any, sp: _Space, *, wrong: bool) -> str:
    paths = [p for p, _ in sp.readable]
    src = f"in = @{paths[-1]}" if draw(st.booleans()) else f"in: one({', '.join(paths[-3:])})"
    classes = draw(st.sampled_from(["classes = 3", "classes: choice(2, 5)"] + (["classes = 0"] if wrong else [])))
    hidden = draw(st.sampled_from(["", "hidden = 8", "hidden: choice(4, 8)"]))
    dropout = draw(st.sampled_from(["", "dropout = 0.5", "dropout: choice(0.0, 0.3)"]
                                   + (["dropout = 1.5", "dropout: float(0.0..1.0)"] if wrong else [])))
    return "head h { " + "; ".join(x for x in (src, classes, hidden, dropout) if x) + " }"
