"""The audit room's shape: no import cycles, small modules, no torch, one list of interval methods."""

from __future__ import annotations

import ast
import subprocess
import sys
import typing
from pathlib import Path

import asr.audit
from asr.audit.config import AuditConfig
from asr.audit.intervals import DEFAULT_METHOD, METHODS
from asr.commands import audit as audit_command

ROOM = Path(asr.audit.__file__).parent


def _module_imports() -> dict[str, set[str]]:
    """Each asr.audit module's module-level imports of other asr.audit modules."""
    graph = {}
    for path in ROOM.glob("*.py"):
        name = f"asr.audit.{path.stem}"
        found = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "asr.audit":
                    found |= {f"asr.audit.{a.name}" for a in node.names}
                elif node.module.startswith("asr.audit."):
                    found.add(node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("asr.audit.")}
        graph[name] = found - {name}
    return graph


def test_no_module_level_import_cycle_in_the_audit():
    graph = _module_imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert "asr.audit.report" not in graph["asr.audit.report_explain"]  # the old circle


def test_modules_stay_under_500_lines():
    sizes = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in ROOM.glob("*.py")}
    assert max(sizes.values()) < 500, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_the_audit_never_imports_torch():
    code = ("import sys, asr.audit.pipeline, asr.commands.audit; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_list_of_interval_methods():
    literal = typing.get_args(typing.get_type_hints(AuditConfig)["interval_method"])
    assert set(literal) == set(METHODS) == set(audit_command.METHODS)
    assert AuditConfig().interval_method == DEFAULT_METHOD == "pooled_t"
