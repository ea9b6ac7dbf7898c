"""The error catalogue: one table of every code :func:`genolang.loads` reports.

Each :class:`ErrorCase` holds a minimal complete document that triggers its code, where the
caret must point (1-based line and column), a fragment of the message and, where the error
suggests a name, that name. The table drives ``tests/test_errors.py`` and ``docs/errors.md``
(:func:`render_markdown`; a test keeps the page equal to it). Syntax cases reuse the examples
of :data:`genolang.syntax_errors.SYNTAX_CASES`.

Not in the table:

* E0260-E0263 (templates): the language has no templates yet.
* E0370 (budget violated) and E0380 (shape mismatch): the compiler's job, not the loader's.
* Codes that only the Space API raises (see :data:`API_ONLY`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genolang.syntax_errors import SYNTAX_CASES


@dataclass(frozen=True)
class ErrorCase:
    code: str
    title: str
    text: str                 # a complete document
    line: int                 # where the caret points (1-based)
    column: int
    fragment: str             # the message contains it
    suggestion: str = ""      # the did-you-mean help names it
    error: str = "SpaceError"  # the exception class raised
    files: tuple[tuple[str, str], ...] = ()  # other files next to the document (imports)
    in_file: str = ""         # the file the caret is in, when not the document itself
    shown: str = ""           # what the docs show instead of a huge text


def _syntax(code: str, example: int, line: int, column: int, fragment: str, title: str) -> ErrorCase:
    case = next(c for c in SYNTAX_CASES if c.code == code)
    return ErrorCase(code, title, case.examples[example], line, column, fragment, error="GenolangSyntaxError")


H = "genolang 1\n"


def _space(body: str) -> str:
    return f"{H}space s version 1 {{\n{body}}}\n"


# A space for the genotype cases: decisions on lines 4-10.
_SP = _space("""\
  enum Op { conv3x3, sep3x3, identity }
  input x { shape = [3, 32, 32] }
  C: int(1..3)
  width: int(32..256, log, step=2)
  node n[C] {
    op: Op
    act: choice(relu, gelu)
    a: one(x, n.before)
    forbid op == identity and act == gelu
  }
""")
_N0 = "  n[0] = {op: conv3x3, act: relu, a: @x}\n"


def _geno(*lines: str) -> str:
    return _SP + "genotype g of s version 1 {\n" + "".join(lines) + "}\n"


# A space with reference decisions of every kind (lines 3-7).
_REF = _space("""\
  enum Ops { conv3x3, sep3x3 }
  input x { shape = [3, 32, 32] }
  C: int(1..3)
  node n[C] { op = conv3x3; in = @x }
  node out { op = fc; i: pick(2, x, n[*]); e: one(x, n[*], op=Ops) }
