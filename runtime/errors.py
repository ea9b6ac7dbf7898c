"""Errors of the runtime: data, training, the trial ledger and search (codes E05xx-E07xx).

They extend :class:`genolang.errors.GenolangError`, so the CLI renders them like every other
diagnostic (exit status 1, no traceback).
"""

from __future__ import annotations

from genolang.errors import GenolangError


class DataError(GenolangError):
    """A dataset that is missing, malformed, or does not fit the space's inputs."""

    default_code = "E0500"


class TrainError(GenolangError):
    """A training run that cannot go on."""

    default_code = "E0600"


class DivergedError(TrainError):
    """The loss became NaN or infinite."""

    default_code = "E0601"


class OutOfMemoryError(TrainError):
    """The device ran out of memory."""

    default_code = "E0602"


class LedgerError(GenolangError):
    """A trial ledger that cannot be opened, or one written for another search."""

    default_code = "E0700"


class SearchError(GenolangError):
    """A search that cannot run: a searcher that does not apply to the space, a bad budget."""

    default_code = "E0701"


class ResumeError(SearchError):
    """A ``--resume`` that cannot be trusted: a missing folder, a missing, empty or unreadable
    ledger, or a budget below the trials already finished. Nothing is written."""

    default_code = "E0703"


class ExtraMissingError(SearchError):
    """An option that needs an optional extra that is not installed (``--executor ray``: ``genolang[ray]``)."""

    default_code = "E0710"


class WeightsError(GenolangError):
    """A weights file that cannot be read (truncated, garbage, not written by genolang): a search's
    ``shared_weights.pt``, a trained ``model.pt``. The message names the file."""

    default_code = "E0721"


class ReportError(GenolangError):
    """A run folder that is missing, or holds no ledger and no finished trial to report."""

    default_code = "E0702"
