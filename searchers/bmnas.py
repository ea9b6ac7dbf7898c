"""BM-NAS and self-supervised BM-NAS: differentiable searchers (not ask/tell).

They register like every searcher, so :func:`~genolang.searchers.base.make_searcher`,
:func:`~genolang.searchers.base.load_builtins` and ``genolang search --searcher`` know them,
but they search by gradient descent on the space's supernet instead of proposing genotypes:
``differentiable = True`` tells a driver to call :meth:`DifferentiableSearcher.search`
(:func:`genolang.runtime.bilevel.run_bilevel`, or
:func:`genolang.runtime.ssl.run_ssl_search` for ``ssl-bmnas``) rather than ask/tell.

- ``bmnas``: Yin, Huang & Zhang (AAAI 2022), first-order, epoch-alternating by default.
- ``ssl-bmnas``: Suzuki & Ono (arXiv 2512.24793), the same search on NT-Xent.

A space applies when its supernet can be built: every open decision is relaxable (choices,
references); counts, booleans, numbers and ``combine`` must be fixed (``BilevelConfig.fixed``).
Importing this module imports neither torch nor the compiler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from genolang.genotype import Genotype
from genolang.runtime.errors import SearchError
from genolang.searchers.base import Searcher, register_searcher
from genolang.space import Space

if TYPE_CHECKING:
    from genolang.runtime.search import SearchResult

__all__ = ["BmnasSearcher", "DifferentiableSearcher", "SslBmnasSearcher"]


class DifferentiableSearcher(Searcher):
    """A searcher run by a bilevel driver: :meth:`search`, never :meth:`ask`."""

    differentiable: ClassVar[bool] = True

    @classmethod
    def applies_to(cls, space: Space) -> str | None:
        """``None`` when the space's supernet can be built with nothing fixed; else why not."""
        from genolang.compiler.errors import CompileError
        from genolang.compiler.supernet import lower_supernet

        try:
            lower_supernet(space)
        except CompileError as exc:
            return f"its supernet cannot be built: {exc.first.message}"
        return None

    def ask(self) -> Genotype:
        raise SearchError(f"searcher {self.name!r} is differentiable, not ask/tell: run it with "
                          f"`genolang search --searcher {self.name} --epochs N` or {type(self).__name__}.search")

    @classmethod
    def search(cls, space: Space, data: Any, **kwargs: Any) -> SearchResult:
        """Run the search (keyword arguments of :func:`~genolang.runtime.bilevel.run_bilevel`)."""
        raise NotImplementedError


@register_searcher("bmnas")
class BmnasSearcher(DifferentiableSearcher):
    """BM-NAS: supervised bilevel search on the supernet (:func:`~genolang.runtime.bilevel.run_bilevel`)."""

    @classmethod
    def search(cls, space: Space, data: Any, **kwargs: Any) -> SearchResult:
        from genolang.runtime.bilevel import run_bilevel

        kwargs.pop("ssl", None)
        return run_bilevel(space, data, searcher=cls.name, **kwargs)


@register_searcher("ssl-bmnas")
class SslBmnasSearcher(DifferentiableSearcher):
    """Self-supervised BM-NAS: NT-Xent for both levels (:func:`~genolang.runtime.ssl.run_ssl_search`)."""

    self_supervised: ClassVar[bool] = True

    @classmethod
    def search(cls, space: Space, data: Any, **kwargs: Any) -> SearchResult:
        from genolang.runtime.ssl import run_ssl_search

        return run_ssl_search(space, data, **kwargs)