""")


def _refs(value: str) -> str:
    return _REF + f"genotype g of s version 1 {{\n  C = 1\n  out = {value}\n}}\n"


G = "GenotypeError"
L = "LimitError"
S = "GenolangSyntaxError"

CATALOGUE: tuple[ErrorCase, ...] = (
    # ------------------------------------------------------------ syntax
    _syntax("E0100", 1, 2, 44, "unexpected end of file", "unclosed bracket at end of file"),
    _syntax("E0101", 0, 2, 26, "a decision needs ':'", "missing ':' in a decision"),
    _syntax("E0102", 0, 2, 29, "a domain is introduced with ':'", "'=' used instead of ':' for a domain"),
    _syntax("E0103", 0, 2, 30, "assigned with '='", "':' used instead of '=' in a genotype"),
    _syntax("E0104", 0, 2, 36, "missing ','", "missing comma in a list or record"),
    _syntax("E0105", 0, 1, 1, "version header", "missing `genolang N` header"),
    _syntax("E0106", 0, 2, 33, "unexpected character", "illegal character (single quotes)"),
    ErrorCase("E0107", "unsupported language version", H.replace("1", "2") + "space s version 1 { }\n",
              1, 10, "unsupported language version 2", error=S),
    _syntax("E0108", 0, 2, 31, "two dots", "'...' in a range"),
    _syntax("E0109", 0, 2, 42, "unterminated string", "unterminated string"),
    _syntax("E0110", 0, 2, 42, "unknown escape '\\q'", "unknown escape in a string"),
    _syntax("E0111", 0, 2, 9, "needs `version N`", "missing `version N` after a space name"),
    ErrorCase("E0112", "number out of range", _space("  lr: float(0.0..1e999)\n"), 3, 18,
              "number 1e999 is out of range", error=S),
    ErrorCase("E0199", "any other unexpected token", _space("  x: int(1..3))\n"), 3, 15, "unexpected ')'",
              error=S),
    # ------------------------------------------------------------ space semantics
    ErrorCase("E0210", "duplicate enum member", _space("  enum Act { relu, tanh, relu }\n"), 3, 26,
              "duplicate member 'relu' in enum Act"),
    ErrorCase("E0211", "name defined twice in one scope", _space("  C: int(1..3)\n  C: int(1..4)\n"), 4, 3,
              "'C' is defined twice"),
    ErrorCase("E0212", "space defined twice", _space("") + "space s version 1 { }\n", 4, 1,
              "space 's' is defined twice"),
    ErrorCase("E0212", "space defined twice (imported)", H + 'import "other.geno"\nspace s version 1 { }\n',
              3, 1, "space 's' is defined twice", files=(("other.geno", _space("")),)),
    ErrorCase("E0213", "import of a missing file", H + 'import "nowhere.geno"\n', 2, 1,
              "cannot import 'nowhere.geno'"),
    ErrorCase("E0213", "import path holding a NUL character", H + 'import "a\x00b.geno"\n', 2, 1,
              "a path cannot hold a NUL character", shown=H + 'import "a<NUL>b.geno"\n'),
    ErrorCase("E0214", "import cycle", H + 'import "a.geno"\n', 2, 1, "import cycle",
              files=(("a.geno", H + 'import "b.geno"\n'), ("b.geno", H + 'import "a.geno"\n')),
              in_file="b.geno"),
    ErrorCase("E0220", "unknown name in a count or constant",
              _space("  let C = 3\n  node n[CC] { op = conv3x3 }\n"), 4, 10, "unknown name 'CC'", "C"),
    ErrorCase("E0221", "computed constant out of range", _space("  let A = 1000000000 * 1000000000000\n"), 3, 11,
              "constant out of range"),
    ErrorCase("E0222", "`let` bound to a searched decision", _space("  width: int(8..64)\n  let W = width\n"),
              4, 11, "'width' is a decision, but a constant is needed"),
    ErrorCase("E0223", "domain bound depends on a decision", _space("  C: int(1..3)\n  x: int(1..C)\n"),
              4, 13, "domain bounds must be constants"),
    ErrorCase("E0224", "repeat count is not an int decision",
              _space("  lr: float(0.1..0.5)\n  node n[lr] { op = conv3x3 }\n"), 4, 10,
              "repeat count 'lr' must be a non-negative int decision"),
    ErrorCase("E0225", "negative repeat count", _space("  node n[-2] { op = conv3x3 }\n"), 3, 10,
              "a repeat count must be a non-negative integer"),
    ErrorCase("E0230", "unknown enum", _space("  enum Op { conv3x3, sep3x3 }\n  node n { op: Opp }\n"), 4, 16,
              "unknown enum 'Opp'", "Op"),
    ErrorCase("E0231", "unknown domain kind", _space("  lr: flaot(0.1..0.5)\n"), 3, 7,
              "unknown domain kind 'flaot'", "float"),
    ErrorCase("E0232", "unknown domain option", _space("  w: int(8..64, lgo)\n"), 3, 17,
              "unknown option 'lgo' for int()", "log"),
    ErrorCase("E0233", "pick without a count",
              _space("  input x { shape = [3] }\n  node n { op = fc; a: pick(x, x) }\n"), 4, 24,
              "pick() needs a count first"),
    ErrorCase("E0234", "empty range", _space("  x: int(5..1)\n"), 3, 6, "empty range 5..1"),
    ErrorCase("E0234", "log scale with a non-positive bound", _space("  lr: float(-9.0..-1.0, log)\n"), 3, 7,
              "log scale needs a positive lower bound"),
    ErrorCase("E0234", "bernoulli outside (0, 1)", _space("  b: bernoulli(1.5)\n"), 3, 6,
              "strictly between 0 and 1"),
    ErrorCase("E0234", "duplicate choice option", _space("  a: choice(relu, tanh, relu)\n"), 3, 6,
              "duplicate option 'relu'"),
    ErrorCase("E0234", "step does not divide the range", _space("  w: int(1..8, step=3)\n"), 3, 6,
              "step 3 does not divide 1..8"),
    ErrorCase("E0234", "subset minimum that is not a count",
              _space("  node a[2] { op = conv3x3 }\n  node b { op = conv3x3; in: subset(a[*], min=-1) }\n"), 4, 30,
              "min must be a non-negative integer"),
    ErrorCase("E0235", "pick with fewer candidates than its count",
              _space("  node a[2] { op = conv3x3 }\n  node b { op = conv3x3; in: pick(3, a[*]) }\n"), 4, 30,
              "can never be satisfied"),
    ErrorCase("E0236", "unknown op, activation or output rule", _space("  node n { op: choice(conv3x3, conv33) }\n"),
              3, 32, "unknown op 'conv33'", "conv3x3"),
    ErrorCase("E0240", "default outside the domain", _space("  width: int(8..256) = 300\n"), 3, 24,
              "default 300 is outside 8..256"),
    ErrorCase("E0242", "invalid fixed field value",
              _space("  input x { shape = [1] }\n  backbone b { model = lenet_imag; in = @x }\n"),
              4, 24, "invalid backbone model", "lenet_image"),
    ErrorCase("E0243", "required field missing", _space("  input x { dtype = float32 }\n"), 3, 9,
              "this input needs a field 'shape'"),
    ErrorCase("E0244", "unknown field of a block",
              _space("  input x { shape = [4] }\n  head h { in = @x; clases = 10 }\n"), 4, 21,
              "a head has no field 'clases'", "classes"),
    ErrorCase("E0245", "unknown block kind", _space("  nod n { op = conv3x3 }\n"), 3, 3,
              "unknown block kind 'nod'", "node"),
    ErrorCase("E0246", "repeated block of a kind that cannot repeat", _space("  cell c[2] { }\n"), 3, 10,
              "a cell block cannot be repeated"),
    ErrorCase("E0247", "`name * count` outside a stack", _space("  node n { op = conv3x3; k = c * 2 }\n"),
              3, 30, "only meaningful in a stack's `cells`"),
    ErrorCase("E0248", "stack of an unknown cell",
              _space("  input x { shape = [3, 32, 32] }\n  cell normal { }\n"
                     "  stack st { in = @x; cells = [norml * 2] }\n"), 5, 32,
              "'norml' is not a cell declared earlier", "normal"),
    ErrorCase("E0250", "`g.before` outside `g[...]`",
              _space("  node layer[2] { op = conv3x3 }\n  node out { op = fc; a: one(layer.before) }\n"), 4, 30,
              "'layer.before' used outside of a repeated 'layer[...]' block"),
    ErrorCase("E0251", "unknown reference set",
              _space("  node layer[2] { op = conv3x3 }\n  node out { op = fc; a: one(layr[*]) }\n"), 4, 30,
              "unknown name 'layr'", "layer"),
    ErrorCase("E0252", "reference to something that is not referable",
              _space("  enum Op { a, b }\n  node n { op = conv3x3; x: one(Op) }\n"), 4, 33,
              "not something a reference can point to"),
    ErrorCase("E0253", "reference to an enclosing block", _space("  node n { op = conv3x3; a: one(n) }\n"),
              3, 33, "'n' contains this declaration"),
    ErrorCase("E0254", "`prev` in a reference decision", _space("  node n[2] { op = conv3x3; a: one(prev) }\n"),
              3, 32, "'prev' can only be used in fixed fields"),
    ErrorCase("E0270", "condition on an unknown decision", _space("  op: choice(a, b)\n  forbid opp == a\n"),
              4, 10, "unknown decision 'opp'", "op"),
    ErrorCase("E0271", "condition on an impossible value",
              _space("  enum Op { identity, conv }\n  op: Op\n  forbid op == indentity\n"), 5, 16,
              "indentity is not a member of enum Op", "identity"),
    ErrorCase("E0290", "a decision's domain holds a value its field does not accept",
              _space("  input x { shape = [4] }\n  head h { in = @x; classes = 3; dropout: choice(0.0, 0.5, 1.5) }\n"),
              4, 43, "holds 1.5"),
    ErrorCase("E0291", "decision on a field that is never searched",
              _space("  input x { shape = [3, 8, 8]; dtype: choice(float32, float16) }\n"), 3, 32,
              "an input's `dtype` cannot be searched"),
    ErrorCase("E0292", "a decision's name or arithmetic inside a list or record",
              _space("  w: choice(8, 16)\n  input x { shape = [3, w, w] }\n"), 4, 25,
              "'w' is a searched decision; a decision's value can be a whole field's value"),
    ErrorCase("E0293", "fixed reference to an element some genotype does not build",
              _space("  input x { shape = [4] }\n  deep: bool\n  when deep { node b { op = fc; in = @x } }\n"
                     "  head h { in = @b; classes = 2 }\n"), 6, 8, "which is built only when deep == True"),
    ErrorCase("E0294", "node that may have no input",
              _space("  input x { shape = [4] }\n  node b { op = fc; in: subset(x) }\n"
                     "  head h { in = @b; classes = 2 }\n"),
              4, 8, "node 'b' may have no input"),
    ErrorCase("E0295", "map op reading an element that is never a map",
              _space("  input v { shape = [12] }\n  node a { op: choice(conv3x3, sep3x3); in = @v }\n"
                     "  head h { in = @a; classes = 2 }\n"), 4, 8, "consumes maps (C, H, W)"),
    ErrorCase("E0296", "node field that one of its ops does not take",
              _space("  input x { shape = [3, 8, 8] }\n  node a { op: choice(conv3x3, conv); kernel = 5; in = @x }\n"
                     "  head h { in = @a; classes = 2 }\n"), 4, 8, "op 'conv3x3' of 'a' takes no field 'kernel'"),
    ErrorCase("E0297", "backbone reading something other than an input",
              _space("  input x { shape = [1, 28, 28] }\n  node c { op = conv3x3; in = @x }\n"
                     "  backbone b { model = lenet5; in = @c }\n  head h { in = @b.tap[3]; classes = 2 }\n"),
              5, 12, "a backbone reads an `input` block"),
    ErrorCase("E0298", "backbone that cannot take its input's shape",
              _space("  input x { shape = [1, 8, 8] }\n  backbone b { model = lenet5; in = @x }\n"
                     "  head h { in = @b.tap[3]; classes = 2 }\n"),
              4, 12, "too small for the conv blocks"),
    ErrorCase("E0299", "binary op on a node that may not read exactly two values",
              _space("  input s { shape = [4, 10] }\n  input t { shape = [4, 10] }\n"
                     "  node n { op = attention; length = 10; a: subset(s, t, min=1) }\n"
                     "  head h { in = @n; classes = 2 }\n"),
              5, 8, "takes two inputs (x, y), but the node reads from 1 to 2"),
    ErrorCase("E0280", "unknown metric", _space("  require latncy <= 5ms\n"), 3, 3,
              "unknown metric 'latncy'", "latency"),
    ErrorCase("E0281", "unit invalid for the metric", _space("  require params <= 5m\n"), 3, 3,
              "'m' is not a unit for params"),
    ErrorCase("E0282", "a decision named as a field value may be inactive there",
              _space("  b: bool\n  when b { w: choice(16, 32) }\n  input x { shape = [3, 8, 8] }\n"
                     "  node n { in = @x; op = conv; filters = w }\n"), 6, 42,
              "decision 'w' is not active everywhere this field is"),
    ErrorCase("E0283", "a reference decision named as a field value",
              _space("  input x { shape = [4] }\n  input y { shape = [4] }\n  r: one(x, y)\n"
                     "  node n { op = fc; hidden = 4; in = r }\n"), 6, 38,
              "'r' selects references", "@r"),
    ErrorCase("E0284", "arithmetic on something that is not a number",
              _space("  act: choice(relu, tanh)\n  input x { shape = [4] }\n"
                     "  node n { in = @x; op = fc; hidden = act * 2 }\n"), 5, 39,
              "decision 'act' (choice(relu, tanh)) is not a number"),
    ErrorCase("E0287", "a post-processing step the block cannot apply",
              _space("  input x { shape = [4] }\n  group g { in = @x; node n { op = fc; hidden = 4 }; "
                     "post = [project] }\n"), 4, 61,
              "neither this block nor an enclosing one sets `channels`"),
    ErrorCase("E0320", "index out of range in a reference",
              _space("  node a[2] { op = conv3x3 }\n  node b { op = conv3x3; in = @a[5] }\n"), 4, 31,
              "'a[5]' does not exist: index out of range"),
    ErrorCase("E0360", "several references where one is expected",
              _space("  input x { shape = [1, 28, 28] }\n  backbone b { model = lenet_image; in = @x }\n"
                     "  node n { op = fc; in = @b.tap }\n"), 5, 26, "'@b.tap' names 3 things"),
    # ------------------------------------------------------------ genotype semantics
    ErrorCase("E0300", "genotype of an unknown space", H + "space s version 1 { }\ngenotype g of ss version 1 { }\n",
              3, 10, "unknown space 'ss'", "s", G),
    ErrorCase("E0301", "fingerprint mismatch (space edited without a version bump)",
              H + 'space s version 1 { x: bool }\ngenotype g of s version 1 fingerprint "sha256:00" { x = true }\n',
              3, 10, "changed since genotype 'g' was written", error=G),
    ErrorCase("E0302", "genotype of another space version",
              H + "space s version 1 { x: bool }\ngenotype g of s version 2 { x = true }\n", 3, 10,
              "the space is at version 1", error=G),
    ErrorCase("E0310", "path assigned twice", _geno("  C = 1\n  C = 1\n  width = 32\n", _N0), 16, 3,
              "'C' is assigned twice", error=G),
    ErrorCase("E0311", "genotype defined twice",
              H + "space s version 1 { x: bool }\ngenotype g of s version 1 { x = true }\n"
              "genotype g of s version 1 { x = false }\n", 4, 10, "genotype 'g' is defined twice", error=G),
    ErrorCase("E0320", "instance index out of range", _geno("  C = 1\n  width = 32\n", _N0, "  n[5].op = conv3x3\n"),
              18, 3, "'n[5].op' does not exist: index out of range", error=G),
    ErrorCase("E0321", "unknown decision", _geno("  C = 1\n  widht = 32\n", _N0), 16, 3,
              "unknown decision 'widht'", "width", G),
    ErrorCase("E0330", "list length differs from the repeat count",
              _geno("  C = 2\n  width = 32\n  n = [{op: conv3x3, act: relu, a: @x}, {op: sep3x3, act: relu, a: @x},\n"
                    "       {op: conv3x3, act: gelu, a: @n[1]}]\n"), 17, 7, "3 entries given for 'n' but C = 2",
              error=G),
    ErrorCase("E0331", "missing values", _geno("  C = 1\n"), 14, 10, "4 missing value(s)", error=G),
    ErrorCase("E0332", "value for an inactive decision",
              _geno("  C = 1\n  width = 32\n", _N0, "  n[1].op = conv3x3\n"), 18, 13,
              "'n[1].op' is set but inactive", error=G),
    ErrorCase("E0340", "not a member of the enum", _geno("  C = 1\n  width = 32\n", _N0.replace("conv3x3", "conv33")),
              17, 15, "conv33 is not a member of enum Op", "conv3x3", G),
    ErrorCase("E0341", "wrong type", _geno("  C = true\n  width = 32\n", _N0), 15, 7,
              "needs an integer, got bool true", error=G),
    ErrorCase("E0342", "value out of range", _geno("  C = 5\n  width = 32\n", _N0), 15, 7,
              "5 is outside 1..3 for 'C'", error=G),
    ErrorCase("E0343", "value off the step grid", _geno("  C = 1\n  width = 100\n", _N0), 16, 11,
              "100 is not on the grid", error=G),
    ErrorCase("E0350", "forbidden combination", _geno("  C = 1\n  width = 32\n", _N0.replace(
        "conv3x3, act: relu", "identity, act: gelu")), 17, 30, "forbidden combination in 'n[0]'", error=G),
    ErrorCase("E0360", "a list where one reference is expected",
              _geno("  C = 1\n  width = 32\n", _N0.replace("@x", "[@x]")), 17, 38,
              "expects a single reference, not a list", error=G),
    ErrorCase("E0361", "value is not a reference", _geno("  C = 1\n  width = 32\n", _N0.replace("@x", "x")),
              17, 38, "expects references written as @path", error=G),
    ErrorCase("E0362", "unresolvable reference", _geno("  C = 1\n  width = 32\n", _N0.replace("@x", "@y")),
              17, 38, "'@y' does not name anything in space s", error=G),
    ErrorCase("E0363", "reference not among the candidates (a back edge)",
              _geno("  C = 2\n  width = 32\n", _N0.replace("@x", "@n[1]"), _N0.replace("n[0]", "n[1]")), 17, 38,
              "'@n[1]' is not an allowed input", error=G),
    ErrorCase("E0364", "reference to an inactive instance", _refs("{i: [@x, @n[2]], e: sep3x3(@x)}"), 11, 13,
              "'@n[2]' refers to an inactive instance", error=G),
    ErrorCase("E0365", "wrong number of references", _refs("{i: [@x], e: sep3x3(@x)}"), 11, 13,
              "needs exactly 2 reference(s), got 1", error=G),
    ErrorCase("E0366", "duplicate references", _refs("{i: [@x, @x], e: sep3x3(@x)}"), 11, 13,
              "duplicate reference", error=G),
    ErrorCase("E0367", "labelled reference without its op", _refs("{i: [@x, @n[0]], e: @x}"), 11, 29,
              "each reference needs an op", error=G),
    ErrorCase("E0368", "`choose` written out of order while its slots are referred to",
              _space("  input x { shape = [3] }\n  input y { shape = [3] }\n"
                     "  node c { op = fc; in: choose(2, x, y) }\n  node d { op = fc; a: one(c.in[*]) }\n")
              + "genotype g of s version 1 {\n  c.in = [@y, @x]\n  d.a = @c.in[0]\n}\n", 9, 10,
              "written out of order", error=G),
    # ------------------------------------------------------------ limits
    ErrorCase("E0901", "file too large", _space("#" * 2_100_000 + "\n"), 1, 1, "file is too large", error=L,
              shown=_space("# ... a comment of 2,100,000 characters\n")),
    ErrorCase("E0901", "too many tokens", _space("  enum E { " + "a, " * 100_000 + "b }\n"), 1, 1,
              "tokens; the limit is", error=L, shown=_space("  enum E { a, a, ... (100,000 times) b }\n")),
    ErrorCase("E0902", "brackets nested too deep", H + "genotype g of s version 1 { x = " + "[" * 70 + "]" * 70
              + " }\n", 2, 96, "brackets nested more than 64 deep", error=L),
    ErrorCase("E0902", "expression nested too deep", _space("  let X = " + "1 + " * 250 + "1\n"), 3, 227,
              "expression nested more than 200 deep", error=L,
              shown=_space("  let X = 1 + 1 + ... (250 times) 1\n")),
    ErrorCase("E0903", "repeat count too large", _space("  node n[1000000000] { op = conv3x3 }\n"), 3, 10,
              "this repeat expands to 1,000,000,000 instances", error=L),
    ErrorCase("E0903", "nested repeats expand to too many things",
              _space("  group g[100] {\n    group h[100] { node k[100] { op = conv3x3 } }\n  }\n"), 3, 11,
              "'g' expands to 1,010,200 instances", error=L),
    ErrorCase("E0905", "token too long", _space("  " + "x" * 20_000 + ": bool\n"), 3, 3,
              "name or number of 20,000 characters", error=L, shown=_space("  xxx...(20,000 characters): bool\n")),
)

#: codes raised outside :func:`genolang.loads`, with where they come from
API_ONLY: tuple[tuple[str, str, str], ...] = (
    ("E0000", "generic error", "a GenolangError built from a plain message"),
    ("E0001", "usage error", "Document.space()/genotype() with an unknown or ambiguous name; load() of a missing file"),
    ("E0002", "registry misuse", "genolang.registry: a name registered twice, a plugin (entry point) that "
                                 "fails to load (docs/extending.md)"),
    ("E0003", "unknown registered name", "genolang.registry: a name no op, activation or backbone metadata "
                                         "answers to, with close names"),
    ("E0004", "bad op parameter", "genolang.opmeta: an op, activation or backbone parameter of the wrong type, "
                                  "out of range, unknown or missing (tests/test_extensions.py)"),
    ("E0005", "op cannot consume its inputs", "genolang.opmeta: a shape rule refusing its inputs "
                                              "(tests/test_extensions.py)"),
    ("E0229", "space cannot be counted", "Space.size() of a space with float or condition-read reference decisions"),
    ("E0351", "no valid sample", "Space.sample() when `forbid` rejects every draw"),
    ("E0904", "size enumeration too large", "Space.size() with too many combinations of conditional decisions"),
    ("E0249", "retired", "no longer raised: every item of a stack's `cells` may have a searched count "
                         "(it was: only the last item)"),
    ("E0260-E0263", "templates", "not applicable: the language has no templates yet"),
    ("E0370", "budget violated", "genolang.compiler.compile_genotype: the network breaks a `require` budget "
                                 "(tests/test_compiler_budget.py)"),
    ("E0380", "shape mismatch", "genolang.compiler.lower: a torchvision or custom backbone, or a front-end, "
                                "that cannot take its fixed input (the same for every genotype); the adapters "
                                "align every other shape (tests/test_compiler_align.py)"),
    ("E0500", "bad dataset", "genolang.runtime.data: a missing modality, wrong shape or dtype, label out of range "
                             "(tests/test_data.py)"),
    ("E0600", "training failed", "genolang.runtime.train (tests/test_train.py)"),
    ("E0601", "diverged", "genolang.runtime.train: a NaN or infinite loss; a search records the trial as failed"),
    ("E0602", "out of memory", "genolang.runtime.train: a search records the trial as failed"),
    ("E0700", "ledger mismatch", "genolang.runtime.ledger: a ledger that cannot be opened or was written for "
                                 "another search (tests/test_ledger.py)"),
    ("E0701", "search cannot run", "genolang.runtime.search / genolang.searchers: a searcher that does not apply "
                                   "to the space, a bad budget"),
    ("E0702", "no search run to report", "genolang.runtime.report: a missing folder, or one with no ledger and no "
                                         "finished trial (tests/test_report.py)"),
    ("E0703", "resume refused", "genolang.runtime.runfolder: --resume on a folder that does not exist, a missing, "
                                "empty or corrupt ledger, or a budget below the trials already finished; nothing "
                                "is overwritten (tests/test_search.py)"),
    ("E0710", "optional extra missing", "genolang.runtime.ray_executor: --executor ray without Ray installed; "
                                        "the message names the extra, pip install 'genolang[ray]' "
                                        "(tests/test_ray.py)"),
    ("E0720", "cannot write a file", "genolang.files: a write that failed (a full disk, no permission); the "
                                     "message names the file, and the previous file is left as it was "
                                     "(tests/test_reliability.py)"),
    ("E0721", "unreadable weight bank", "genolang.runtime.bankfile: a truncated or foreign shared_weights.pt "
                                        "on --resume; nothing is changed (tests/test_reliability.py)"),
    ("E0722", "weights of another genotype", "genolang.compiler.weights: export --weights (or load_weights) "
                                             "with weights that store another genotype's digest"),
    ("E0723", "labels out of range for the head", "genolang.runtime.train: a split's labels do not fit the "
                                                  "network's head (train, search, final), checked before the "
                                                  "first step"),
    ("E0724", "train output folder not empty", "genolang train --out DIR: DIR holds files and --overwrite "
                                               "was not given; nothing is changed"),
)

_SECTIONS = (("E01", "Syntax"), ("E02", "Space semantics"), ("E03", "Genotype semantics"), ("E09", "Limits"))


def render_markdown() -> str:
    """``docs/errors.md``: the catalogue as a reference page."""
    out = ["# genolang error codes", "",
           "Generated from `genolang/error_catalogue.py` by `render_markdown()`; a test keeps this page",
           "equal to it (regenerate with `python -c \"import genolang.error_catalogue as c; c.write_markdown()\"`).",
           "Every error names a code, points a caret at the culprit (`file:line:col`) and, where a",
           "name looks misspelled, suggests the closest one.", ""]
    for prefix, title in _SECTIONS:
        cases = sorted((c for c in CATALOGUE if c.code.startswith(prefix)), key=lambda c: c.code)
        out += [f"## {title}", "", "| code | error | raised as | caret | message contains |", "|---|---|---|---|---|"]
        out += [f"| [{c.code}](#{_anchor(c)}) | {c.title} | `{c.error}` | {c.line}:{c.column} | "
                f"{_code(c.fragment)}{_suggest(c)} |" for c in cases]
        out.append("")
        if prefix == "E03":
            for text, name in _PRELUDES:
                out += [f"Examples marked *{name}* begin with these lines:", "", "```genolang", text.rstrip("\n"),
                        "```", ""]
        for c in cases:
            out += [f"### {c.code}: {c.title}", "", "```genolang", _shown(c), "```", ""]
            out += _files(c)
    out += ["## Raised elsewhere or not yet", "", "| code | error | where |", "|---|---|---|"]
    out += [f"| {code} | {title} | {where} |" for code, title, where in API_ONLY]
    return "\n".join(out) + "\n"


def _files(case: ErrorCase) -> list[str]:
    out: list[str] = []
    for name, text in case.files:
        out += [f"with `{name}`:", "", "```genolang", text.rstrip("\n"), "```", ""]
    return out


def _anchor(case: ErrorCase) -> str:
    keep = f"{case.code} {case.title}".lower()
    return "".join(ch for ch in keep.replace(" ", "-") if ch.isalnum() or ch in "-_")


def _code(text: str) -> str:
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


_PRELUDES = ((_SP, "space A"), (_REF, "space B"))


def _shown(case: ErrorCase) -> str:
    text = case.shown or case.text
    for prelude, name in _PRELUDES:
        if text.startswith(prelude):
            text = f"# ... {name} (lines 1-{prelude.count(chr(10))})\n" + text[len(prelude):]
    return text.rstrip("\n")


def _suggest(case: ErrorCase) -> str:
    return f"; suggests `{case.suggestion}`" if case.suggestion else ""


#: the generated page, in the source tree
DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


def write_markdown(path: str | Path = DOCS_PAGE) -> None:
    Path(path).write_text(render_markdown(), encoding="utf-8")
