"""Genotypes: one value per active decision, canonical JSON, digest, text form, diff."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from genolang.canonical import canonical_json

LANGUAGE = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KEYWORDS = {"true", "false"}


class Genotype(BaseModel):
    """A validated genotype pinned to its space (name, version, fingerprint).

    ``values`` maps absolute decision paths to plain values, in the space's decision order;
    only active decisions appear. References are absolute ``"@path"`` strings.
    """

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    space: str
    version: int
    fingerprint: str
    values: dict[str, Any]
    name: str = "genotype"
    meta: dict[str, Any] = Field(default_factory=dict)

    def canonical(self) -> dict[str, Any]:
        """The digest's input: everything that identifies the architecture, nothing else."""
        return {"genolang": LANGUAGE, "space": self.space, "version": self.version,
                "fingerprint": self.fingerprint, "values": self.values}

    def canonical_json(self) -> str:
        return canonical_json(self.canonical())

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Genotype) and self.canonical_json() == other.canonical_json()

    def to_text(self, *, header: bool = True, imports: tuple[str, ...] = ()) -> str:
        """The canonical text form; parsing it back gives an equal genotype."""
        lines = [f"genolang {LANGUAGE}", ""] if header else []
        lines += [f'import "{p}"' for p in imports] + ([""] if imports else [])
        lines.append(f'genotype {self.name} of {self.space} version {self.version} '
                     f'fingerprint "{self.fingerprint}" {{')
        if self.meta:
            fields = ", ".join(f"{k}: {format_value(v)}" for k, v in self.meta.items())
            lines.append(f"  meta {{ {fields} }}")
        lines += [f"  {path} = {format_value(value)}" for path, value in self.values.items()]
        lines.append("}")
        return "\n".join(lines) + "\n"

    def diff(self, other: Genotype) -> list[tuple[str, Any, Any]]:
        """(path, mine, theirs) for each decision whose value differs; None = absent."""
        paths = list(self.values) + [p for p in other.values if p not in self.values]
        return [(p, self.values.get(p), other.values.get(p)) for p in paths
                if self.values.get(p) != other.values.get(p)]


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if value.startswith("@") or (_NAME.match(value) and value not in _KEYWORDS):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict) and set(value) == {"op", "ref"}:
        return f"{value['op']}({value['ref']})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot format {value!r}")
