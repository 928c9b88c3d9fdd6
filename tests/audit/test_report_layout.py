"""Plots and the heatmap: axes that fit their data, labels that never overlap, hatched small cells."""

from __future__ import annotations

import re

import pytest

from asr.audit.formatting import axis_pct, ci_label
from asr.audit.forest import forest_plot, log_ticks
from asr.audit.heatmap import heatmap, shade
from asr.audit.schema import GroupResult, Intersection
from asr.audit.svg import fit_text, interval_plot, nice_axis, place_labels, scatter_plot, text_width, trend_plot


@pytest.mark.parametrize("top, axis", [(0.096, (0.0, 0.1, 0.02)), (0.102, (0.0, 0.12, 0.02)), (0.233, (0.0, 0.25, 0.05)),
                                       (7.85, (0.0, 8.0, 2.0)), (1.0, (0.0, 1.0, 0.2)),
                                       (0.345, (0.0, 0.35, 0.05)), (0.066, (0.0, 0.07, 0.01))])
def test_nice_axis_fits_the_data(top, axis):
    assert nice_axis(top) == pytest.approx(axis)


def test_a_9_6_percent_maximum_gets_a_10_percent_axis():
    svg = interval_plot([{"label": "wu", "value": 0.05, "low": 0.03, "high": 0.096},
                         {"label": "mandarin", "value": 0.03, "low": 0.02, "high": 0.04}])
    tick_labels = re.findall(r"class=tick>([^<]+)<", svg)
    assert tick_labels == ["0%", "2%", "4%", "6%", "8%", "10%"]
    assert axis_pct(0.025, 0.005) == "2.5%" and ci_label(0.9) == "90% CI"


def test_labels_are_cut_to_their_column_and_cjk_counts_double():
    assert text_width("粤语") == 24 and text_width("ab") == pytest.approx(14.4)  # 12 px font
    cut = fit_text("广东省广州市粤语使用者", 60)
    assert cut.endswith("…") and text_width(cut) <= 60
    assert fit_text("wu", 60) == "wu"


def _boxes(svg: str):
    """(x0, y0, x1, y1) of every text label of class lab, from its anchor and estimated width."""
    out = []
    for x, y, anchor, text in re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)" class=lab>([^<]*)<', svg):
        x, y, w = float(x), float(y), text_width(text)
        x0 = x - (w if anchor == "end" else w / 2 if anchor == "middle" else 0)
        out.append((x0, y - 12, x0 + w, y + 2))
    return out


def test_scatter_labels_never_overlap_even_for_close_points():
    points = [{"label": f"dialect{i:02d}", "x": 1.0 + 0.01 * i, "y": 0.05 + 0.001 * i} for i in range(8)]
    svg = scatter_plot(points, "training hours", "CER")
    boxes = _boxes(svg)
    assert len(boxes) == 8
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert "dialect07" in svg  # named beside its point or listed under the plot


def test_place_labels_gives_up_rather_than_overlap():
    spots = place_labels([(50, 50, "a long label"), (50, 50, "another long label")], (0, 0, 60, 60))
    assert spots[0] is None or spots[1] is None


def test_trend_plot_thins_release_names_that_would_collide():
    svg = trend_plot([(f"release-{i}", 0.1, 0.08, 0.12) for i in range(60)])
    names = re.findall(r'<text x="([\d.]+)" y="[\d.]+" text-anchor="middle" class=tick>(release-\d+)<', svg)
    assert 0 < len(names) < 60  # thinned, and the names shown are whole
    xs = [float(x) for x, _ in names]
    assert min(b - a for a, b in zip(xs, xs[1:])) >= text_width("release-59", 11)


def test_forest_plot_on_a_log_axis_with_a_line_at_one():
    assert log_ticks(0.4, 12) == [0.5, 1, 2, 5, 10]
    svg = forest_plot([{"label": "cantonese", "values": [(7.85, 5.2, 14.5), (6.8, 4.4, 11.0)]},
                       {"label": "wu", "values": [(1.4, 0.9, 2.2), None]}],
                      ("unadjusted", "adjusted"), log=True, anchor=1.0, axis_label="ratio",
                      fmt=lambda v: f"{v:.2f}×", tick_fmt=lambda v: f"{v:g}×")
    assert "7.85× [5.20×, 14.50×]" in svg and "6.80× [4.40×, 11.00×]" in svg
    assert re.findall(r"class=tick>([^<]+)<", svg) == ["1×", "2×", "5×", "10×"]
    assert 'stroke-dasharray="4 3"' in svg


def _cell(dialect: str, gender: str, cer: float, speakers: int, eligible: bool = True) -> GroupResult:
    return GroupResult(utterances=50, speakers=speakers, ref_len=700, errors=int(700 * cer), sub=0, dele=0, ins=0,
                       cer=cer, cer_low=cer * 0.7, cer_high=cer * 1.4, sub_rate=None, del_rate=None, ins_rate=None,
                       keys=("dialect", "gender"), values=(dialect, gender), group=f"{dialect} × {gender}",
                       flag=None if eligible else f"{speakers} speakers < 5", eligible=eligible)


def test_heatmap_shows_figures_in_the_cells_and_hatches_small_ones():
    block = Intersection(("dialect", "gender"), (
        _cell("wu", "female", 0.05, 6), _cell("wu", "male", 0.08, 6),
        _cell("<b>yue</b>", "female", 0.22, 3, eligible=False)), 1)
    html = heatmap(block, "CER", "95% CI")
    assert "<b>8.0%</b><span>5.6%–11.2%</span><span>6 spk</span>" in html
    assert '<td class="cell flagged"><b>22.0%</b><span>too few speakers</span><span>3 spk</span></td>' in html
    assert "&lt;b&gt;yue&lt;/b&gt;" in html and "<b>yue</b>" not in html
    assert "<td class=empty>–</td>" in html  # yue × male: not in the data
    assert shade(0.0, 0.1) == ("#eff6ff", False) and shade(0.1, 0.1) == ("#1e408a", True)
    assert "<script" not in html
