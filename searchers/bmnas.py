"""BM-NAS and self-supervised BM-NAS: one-shot strategies on the space's supernet.

They register like every strategy, so :func:`~genolang.searchers.base.make_searcher`,
:func:`~genolang.searchers.base.load_builtins` and ``genolang search --searcher`` know them,
and run like every strategy, ``strategy.run(study)`` (:mod:`genolang.runtime.strategy`): instead
of proposing genotypes they train the space's supernet by gradient descent
(:func:`genolang.runtime.bilevel.run_bilevel`, or :func:`genolang.runtime.ssl.run_ssl_search`
for ``ssl-bmnas``), one storage row per epoch, with the study's data, folder and config
(``epochs``, ``bilevel``, ``ssl``).

- ``bmnas``: Yin, Huang & Zhang (AAAI 2022), first-order, epoch-alternating by default.
- ``ssl-bmnas``: Suzuki & Ono (arXiv 2512.24793), the same search on NT-Xent; after it, the
  best genotype is pretrained contrastively and its classifier trained on the labelled
  fraction of ``train`` (``DIR/finetune.json``).

A space applies when its supernet can be built: every open decision is relaxable (choices,
references); counts, booleans, numbers and ``combine`` must be fixed (``BilevelConfig.fixed``).
Importing this module imports neither torch nor the compiler.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from genolang.errors import UsageError
from genolang.files import atomic_text
from genolang.searchers.base import SpaceStrategy, register_searcher
from genolang.space import Space

__all__ = ["BmnasSearcher", "OneShotStrategy", "SslBmnasSearcher"]

FINETUNE_FILE = "finetune.json"


class OneShotStrategy(SpaceStrategy):
    """A strategy that trains the space's supernet (one storage row per epoch)."""

    self_supervised: ClassVar[bool] = False

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

    @classmethod
    def check_config(cls, config: Any) -> None:
        """``epochs`` is needed; the trial options are refused."""
        if config.epochs is None:
            raise UsageError(f"searcher {cls.name!r} is one-shot (a supernet): give --epochs N (N >= 1)")
        train = config.train
        wrong = [flag for flag, given in (("--budget", config.budget is not None),
                                          ("--steps", config.steps is not None),
                                          ("--optimizer", train is not None and "optimizer" in train.model_fields_set),
                                          ("--final-epochs", config.final_epochs > 0),
                                          ("--no-cache", not config.features),
                                          ("--labelled-fraction", config.ssl is not None and not cls.self_supervised),
                                          ("--executor ray (a supernet search runs in the driver's process)",
                                           config.executor == "ray"),
                                          ("--ray-address", config.ray_address is not None),
                                          ("--cpus-per-trial", config.cpus_per_trial != 1.0),
                                          ("--gpus-per-trial", config.gpus_per_trial != 0.0))
                 if given]
        if wrong:
            raise UsageError(f"searcher {cls.name!r} does not take {', '.join(wrong)}")

    @classmethod
    def check_space(cls, space: Space) -> None:
        """Supernet searches do not pre-train backbones yet: a space that asks for it is refused."""
        from genolang.runtime.job import refuse_pretrain

        refuse_pretrain(space, cls.name)

    def run(self, study: Any) -> Any:
        """The supernet search (see the module doc)."""
        from genolang.runtime.job import SupernetOutcome
        from genolang.runtime.study import record_config

        result = self.search(study)
        record_config(study.out, study.config)
        return SupernetOutcome(result, None, study.config.epochs)

    def search(self, study: Any) -> Any:
        from genolang.runtime.bilevel import run_bilevel

        cfg = study.config
        return run_bilevel(study.space, study.data, out_dir=cfg.out_dir, epochs=cfg.epochs, config=cfg.bilevel,
                           seed=cfg.seed, resume=cfg.resume, progress=study.progress, device=cfg.device,
                           searcher=self.name, space_file=study.space_file())


@register_searcher("bmnas")
class BmnasSearcher(OneShotStrategy):
    """BM-NAS: supervised bilevel search on the supernet (:func:`~genolang.runtime.bilevel.run_bilevel`)."""


@register_searcher("ssl-bmnas")
class SslBmnasSearcher(OneShotStrategy):
    """Self-supervised BM-NAS: NT-Xent for both levels (:func:`~genolang.runtime.ssl.run_ssl_search`)."""

    self_supervised = True

    def run(self, study: Any) -> Any:
        """The search, then (when a genotype came out) the fine-tuning, written to ``finetune.json``."""
        from genolang.runtime.job import SupernetOutcome
        from genolang.runtime.ssl import run_ssl_search, ssl_finetune
        from genolang.runtime.study import record_config

        cfg = study.config
        result = run_ssl_search(study.space, study.data, out_dir=cfg.out_dir, epochs=cfg.epochs, config=cfg.bilevel,
                                ssl=cfg.ssl, seed=cfg.seed, resume=cfg.resume, progress=study.progress,
                                device=cfg.device, space_file=study.space_file())
        finetune = None
        if result.best is not None:
            finetune = ssl_finetune(study.space, result.best, study.data, ssl=cfg.ssl, seed=cfg.seed,
                                    device=cfg.device, progress=study.progress).to_json()
            atomic_text(Path(cfg.out_dir) / FINETUNE_FILE, json.dumps(finetune, indent=2) + "\n")
        record_config(study.out, cfg)
        return SupernetOutcome(result, finetune, cfg.epochs)
