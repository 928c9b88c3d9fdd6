"""Progress of the audit's long phases (speaker bootstrap, permutation tests) through :func:`asr.io.progress`.

``asr audit`` turns it on for one audit (:func:`showing`): a bar on a terminal, a plain log
line every 30 s otherwise (nothing with ``--no-progress`` or ``asr -q``). The loops that
draw replicates or permutations open a :func:`phase` with their total and :func:`advance`
it; a phase opened inside another one advances the outer bar instead of opening its own
(the per-group tests of a list-valued attribute are one bar). Off, which is the default of a
library call, the calls cost nothing.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from asr.io import progress

_ENABLED: ContextVar[bool] = ContextVar("asr_audit_progress", default=False)
_LABEL: ContextVar[str] = ContextVar("asr_audit_progress_label", default="audit")
_BAR: ContextVar[object | None] = ContextVar("asr_audit_progress_bar", default=None)


@contextmanager
def showing(enabled: bool) -> Iterator[None]:
    """Show the phases run inside this block (or not)."""
    token = _ENABLED.set(enabled)
    try:
        yield
    finally:
        _ENABLED.reset(token)


@contextmanager
def labelled(label: str) -> Iterator[None]:
    """Name the phases run inside this block after ``label`` (an attribute: ``audit dialect: permutations``)."""
    token = _LABEL.set(label)
    try:
        yield
    finally:
        _LABEL.reset(token)


@contextmanager
def phase(what: str, total: int, unit: str) -> Iterator[None]:
    """A bar of ``total`` ``unit`` s named ``<label>: <what>``, unless one is open already or progress is off."""
    if not _ENABLED.get() or _BAR.get() is not None:
        yield
        return
    bar = progress(total, f"{_LABEL.get()}: {what}", unit)
    token = _BAR.set(bar)
    try:
        yield
    finally:
        _BAR.reset(token)
        bar.close()


def advance(n: int) -> None:
    """Count ``n`` more units done in the open phase (nothing when none is open)."""
    bar = _BAR.get()
    if bar is not None:
        bar.update(n)
