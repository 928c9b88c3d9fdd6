"""The slot grammar of the synthetic corpus: reach, counts and reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from asr.corpus.synthetic.domain import GRAMMAR
from asr.corpus.synthetic.grammar import Grammar
from asr.errors import AsrError
from asr.text import is_han


@pytest.fixture(scope="module")
def sampled() -> list[str]:
    return GRAMMAR.sample_sentences(10000, np.random.default_rng(2), min_chars=6, max_chars=16)


def test_grammar_reaches_400_characters_and_5000_sentences_by_sampling(sampled):
    assert len(set(sampled)) == 10000 >= 5000
    assert all(6 <= len(s) <= 16 for s in sampled)
    characters = set("".join(sampled))
    assert len(characters) >= 400
    assert all(is_han(c) for c in characters)


def test_every_written_character_is_reachable_in_range(sampled):
    assert GRAMMAR.characters() - set("".join(sampled)) == set()


def test_exact_count_agrees_with_enumeration_on_a_small_grammar():
    g = Grammar(templates=(("打开{a}", 1.0), ("{a}{b}", 2.0)), slots={"a": ("空调", "车窗", "{b}灯"), "b": ("大", "雾")})
    # 打开空调 打开车窗 打开大灯 打开雾灯 (4 chars); 空调大 空调雾 车窗大 车窗雾 (3); 大灯大 大灯雾 雾灯大 雾灯雾 (3)
    assert g.count_sentences(1, 10) == 12
    assert g.count_sentences(4, 4) == 4
    assert g.length_histogram("{a}{b}") == {3: 8}
    assert GRAMMAR.count_sentences(6, 16) >= 5000


def test_sampling_is_reproducible_from_the_seed():
    a = GRAMMAR.sample_sentences(50, np.random.default_rng(7), 6, 16)
    b = GRAMMAR.sample_sentences(50, np.random.default_rng(7), 6, 16)
    c = GRAMMAR.sample_sentences(50, np.random.default_rng(8), 6, 16)
    assert a == b
    assert a != c


def test_sampling_excludes_and_refuses_impossible_requests():
    g = Grammar(templates=(("打开{a}", 1.0),), slots={"a": ("空调", "车窗")})
    assert g.sample_sentences(1, np.random.default_rng(0), 1, 10, exclude={"打开空调"}) == ["打开车窗"]
    with pytest.raises(AsrError, match=r"could draw only 2 of 3 distinct sentences of 1-10 characters"):
        g.sample_sentences(3, np.random.default_rng(0), 1, 10)


def test_bad_grammars_are_rejected():
    with pytest.raises(AsrError, match=r"uses unknown slot \{b\}"):
        Grammar(templates=(("{b}", 1.0),), slots={})
    with pytest.raises(AsrError, match=r"slot \{a\} refers to itself via a -> a"):
        Grammar(templates=(("{a}", 1.0),), slots={"a": ("x{a}",)})
