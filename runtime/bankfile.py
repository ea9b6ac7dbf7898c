"""A search's weight bank on disk, kept in step with the ledger: a kill loses nothing and repeats nothing.

The driver's :class:`~genolang.runtime.sharing.WeightBank` is the search's only one (every
executor: a trial's job carries a snapshot of it, its outcome the tensors it trained), and
``OUT/shared_weights.pt`` holds it. After a trial, before the ledger says it is finished, the
trial's tensors are added to the bank and the bank is written to
``shared_weights.trial-ID.pt`` (ID: the trial's ledger row; :meth:`BankFile.stage`); after
the commit, that file is moved over ``shared_weights.pt``
(:meth:`BankFile.commit`, atomic). On opening (:meth:`BankFile.open`), a staged file whose
trial the ledger says is finished is moved into place (the kill came between the commit and
the move), and any other staged file is deleted (the kill came before the commit: the trial
is retried from the bank it started from). So ``shared_weights.pt`` always holds what the
finished trials left, as in a run that was never interrupted, and a retried trial starts
from the same weights as the first time.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from genolang.files import write_error
from genolang.runtime.errors import WeightsError
from genolang.runtime.ledger import Trial
from genolang.runtime.sharing import BankState, Scheme, WeightBank

__all__ = ["BankFile", "load_bank"]

log = logging.getLogger(__name__)

STAGED = re.compile(r"^shared_weights\.trial-(\d+)\.pt$")


def load_bank(path: Path, scheme: Scheme | None = None) -> WeightBank:
    """The bank saved at ``path`` (sharing by ``scheme``); a truncated or foreign file is a
    :class:`WeightsError` naming it."""
    try:
        return WeightBank.load(path, scheme)
    except OSError as exc:
        raise WeightsError(f"cannot read the weight bank {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # torch.load's errors: unpickling, a truncated zip, a foreign object
        reason = (str(exc).splitlines() or [""])[0].split(". ")[0]
        raise WeightsError(f"the weight bank {path} is damaged or not a genolang weight bank "
                           f"({type(exc).__name__}: {reason}); move it away to resume without the "
                           f"shared weights") from None


class BankFile:
    """The bank file of the run folder ``out`` (``name``: its file name), staged per trial; the
    bank shares by ``scheme`` (:mod:`genolang.runtime.sharing`; None: the default)."""

    def __init__(self, out: Path, name: str = "shared_weights.pt", scheme: Scheme | None = None):
        self.path = out / name
        self.scheme = scheme
        self.bank = WeightBank(scheme)

    def staged(self, trial_id: int) -> Path:
        return self.path.with_name(f"shared_weights.trial-{int(trial_id)}.pt")

    def open(self, finished: Iterable[int]) -> WeightBank:
        """Settle the staged files left by a kill (``finished``: the ledger's finished row ids), load the bank."""
        done = set(finished)
        staged = sorted((int(m.group(1)), p) for p in self.path.parent.glob("shared_weights.trial-*.pt")
                        if (m := STAGED.match(p.name)))
        for trial_id, path in staged:
            if trial_id in done:
                log.info("%s: the weights of trial row %d were saved before a kill; kept", self.path, trial_id)
                self._move(path)
            else:
                path.unlink()
        self.bank = load_bank(self.path, self.scheme) if self.path.exists() else WeightBank(self.scheme)
        return self.bank

    def snapshot(self) -> BankState:
        """The bank as the finished trials left it (what a job carries)."""
        return self.bank.snapshot()

    def stage(self, trial: Trial, stored: BankState | None = None) -> None:
        """Add the tensors ``trial`` stored, and write the bank as it left it, before the ledger records the trial."""
        if stored is not None:
            self.bank.update(stored)
        self.bank.save(self.staged(trial.id))

    def commit(self, trial: Trial) -> None:
        """The ledger recorded ``trial``: its bank becomes the run's."""
        self._move(self.staged(trial.id))

    def _move(self, staged: Path) -> None:
        try:
            os.replace(staged, self.path)
        except OSError as exc:
            raise write_error(self.path, exc) from None
