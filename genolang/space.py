"""The public Space API: decisions, exact size, sampling, validation, defaults, JSON Schema."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genolang.domains import Domain, Mismatch
from genolang.errors import Collector, Diagnostic, GenotypeError, LimitError, SpaceError
from genolang.genotype import Genotype
from genolang.ir import DecisionIR, Entity, RequireIR, SpaceIR
from genolang.validate import active_candidates, check_forbids, check_values
from genolang.walk import active_decisions, branches

MAX_SAMPLE_TRIES = 1000     # rejection sampling against `forbid`
MAX_SIZE_BRANCHES = 1_000_000  # controlling assignments enumerated by size()
MAX_SIZE_WORK = 100_000  # condition and domain evaluations size() may spend (about a second)


@dataclass(frozen=True, slots=True)
class Decision:
    """One searched decision, as searchers and users see it."""

    path: str
    domain: Domain
    activity: str        # "always", or the condition under which it is active
    default: Any         # the declared default, or None
    has_default: bool
    line: int | None


class Space:
    """A validated search space. Build one with :func:`genolang.load` / :func:`genolang.loads`."""

    def __init__(self, ir: SpaceIR):
        self.ir = ir
        self._controllers = _controllers(ir)

    # ------------------------------------------------------------ identity
    @property
    def name(self) -> str:
        return self.ir.name

    @property
    def version(self) -> int:
        return self.ir.version

    @property
    def fingerprint(self) -> str:
        return self.ir.fingerprint

    @property
    def entities(self) -> dict[str, Entity]:
        """The structural skeleton the compiler lowers (paths -> entities)."""
        return self.ir.entities

    @property
    def requires(self) -> tuple[RequireIR, ...]:
        """Budgets (`require params <= 5M`); checked by the compiler, which can count."""
        return self.ir.requires

    def __repr__(self) -> str:
        return f"Space({self.name!r}, version={self.version}, decisions={len(self.ir.decisions)})"

    # ------------------------------------------------------------ decisions
    def decisions(self) -> list[Decision]:
        """Every decision, flat and in declaration order, with its activity condition."""
        return [Decision(d.path, d.domain, " and ".join(c.text() for c in d.conds) or "always",
                         d.default, d.has_default, d.span.line if d.span else None)
                for d in self.ir.decisions]

    def active_candidates(self, d: DecisionIR, values: Mapping[str, Any]) -> tuple[str, ...]:
        """For a reference decision: the candidate paths active under ``values``."""
        if d.domain.kind != "ref":
            return ()
        return active_candidates(d.domain, values)

    # ------------------------------------------------------------ size
    def size(self) -> int:
        """The exact number of distinct valid genotypes (forbidden combinations excluded).

        Decisions that some condition reads (repeat counts, `when` tests, `forbid` tests)
        are enumerated; every other active decision multiplies the count by its domain size.
        Raises :class:`SpaceError` for continuous (float) decisions.
        """
        try:
            return sum(self._leaf_size(values) for values in self._branches())
        except Mismatch as exc:
            raise SpaceError(Diagnostic(exc.code, f"space '{self.name}': {exc.message}",
                                        self.ir.span, self.ir.source)) from None

    def _branches(self) -> Iterator[dict[str, Any]]:
        """The assignments of the decisions some condition reads (:func:`~genolang.walk.branches`)."""
        controllers = [d for d in self.ir.decisions if d.path in self._controllers]
        leaf_cost = 1 + len(self.ir.forbids) + len(self.ir.decisions)  # what _leaf_size evaluates
        for count, values in enumerate(branches(controllers, self._enumerate), 1):
            if count > MAX_SIZE_BRANCHES or count * leaf_cost > MAX_SIZE_WORK:
                raise LimitError(Diagnostic(
                    "E0904", f"size() of '{self.name}' would enumerate more than {count - 1:,} "
                             f"combinations of conditional decisions, each checked against "
                             f"{len(self.ir.forbids)} forbid rule(s) (the limit is {MAX_SIZE_WORK:,} checks)",
                    self.ir.span, self.ir.source,
                    help=("fewer decisions read by `when`/`forbid`, or smaller domains for them",)))
            yield values

    def _enumerate(self, d: DecisionIR, values: Mapping[str, Any]) -> Sequence[Any]:
        if d.domain.kind != "ref":
            return d.domain.values()
        raise Mismatch("E0229", f"'{d.path}' is a reference decision read by a condition; "
                                "size() cannot enumerate it")

    def _leaf_size(self, values: dict[str, Any]) -> int:
        if not check_forbids(self.ir, values, None):
            return 0
        total = 1
        for d in active_decisions(self.ir.decisions, values):
            if d.path in self._controllers:
                continue
            total *= d.domain.size(self.active_candidates(d, values))
            if total == 0:
                return 0
        return total

    # ------------------------------------------------------------ genotypes
    def sample(self, seed: int = 0, *, name: str = "sample") -> Genotype:
        """A random valid genotype; the same seed gives the same genotype."""
        rng = random.Random(seed)
        for _ in range(MAX_SAMPLE_TRIES):
            values: dict[str, Any] = {}
            for d in active_decisions(self.ir.decisions, values):
                values[d.path] = d.domain.sample(rng, self.active_candidates(d, values))
            if check_forbids(self.ir, values, None):
                return self._genotype(values, name)
        raise SpaceError(Diagnostic(
            "E0351", f"no valid genotype of '{self.name}' found in {MAX_SAMPLE_TRIES} samples",
            self.ir.span, self.ir.source, help=("the `forbid` rules exclude almost everything",)))

    def default(self, *, name: str = "default") -> Genotype:
        """Declared defaults, else the first value of each domain."""
        values: dict[str, Any] = {}
        for d in active_decisions(self.ir.decisions, values):
            active = self.active_candidates(d, values)
            values[d.path] = d.default if d.has_default else d.domain.first(active)
        diag = Collector(self.ir.source, GenotypeError)
        check_forbids(self.ir, values, diag)
        diag.raise_if_any()
        return self._genotype(values, name)

    def validate(self, values: Mapping[str, Any], *, name: str = "genotype",
                 meta: Mapping[str, Any] | None = None) -> Genotype:
        """Plain ``{path: value}`` -> Genotype, or a :class:`GenotypeError` naming every problem.

        References may be absolute (``"@image_net.tap[0]"``) or relative to the decision.
        """
        if not isinstance(values, Mapping):
            raise GenotypeError(f"genotype values must be a mapping of decision paths, got "
                                f"{type(values).__name__}")
        diag = Collector(None, GenotypeError)
        checked = check_values(self.ir, {str(k): (v, None) for k, v in values.items()}, diag)
        diag.raise_if_any()
        return self._genotype(checked, name, dict(meta or {}))

    def from_json(self, doc: Mapping[str, Any]) -> Genotype:
        """A canonical genotype JSON document -> Genotype, checking the pin to this space."""
        problems = [f"{key} is {doc.get(key)!r}, this space has {want!r}"
                    for key, want in (("space", self.name), ("version", self.version),
                                      ("fingerprint", self.fingerprint)) if doc.get(key) != want]
        if problems:
            raise GenotypeError(Diagnostic("E0301", "genotype JSON does not belong to this space: "
                                           + "; ".join(problems)))
        return self.validate(doc.get("values", {}), name=str(doc.get("name", "genotype")))

    def _genotype(self, values: dict[str, Any], name: str, meta: dict[str, Any] | None = None) -> Genotype:
        return Genotype(space=self.name, version=self.version, fingerprint=self.fingerprint,
                        values=values, name=name, meta=meta or {})

    # ------------------------------------------------------------ schema
    def json_schema(self) -> dict[str, Any]:
        """JSON Schema (2020-12) of this space's canonical genotype JSON."""
        props = {d.path: {**d.domain.schema(tuple(c.path for c in getattr(d.domain, "candidates", ()))),
                          "description": d.domain.text()} for d in self.ir.decisions}
        required = [d.path for d in self.ir.decisions if not d.conds and not d.has_default]
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"genotype of {self.name} version {self.version}",
            "type": "object",
            "required": ["genolang", "space", "version", "fingerprint", "values"],
            "additionalProperties": False,
            "properties": {
                "genolang": {"const": 1},
                "space": {"const": self.name},
                "version": {"const": self.version},
                "fingerprint": {"const": self.fingerprint},
                "name": {"type": "string"},
                "values": {"type": "object", "properties": props, "required": required,
                           "additionalProperties": False},
            },
        }


def _controllers(ir: SpaceIR) -> set[str]:
    """Decisions whose value some condition reads."""
    paths: set[str] = set()
    for d in ir.decisions:
        for c in d.conds:
            paths.update(c.paths())
        for cand in getattr(d.domain, "candidates", ()):
            for c in cand.conds:
                paths.update(c.paths())
    for f in ir.forbids:
        paths.update(f.cond.paths())
        for c in f.conds:
            paths.update(c.paths())
    return paths

