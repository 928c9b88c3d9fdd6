"""Release gates: ``--fail-if`` conditions that make ``asr audit`` exit non-zero.

A gate is ``[ATTRIBUTE.]METRIC OP NUMBER`` (OP one of ``> >= < <=``), failing when
the condition holds, or the shorthand ``[ATTRIBUTE.]NAME_worse:P``, failing when the
probability that ``NAME`` got worse than the baseline exceeds ``P``. ATTRIBUTE
defaults to the headline attribute (the first of ``--by``).

Metrics of this release: ``worst_group_cer``, ``best_group_cer``, ``overall_cer``,
``ratio`` and ``difference`` (the highest-CER group other than the reference group,
over and minus the reference group: normally the worst group's).
Against ``--baseline`` (paired, same utterances): ``worst_group_cer_delta``,
``best_group_cer_delta``, ``ratio_delta``, ``overall_cer_delta`` (this release minus
the baseline), and ``p_worst_group_cer_worse``, ``p_best_group_cer_worse``,
``p_ratio_worse``, ``p_overall_cer_worse`` (speaker-bootstrap probability of a
worse value).

Examples: ``worst_group_cer_worse:0.95``, ``ratio_worse:0.95``,
``worst_group_cer_delta>0.01``, ``gender.ratio>1.5``. A gate whose value is not
estimable (e.g. a ratio whose best group has no errors) fails, saying so.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from asr.audit.schema import AuditResult, GateResult
from asr.errors import AsrError

CURRENT = ("worst_group_cer", "best_group_cer", "overall_cer", "ratio", "difference")
CHANGES = ("worst_group_cer", "best_group_cer", "ratio", "overall_cer")
METRICS = (
    CURRENT
    + tuple(f"{m}_delta" for m in CHANGES)
    + tuple(f"p_{m}_worse" for m in CHANGES)
)
OPERATORS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_GATE = re.compile(r"^\s*(?:(?P<attr>[A-Za-z_][\w-]*)\.)?(?P<metric>[a-z_]+)\s*(?P<op>>=|<=|>|<)\s*(?P<value>[-+0-9.eE]+)\s*$")
_SHORT = re.compile(r"^\s*(?:(?P<attr>[A-Za-z_][\w-]*)\.)?(?P<name>[a-z_]+)_worse\s*:\s*(?P<value>[0-9.eE+-]+)\s*$")
SYNTAX = "[ATTRIBUTE.]METRIC OP NUMBER or [ATTRIBUTE.]NAME_worse:PROBABILITY"


@dataclass(frozen=True)
class Gate:
    text: str
    attribute: str | None
    metric: str
    op: str
    threshold: float

    @property
    def needs_baseline(self) -> bool:
        return self.metric not in CURRENT


def parse_gate(text: str) -> Gate:
    """Parse one ``--fail-if`` expression; a malformed one is an :class:`AsrError` naming the syntax."""
    m = _SHORT.match(text)
    if m:
        attr, metric, op, value = m["attr"], f"p_{m['name']}_worse", ">", m["value"]
    else:
        m = _GATE.match(text)
        if not m:
            raise AsrError(f"--fail-if {text!r}: expected {SYNTAX}, e.g. worst_group_cer_worse:0.95 or ratio_delta>0.1")
        attr, metric, op, value = m["attr"], m["metric"], m["op"], m["value"]
    if metric not in METRICS:
        raise AsrError(f"--fail-if {text!r}: unknown metric {metric!r} (expected one of: {', '.join(METRICS)})")
    try:
        threshold = float(value)
    except ValueError:
        raise AsrError(f"--fail-if {text!r}: {value!r} is not a number") from None
    if metric.startswith("p_") and not 0 <= threshold <= 1:
        raise AsrError(f"--fail-if {text!r}: a probability threshold must be in [0, 1]")
    return Gate(text.strip(), attr, metric, op, threshold)


def evaluate(gates: list[Gate], result: AuditResult) -> tuple[GateResult, ...]:
    """Each gate's value and whether it failed."""
    out = []
    for gate in gates:
        attr = gate.attribute or result.headline.attribute
        value, why = _value(gate, attr, result)
        failed = value is None or OPERATORS[gate.op](value, gate.threshold)
        if value is None:
            message = f"{gate.text}: cannot be evaluated ({why}); failing closed"
        else:
            message = f"{gate.text}: {attr} {gate.metric} = {value:.4g} {'' if failed else 'not '}{gate.op} {gate.threshold:g}"
        out.append(GateResult(gate.text, attr, gate.metric, gate.op, gate.threshold, value, bool(failed), message))
    return tuple(out)


def _value(gate: Gate, attr: str, result: AuditResult) -> tuple[float | None, str]:
    if attr not in result.attributes:
        return None, f"attribute {attr!r} was not audited"
    if gate.needs_baseline:
        if result.baseline is None:
            return None, "it needs --baseline"
        block = result.baseline.attributes.get(attr)
        base = gate.metric.removeprefix("p_").removesuffix("_worse").removesuffix("_delta")
        change = getattr(block, base, None) if block is not None else None
        if change is None:
            return None, (block.reason if block is not None and block.reason else f"no {base} in the comparison")
        key = "p_worse" if gate.metric.startswith("p_") else "delta"
        return getattr(change, key), f"{base} {key} not estimable"
    if gate.metric == "overall_cer":
        return result.overall.cer, "no reference tokens"
    summary = result.attributes[attr].disparity
    if not summary.estimable:
        return None, summary.reason or "disparity not estimable"
    key = {"worst_group_cer": "worst_cer", "best_group_cer": "best_cer"}.get(gate.metric, gate.metric)
    return getattr(summary, key).value, f"{gate.metric} not estimable"
