"""The one-sentence finding of an audit, for the headline attribute (the first of ``--by``).

It names the highest-CER group only as *different* when the permutation test says so
after Holm's correction; otherwise it says that the groups are indistinguishable and
still gives the figures. Ratios and differences are to the reference group.
"""

from __future__ import annotations

from asr.audit.formatting import ci_label, fmt_num, fmt_pct, fmt_pts
from asr.audit.schema import Disparity, Estimate, Headline


def headline(attribute: str, d: Disparity, metric: str, confidence: float) -> Headline:
    """The :class:`Headline` of ``attribute``'s disparity ``d``."""
    if not d.estimable:
        return Headline(attribute, False, f"No {attribute} disparity: {d.reason}.")
    fields = dict(worst_group=d.worst_group, best_group=d.best_group, reference_group=d.reference_group,
                  compared_group=d.compared_group, worst_cer=d.worst_cer, best_cer=d.best_cer, ratio=d.ratio,
                  difference=d.difference, distinguishable=d.distinguishable)
    if d.worst_cer.value == d.best_cer.value:
        text = f"By {attribute}, no gap: every group has the same {metric}, {fmt_pct(d.worst_cer.value)}."
    else:
        text = _text(attribute, d, metric, ci_label(confidence))
    return Headline(attribute, True, text, **fields)


def _text(attribute: str, d: Disparity, metric: str, ci: str) -> str:
    figures = f"{fmt_pct(d.worst_cer.value)} ({ci} {_range(d.worst_cer, fmt_pct)})"
    if d.worst_differs:
        first = f"By {attribute}, {d.worst_group} has the highest {metric}, {figures}"
    elif not d.distinguishable:
        first = (f"By {attribute}, the groups are indistinguishable: none differs from the rest after Holm's "
                 f"correction. The highest {metric} is {d.worst_group}'s, {figures}")
    else:
        first = (f"By {attribute}, the highest {metric} is {d.worst_group}'s, {figures}, "
                 "not different from the rest after correction")
    if d.compared_group == d.worst_group:
        return first + f"; {_versus(d, ci)}."
    return (first + f". {d.worst_group} is the reference group; the next highest, {d.compared_group}, is "
            f"{fmt_num(d.ratio.value)}× its rate ({ci} {_range(d.ratio, fmt_num)}).")


def _versus(d: Disparity, ci: str) -> str:
    diff, ratio = d.difference, d.ratio
    text = (f"{fmt_pts(abs(diff.value))} points {'above' if diff.value >= 0 else 'below'} the reference group "
            f"{d.reference_group} ({fmt_pct(d.reference_cer.value)}; difference {ci} {_range(diff, fmt_pts)} points)")
    if ratio.value is not None:
        text += f", {fmt_num(ratio.value)}× its rate ({ci} {_range(ratio, fmt_num)})"
    return text


def _range(x: Estimate, fmt) -> str:
    return f"{fmt(x.low)} to {fmt(x.high)}"
