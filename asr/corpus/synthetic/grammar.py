"""A slot grammar: templates with ``{slot}`` holes, filled from word lists.

A :class:`Grammar` has weighted templates (``"导航到{place}"``) and slots, each a
tuple of values; a value may itself hold ``{slot}`` holes (``"{city}{poi_type}"``).
Sampling picks a template by weight, then fills every hole with a value drawn
uniformly, recursively. :meth:`Grammar.count_sentences` counts the derivations
whose length lies in a character range exactly (by convolving per-slot length
histograms), without enumerating them.

The domain itself (voice assistant, in-car navigation, customer service) lives in
:mod:`asr.corpus.synthetic.domain`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Iterable, Mapping

import numpy as np

from asr.errors import AsrError

_HOLE = re.compile(r"\{([a-z_0-9]+)\}")

#: How many draws :meth:`Grammar.sample_sentences` may spend per sentence asked for.
MAX_DRAWS_PER_SENTENCE = 200


@dataclass(frozen=True)
class Grammar:
    """Weighted templates plus slot value lists.

    ``templates`` is a tuple of ``(template, weight)``; ``slots`` maps a slot name to
    its values. Construction checks that every hole names a slot and that no slot
    refers to itself, directly or through others.
    """

    templates: tuple[tuple[str, float], ...]
    slots: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        for text in [t for t, _ in self.templates] + [v for vs in self.slots.values() for v in vs]:
            for name in _HOLE.findall(text):
                if name not in self.slots:
                    raise AsrError(f"grammar: {text!r} uses unknown slot {{{name}}}")
        for name in self.slots:
            self._check_acyclic(name, ())
        if any(w <= 0 for _, w in self.templates):
            raise AsrError("grammar: template weights must be positive")

    def _check_acyclic(self, name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise AsrError(f"grammar: slot {{{name}}} refers to itself via {' -> '.join(path + (name,))}")
        for value in self.slots[name]:
            for child in _HOLE.findall(value):
                self._check_acyclic(child, path + (name,))

    # -- sampling -----------------------------------------------------------------

    def expand(self, text: str, rng: np.random.Generator) -> str:
        """Fill every hole of ``text`` with a uniformly drawn value, recursively."""

        def fill(match: re.Match) -> str:
            values = self.slots[match.group(1)]
            return self.expand(values[int(rng.integers(len(values)))], rng)

        return _HOLE.sub(fill, text)

    def sample(self, rng: np.random.Generator) -> str:
        """One sentence: a template drawn by weight, its holes filled."""
        index = int(np.searchsorted(self._template_cdf, rng.random(), side="right"))
        return self.expand(self.templates[min(index, len(self.templates) - 1)][0], rng)

    def sample_sentences(
        self,
        n: int,
        rng: np.random.Generator,
        min_chars: int,
        max_chars: int,
        exclude: Iterable[str] = (),
    ) -> list[str]:
        """``n`` distinct sentences of ``min_chars..max_chars`` characters, none in ``exclude``.

        Raises :class:`AsrError` when the grammar cannot supply that many.
        """
        taken = set(exclude)
        out: list[str] = []
        draws = 0
        while len(out) < n:
            draws += 1
            if draws > MAX_DRAWS_PER_SENTENCE * max(n, 1):
                raise AsrError(
                    f"grammar: could draw only {len(out)} of {n} distinct sentences of "
                    f"{min_chars}-{max_chars} characters (ask for fewer utterances or widen the range)"
                )
            sentence = self.sample(rng)
            if min_chars <= len(sentence) <= max_chars and sentence not in taken:
                taken.add(sentence)
                out.append(sentence)
        return out

    @cached_property
    def _template_cdf(self) -> np.ndarray:
        weights = np.array([w for _, w in self.templates], dtype=np.float64)
        return np.cumsum(weights) / weights.sum()

    # -- counting -----------------------------------------------------------------

    def length_histogram(self, text: str) -> Counter:
        """``{length: number of derivations}`` of ``text`` (a template or a slot value)."""
        hist = Counter({len(_HOLE.sub("", text)): 1})
        for name in _HOLE.findall(text):
            hist = _convolve(hist, self._slot_histogram(name))
        return hist

    def count_sentences(self, min_chars: int, max_chars: int) -> int:
        """Number of derivations with ``min_chars..max_chars`` characters, over all templates.

        Equal to the number of distinct sentences when no two derivations spell the same
        string (the tests check distinctness by sampling).
        """
        return sum(
            count
            for template, _ in self.templates
            for length, count in self.length_histogram(template).items()
            if min_chars <= length <= max_chars
        )

    def characters(self) -> set[str]:
        """Every character written in a template or a slot value."""
        texts = [t for t, _ in self.templates] + [v for vs in self.slots.values() for v in vs]
        return {c for text in texts for c in _HOLE.sub("", text)}

    @cached_property
    def _histograms(self) -> dict[str, Counter]:
        return {}

    def _slot_histogram(self, name: str) -> Counter:
        if name not in self._histograms:
            total: Counter = Counter()
            for value in self.slots[name]:
                total.update(self.length_histogram(value))
            self._histograms[name] = total
        return self._histograms[name]


def _convolve(a: Counter, b: Counter) -> Counter:
    out: Counter = Counter()
    for la, ca in a.items():
        for lb, cb in b.items():
            out[la + lb] += ca * cb
    return out
