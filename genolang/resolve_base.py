"""What the parts of the space resolver share, declared for the type checker.

:class:`genolang.resolve.Resolver` is assembled from mixins (domains, field values,
arithmetic) that call one another and the resolver's own state through ``self``. Each mixin
derives from :class:`ResolverBase`, which declares that state and those methods; at run time
it is empty (the declarations exist only while type checking).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genolang import ast as A
    from genolang.errors import Collector, Source
    from genolang.ir import DecisionIR, Entity
    from genolang.scope import Scope


class ResolverBase:
    if TYPE_CHECKING:  # defined by Resolver (genolang.resolve) and DomainBuilder (genolang.resolve_domain)
        source: Source
        diag: Collector
        by_path: dict[str, DecisionIR]
        entities: dict[str, Entity]

        def err(self, code: str, message: str, span: A.Span | None, **kw: Any) -> None: ...

        def spend(self, n: int, span: A.Span | None) -> None: ...

        def entity(self, path: str, kind: str, scope: Scope, span: A.Span | None, name: str = "") -> Entity: ...

        def const(self, expr: A.Expr, scope: Scope, bound: bool = False) -> Any: ...

        def count(self, expr: A.Expr, scope: Scope) -> tuple[int, str | None, int] | None: ...

        def check_names(self, kind: str, field: str, names: list[tuple[Any, Any]]) -> None: ...
