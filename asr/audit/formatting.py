"""HTML and number formatting shared by the report, its sections, the plots, the index and the headline.

Every string that comes from data (group names, speaker ids, transcripts, paths,
config values) goes through :func:`e` (``html.escape`` with quotes); numbers through
the ``fmt_*`` helpers, which render a missing value (``None``) as an en dash. The
page chrome (:data:`CSP`, :func:`css`) lives here too, so the releases index and the
report share it without importing each other.
"""

from __future__ import annotations

from functools import lru_cache
from html import escape
from importlib import resources

DASH = "–"
#: Forbids scripts and every external resource: the page cannot reach the network.
CSP = ('<meta http-equiv="Content-Security-Policy" '
       "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">")


def e(value) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def fmt_pct(x, digits: int = 1) -> str:
    """A rate as a percentage: ``0.0961`` -> ``9.6%``."""
    return DASH if x is None else f"{100 * x:.{digits}f}%"


def fmt_pts(x, digits: int = 1, sign: bool = False) -> str:
    """A difference of rates in percentage points: ``0.203`` -> ``20.3`` (``+20.3`` with ``sign``)."""
    return DASH if x is None else f"{100 * x:{'+' if sign else ''}.{digits}f}"


def fmt_num(x, digits: int = 2) -> str:
    return DASH if x is None else f"{x:.{digits}f}"


def fmt_interval(low, high, pct: bool = False, pts: bool = False) -> str:
    """``[low, high]`` in muted text; empty when a bound is missing."""
    if low is None or high is None:
        return ""
    f = fmt_pct if pct else (fmt_pts if pts else fmt_num)
    return f"<span class=muted>[{f(low)}, {f(high)}]</span>"


def fmt_p(p) -> str:
    return DASH if p is None else ("<0.001" if p < 0.001 else f"{p:.3f}")


def ci_label(confidence: float) -> str:
    """``95% CI`` for 0.95 (``99.5% CI`` for 0.995)."""
    return f"{confidence_pct(confidence)} CI"


def confidence_pct(confidence: float) -> str:
    """``95%`` for 0.95; one decimal only where needed."""
    value = round(100 * confidence, 1)
    return f"{value:g}%"


def axis_pct(x: float, step: float) -> str:
    """A tick label of a percentage axis whose ticks are ``step`` apart (as few decimals as the step needs)."""
    digits = 0
    while digits < 3 and abs(round(100 * step, digits) - 100 * step) > 1e-9:
        digits += 1
    return f"{100 * x:.{digits}f}%"


@lru_cache(maxsize=1)
def css() -> str:
    """The report's stylesheet (``report.css``), inlined into every page."""
    return resources.files("asr.audit").joinpath("report.css").read_text(encoding="utf-8")
