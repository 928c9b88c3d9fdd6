"""benchmarks/bench_coverage.py: its JSON and table on a small run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_coverage.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_coverage", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_small_run_reports_coverage_misses_and_widths_per_method(bench, tmp_path, capsys):
    out = tmp_path / "coverage.json"
    bench.main(["--datasets", "40", "--speakers", "6", "--methods", "percentile,pooled_t", "--population", "4000",
                "--replicates", "200", "--output", str(out)])
    result = json.loads(out.read_text(encoding="utf-8"))
    (size,) = result["sizes"]
    assert size["speakers_per_group"] == 6 and set(size["methods"]) == {"percentile", "pooled_t"}
    rows = size["methods"]["pooled_t"]
    assert set(rows) == {"cer[0]", "cer[1]", "cer[2]", "cer[3]", "difference", "ratio",
                         "paired[0]", "paired[1]", "paired[2]", "paired[3]"}
    for row in rows.values():
        assert row["coverage"] + row["miss_above"] + row["miss_below"] == pytest.approx(1.0)
        assert row["mc_se"] == pytest.approx((row["coverage"] * (1 - row["coverage"]) / 40) ** 0.5)
    assert result["truth"]["a"][3] == pytest.approx(0.15, rel=0.05)  # the planted worst group, on 4,000 speakers
    # The percentile bootstrap's misses are mostly with the truth above its interval (the finding).
    pct = size["methods"]["percentile"]
    assert sum(pct[f"cer[{g}]"]["miss_above"] for g in range(4)) > sum(pct[f"cer[{g}]"]["miss_below"] for g in range(4))
    table = capsys.readouterr().out
    assert "6 speakers per group (40 test sets" in table and "pooled_t" in table and f"wrote {out}" in table
