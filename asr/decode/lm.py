"""Character n-gram language model for shallow fusion in CTC beam search.

Units are the scoring tokens of :func:`asr.text.tokenize` on normalised text: one per
Han character, Latin words whole. Each training sentence is wrapped as
``<s> t1 ... tm </s>``; tokens never seen in training score as ``<unk>``.

Smoothing, both *interpolated* with the next lower order and, at the unigram level,
with the uniform distribution over the vocabulary (so ``<unk>`` and every token get
mass):

- ``kneser-ney``: absolute discounting with one discount per order,
  ``D = n1 / (n1 + 2 n2)`` (Ney et al. 1994; clamped to [0.1, 0.9] for tiny corpora),
  raw counts at the highest order and continuation counts (number of distinct left
  contexts) below it; n-grams that begin with ``<s>`` keep raw counts (as in KenLM).
- ``witten-bell``: ``p(w|h) = (c(hw) + N1+(h.) p(w|h')) / (c(h) + N1+(h.))``.

An interpolated model is stored exactly in backoff form: each seen n-gram carries its
full interpolated probability and each history its interpolation weight as the
backoff weight, so ``p(w|h) = p*(hw)`` if ``hw`` was seen, else ``bow(h) p(w|h')``.
This is the ARPA format (log10 values), which :meth:`NgramLM.save` writes as ``.arpa``
text or as JSON (same numbers); no pickle. For every seen or unseen context,
``p(.|h)`` sums to 1 over the vocabulary (``</s>`` and ``<unk>`` included, ``<s>``
excluded).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal, Sequence

from asr.errors import AsrError
from asr.io import atomic_write, open_text
from asr.manifest.records import Manifest
from asr.text import normalize, tokenize

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
Smoothing = Literal["kneser-ney", "witten-bell"]
SMOOTHINGS = ("kneser-ney", "witten-bell")
LN10 = math.log(10.0)
#: log10 probability that ARPA files give impossible events (``<s>`` as a prediction).
ARPA_ZERO = -99.0
JSON_FORMAT = "asr-ngram-lm"
Ngram = tuple[str, ...]
State = tuple[str, ...]


@dataclass(frozen=True)
class NgramEntry:
    """One n-gram in backoff form: log10 probability and log10 backoff weight."""

    logprob: float
    backoff: float = 0.0


class NgramLM:
    """A backoff n-gram model over tokens; :meth:`score` gives natural-log probabilities.

    ``tables[k]`` maps each seen ``(k+1)``-gram to its :class:`NgramEntry`.
    """

    def __init__(self, order: int, tables: list[dict[Ngram, NgramEntry]], smoothing: str = "unknown"):
        if order < 1 or len(tables) != order:
            raise AsrError(f"n-gram LM: expected {order} tables for order {order}, got {len(tables)}")
        self.order = order
        self.tables = tables
        self.smoothing = smoothing
        self._cache: dict[tuple[State, str], float] = {}

    @property
    def vocab(self) -> list[str]:
        """The predicted vocabulary: every unigram except ``<s>``."""
        return [g[0] for g in self.tables[0] if g[0] != BOS]

    def start(self) -> State:
        """The state before the first token of a sentence."""
        return (BOS,) if self.order > 1 else ()

    def advance(self, state: State, token: str) -> State:
        """The state after ``token``: the last ``order - 1`` tokens."""
        if self.order == 1:
            return ()
        token = token if (token,) in self.tables[0] else UNK
        return (state + (token,))[-(self.order - 1):]

    def log10prob(self, state: State, token: str) -> float:
        """log10 p(token | state) by backoff; unknown tokens score as ``<unk>``."""
        if (token,) not in self.tables[0]:
            token = UNK
        history = state[-(self.order - 1):] if self.order > 1 else ()
        total = 0.0
        while True:
            entry = self.tables[len(history)].get(history + (token,))
            if entry is not None:
                return total + entry.logprob
            if not history:
                return ARPA_ZERO  # <unk> absent from a foreign ARPA file
            bow = self.tables[len(history) - 1].get(history)
            total += bow.backoff if bow is not None else 0.0
            history = history[1:]

    def score(self, state: State, token: str) -> float:
        """Natural-log p(token | state), cached."""
        key = (state, token)
        value = self._cache.get(key)
        if value is None:
            value = self.log10prob(state, token) * LN10
            if len(self._cache) < 2_000_000:
                self._cache[key] = value
        return value

    def sentence_logprob(self, tokens: Sequence[str], eos: bool = True) -> float:
        """Natural-log probability of a token sequence (with ``</s>`` when ``eos``)."""
        state, total = self.start(), 0.0
        for token in [*tokens, EOS] if eos else tokens:
            total += self.score(state, token)
            state = self.advance(state, token)
        return total

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """Per-token perplexity (``</s>`` counted) over tokenised sentences."""
        total, count = 0.0, 0
        for tokens in sentences:
            total += self.sentence_logprob(tokens)
            count += len(tokens) + 1
        return math.exp(-total / max(count, 1))

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> Path:
        """Write ``.arpa`` text for an ``.arpa``/``.arpa.gz`` path, JSON otherwise; atomic."""
        path = Path(path)
        with atomic_write(path) as f:
            if _is_arpa(path):
                self._write_arpa(f)
            else:
                json.dump(self._to_json(), f, ensure_ascii=False, separators=(",", ":"))
                f.write("\n")
        return path

    def _to_json(self) -> dict:
        return {
            "format": JSON_FORMAT,
            "version": 1,
            "order": self.order,
            "smoothing": self.smoothing,
            "log_base": 10,
            "ngrams": [
                [[" ".join(g), round(e.logprob, 6), round(e.backoff, 6)] for g, e in sorted(table.items())]
                for table in self.tables
            ],
        }

    def _write_arpa(self, f) -> None:
        f.write("\\data\\\n")
        for k, table in enumerate(self.tables, 1):
            f.write(f"ngram {k}={len(table)}\n")
        for k, table in enumerate(self.tables, 1):
            f.write(f"\n\\{k}-grams:\n")
            for g, e in sorted(table.items()):
                line = f"{e.logprob:.6f}\t{' '.join(g)}"
                if k < self.order:
                    line += f"\t{e.backoff:.6f}"
                f.write(line + "\n")
        f.write("\n\\end\\\n")


def _is_arpa(path: Path) -> bool:
    return path.name.endswith((".arpa", ".arpa.gz"))


def load_lm(path: str | Path) -> NgramLM:
    """Read an LM written by :meth:`NgramLM.save` (JSON or ARPA; ARPA from other tools too)."""
    path = Path(path)
    if not path.is_file():
        raise AsrError(f"{path}: language model not found (train one with `asr lm`)")
    try:
        with open_text(path) as f:
            return _read_arpa(f, path) if _is_arpa(path) else _from_json(json.load(f), path)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError) as e:
        raise AsrError(f"{path}: not a valid language model file ({e})") from None


def _from_json(data: dict, path: Path) -> NgramLM:
    if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
        raise AsrError(f"{path}: not an asr n-gram LM (expected JSON with format {JSON_FORMAT!r})")
    tables = [
        {tuple(g.split(" ")): NgramEntry(float(lp), float(bow)) for g, lp, bow in rows} for rows in data["ngrams"]
    ]
    return NgramLM(int(data["order"]), tables, data.get("smoothing", "unknown"))


def _read_arpa(lines: Iterable[str], path: Path) -> NgramLM:
    counts: dict[int, int] = {}
    tables: list[dict[Ngram, NgramEntry]] = []
    section = 0
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("ngram ") and section == 0:
            k, n = line[6:].split("=")
            counts[int(k)] = int(n)
        elif line.endswith("-grams:"):
            section = int(line[1:].split("-")[0])
            tables.append({})
        elif line == "\\end\\":
            break
        elif section:
            parts = line.split()
            logprob = float(parts[0])
            gram = tuple(parts[1 : 1 + section])
            backoff = float(parts[1 + section]) if len(parts) > 1 + section else 0.0
            tables[section - 1][gram] = NgramEntry(logprob, backoff)
    if not tables or len(tables) != len(counts):
        raise AsrError(f"{path}: truncated ARPA file (expected {len(counts)} n-gram sections, got {len(tables)})")
    return NgramLM(len(tables), tables, "arpa")


# ---------------------------------------------------------------- training
def sentence_tokens(text: str) -> list[str]:
    """The LM units of one transcript: normalised, one per Han character, Latin words whole."""
    return tokenize(normalize(text))


def train_lm(sentences: Iterable[Sequence[str]], order: int = 4, smoothing: Smoothing = "kneser-ney") -> NgramLM:
    """Train an interpolated n-gram model on tokenised sentences (see the module docstring)."""
    if order < 1:
        raise AsrError(f"n-gram LM: order must be at least 1, got {order}")
    if smoothing not in SMOOTHINGS:
        raise AsrError(f"n-gram LM: unknown smoothing {smoothing!r} (expected one of: {', '.join(SMOOTHINGS)})")
    raw: list[dict[Ngram, int]] = [defaultdict(int) for _ in range(order)]
    n_sentences = 0
    for tokens in sentences:
        if not tokens:
            continue
        n_sentences += 1
        seq = (BOS, *tokens, EOS)
        for i in range(1, len(seq)):
            for k in range(1, order + 1):
                if i - k + 1 < 0:
                    break
                raw[k - 1][seq[i - k + 1 : i + 1]] += 1
    if not n_sentences:
        raise AsrError("n-gram LM: no training text (every sentence was empty)")
    vocab = sorted({g[0] for g in raw[0]} | {UNK})
    counts = _kn_counts(raw) if smoothing == "kneser-ney" else raw
    probs = _interpolate(counts, vocab, smoothing)
    return NgramLM(order, probs, smoothing)


def _kn_counts(raw: list[dict[Ngram, int]]) -> list[dict[Ngram, int]]:
    """Raw counts at the top order; continuation counts below (raw for ``<s>``-initial n-grams)."""
    order = len(raw)
    counts: list[dict[Ngram, int]] = [dict() for _ in range(order)]
    counts[-1] = dict(raw[-1])
    for k in range(order - 1, 0, -1):  # fill order k (index k-1) from order k+1
        cont: dict[Ngram, int] = defaultdict(int)
        for gram in raw[k]:
            cont[gram[1:]] += 1
        counts[k - 1] = {g: (c if g[0] == BOS else cont.get(g, c)) for g, c in raw[k - 1].items()}
    return counts


def _discount(counts: dict[Ngram, int]) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    d = n1 / (n1 + 2 * n2) if n1 + 2 * n2 else 0.5
    return min(max(d, 0.1), 0.9)


def _interpolate(counts: list[dict[Ngram, int]], vocab: list[str], smoothing: str) -> list[dict[Ngram, NgramEntry]]:
    """Probabilities in backoff form, order by order (log10)."""
    order = len(counts)
    predicted = [w for w in vocab if w != BOS]
    uniform = 1.0 / len(predicted)
    gammas: list[dict[Ngram, float]] = []
    probs: list[dict[Ngram, float]] = []
    for k in range(1, order + 1):
        table = {g: c for g, c in counts[k - 1].items() if g[-1] != BOS}
        totals: dict[Ngram, int] = defaultdict(int)
        types: dict[Ngram, int] = defaultdict(int)
        for g, c in table.items():
            totals[g[:-1]] += c
            types[g[:-1]] += 1
        d = _discount(table) if smoothing == "kneser-ney" else 0.0
        gamma: dict[Ngram, float] = {}
        for h, total in totals.items():
            if smoothing == "kneser-ney":
                gamma[h] = d * types[h] / total
            else:
                gamma[h] = types[h] / (total + types[h])
        prob: dict[Ngram, float] = {}
        if k == 1:
            grams = [(w,) for w in predicted]
        else:
            grams = list(table)
        for g in grams:
            c = table.get(g, 0)
            h = g[:-1]
            back = uniform if k == 1 else _backoff_prob(g[1:], probs, gammas)
            if smoothing == "kneser-ney":
                direct = max(c - d, 0.0) / totals[h] if totals[h] else 0.0
            else:
                direct = c / (totals[h] + types[h]) if totals[h] else 0.0
            prob[g] = direct + gamma.get(h, 1.0) * back
        probs.append(prob)
        gammas.append(gamma)
    tables: list[dict[Ngram, NgramEntry]] = []
    for k in range(order):
        bows = gammas[k + 1] if k + 1 < order else {}
        table = {g: NgramEntry(math.log10(p), math.log10(bows[g]) if g in bows else 0.0) for g, p in probs[k].items()}
        if k == 0:
            table[(BOS,)] = NgramEntry(ARPA_ZERO, math.log10(bows[(BOS,)]) if (BOS,) in bows else 0.0)
        tables.append(table)
    return tables


def _backoff_prob(gram: Ngram, probs: list[dict[Ngram, float]], gammas: list[dict[Ngram, float]]) -> float:
    """p(w | h) of the model so far for ``gram = h + (w,)`` (linear domain, backoff form)."""
    weight = 1.0
    while True:
        p = probs[len(gram) - 1].get(gram)
        if p is not None:
            return weight * p
        h = gram[:-1]
        weight *= gammas[len(gram) - 1].get(h, 1.0)
        gram = gram[1:]


def train_lm_from_manifests(
    manifests: Sequence[str | Path], order: int = 4, smoothing: Smoothing = "kneser-ney"
) -> NgramLM:
    """Train on the ``text`` field of every utterance of the given manifests."""
    def sentences():
        for path in manifests:
            count = 0
            for utt in Manifest(path):
                count += 1
                yield sentence_tokens(utt.text)
            if count == 0:
                raise AsrError(f"{path}: manifest has no utterances (expected training text)")

    return train_lm(sentences(), order=order, smoothing=smoothing)
