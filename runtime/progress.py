"""Progress of long commands on stderr: a rich bar on a terminal, lines that logs read well elsewhere.

:func:`progress_bar` hands back an object with the few methods of :class:`rich.progress.Progress`
the runtime uses (``add_task``, ``advance``, ``update``, a context manager). On a terminal it
is a rich bar. Without one (output redirected, CI, ``nohup``) it is a :class:`LineProgress`,
which prints one line when a task's text changes (a search's finished trial, a training's
evaluation: each epoch), or, for a task whose text never changes, when it completes (a
one-shot search's epoch, an inference), so a log shows how far a run got and nothing floods it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["LineProgress", "progress_bar"]


@dataclass
class _Task:
    description: str
    total: float | None
    completed: float = 0.0
    told: bool = False  # its text changed: it reports through its text, not its completion
    start: float = field(default_factory=time.perf_counter)


class LineProgress:
    """One line per event on ``stream`` (stderr): a task's new text, or the completion of a task
    whose text never changed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.tasks: dict[int, _Task] = {}

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, total: float | None = None, completed: float = 0, **_: Any) -> int:
        self.tasks[len(self.tasks)] = _Task(description, total, float(completed))
        return len(self.tasks) - 1

    def advance(self, task_id: int, advance: float = 1) -> None:
        self.update(task_id, advance=advance)

    def update(self, task_id: int, *, advance: float = 0, completed: float | None = None,
               description: str | None = None, **_: Any) -> None:
        task = self.tasks[task_id]
        was_done = task.total is not None and task.completed >= task.total
        task.completed = float(completed) if completed is not None else task.completed + advance
        now_done = task.total is not None and task.completed >= task.total
        changed = description is not None and description != task.description
        if description is not None:
            task.description = description
        task.told = task.told or changed
        if changed or (now_done and not was_done and not task.told):
            self.write(task)

    def write(self, task: _Task) -> None:
        count = f"{task.completed:g}/{task.total:g}" if task.total is not None else f"{task.completed:g}"
        stream = self.stream or sys.stderr
        stream.write(f"{task.description} [{count}, {time.perf_counter() - task.start:.1f}s]\n")
        stream.flush()


def progress_bar(*, enabled: bool) -> Any:
    """A rich progress bar on stderr on a terminal, else a :class:`LineProgress` (so ``--json``
    output stays clean: stdout is never written); inert when not enabled."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if enabled and not console.is_terminal:
        return LineProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, disable=not enabled,
                    redirect_stdout=False, redirect_stderr=False)
