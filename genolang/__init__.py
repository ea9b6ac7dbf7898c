"""genolang: a declarative genotype language and compiler for neural architecture search.

Light on import: nothing here imports torch. ``genolang.compiler`` and ``genolang.runtime``
do, on demand.
"""

from genolang.document import Document, load, loads
from genolang.errors import GenolangError, GenolangSyntaxError, GenotypeError, LimitError, SpaceError, UsageError
from genolang.genotype import Genotype
from genolang.space import Decision, Space

__version__ = "0.1.0"

__all__ = [
           "Decision",
           "Document",
           "GenolangError",
           "GenolangSyntaxError",
           "Genotype",
           "GenotypeError",
           "LimitError",
           "Space",
           "SpaceError",
           "UsageError",
           "__version__",
           "load",
           "loads",
]
