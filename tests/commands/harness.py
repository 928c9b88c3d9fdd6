"""Run ``asr`` in-process and check what the user sees: one error line, a non-zero exit, no traceback.

Each case checks the exit status, the exact number of stderr lines (warnings logged through
:mod:`logging` count, as they reach the terminal too), that the error line starts
``asr <command>: error:`` and names the file or utterance and what was expected, and that no
traceback escapes. An uncaught exception counts as a traceback (the console script would print
one). The ``asr`` fixture that returns an :class:`Outcome` is in this room's ``conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    code: object
    out: str
    lines: list[str]  # stderr lines, then WARNING+ log records
    uncaught: str | None

    def __str__(self) -> str:  # shown by pytest when an assertion fails
        return f"exit {self.code}\nstderr:\n" + "\n".join(self.lines) + (f"\n{self.uncaught}" if self.uncaught else "")


def check_error(outcome: Outcome, command: str, *fragments: str, lines: int = 1) -> str:
    """Assert a clean failure: exit 1, ``lines`` stderr lines, the last ``asr COMMAND: error: ...``.

    Every fragment must appear in the first line (the error itself). Returns that line.
    """
    assert outcome.uncaught is None, f"uncaught exception, the user sees a traceback:\n{outcome}"
    assert outcome.code == 1, str(outcome)
    assert not any("Traceback" in line for line in outcome.lines), str(outcome)
    assert len(outcome.lines) == lines, str(outcome)
    assert outcome.lines[-1].startswith(f"asr {command}: error: "), str(outcome)
    first = outcome.lines[0]
    for fragment in fragments:
        assert fragment in first, f"{fragment!r} not in the error line\n{outcome}"
    return first


def listing(directory: Path) -> set[str]:
    """Every file below ``directory`` (relative paths), or the empty set if it does not exist."""
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()} if directory.exists() else set()
