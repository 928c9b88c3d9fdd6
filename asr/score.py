"""Edit counts between reference and hypothesis, through the alignment ``jiwer`` uses.

CER: texts are normalised (:func:`asr.text.normalize`, one :class:`asr.text.Normalization` for
both sides) and split into tokens with :func:`asr.text.tokenize` (one per Han character, Latin
words whole); WER: split on spaces. Token lists are aligned by unit-cost Levenshtein opcodes from
``rapidfuzz.distance.Levenshtein.opcodes``, the call ``jiwer.process_words`` makes (so the counts
are jiwer's, tested in ``tests/test_score.py``), without jiwer's per-call string transforms, which
cost 30 times more on a million utterances. A corpus or group figure is pooled: summed edits over
summed reference tokens, never a mean of per-utterance rates.

Agreement with NIST ``sclite``: on the same normalised tokens, sclite's corpus
totals (reference tokens; errors) match ours whenever the minimum-edit alignment is
also sclite's. sclite minimises a weighted cost (substitution 4, insertion and
deletion 3), so (a) among alignments with the same number of errors it may split
them differently (e.g. one deletion plus one insertion where we count two
substitutions), and (b) on long runs of substitutions it can prefer a shifted
alignment with *more* errors: ``a b c d e f g`` against ``e f g h i j k`` is 7
substitutions for us (unit cost) but 4 deletions and 4 insertions (cost 24 < 28)
for sclite. Both are tested in ``tests/test_score_sclite.py``; on realistic
recogniser output the totals agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from rapidfuzz.distance import Levenshtein

from asr.errors import AsrError
from asr.text import DEFAULT, Normalization, normalize, tokenize, words

Unit = Literal["char", "word"]


@dataclass(frozen=True)
class EditCounts:
    """Substitutions, deletions, insertions and reference length (in tokens) of one or more pairs."""

    sub: int = 0
    dele: int = 0
    ins: int = 0
    ref_len: int = 0

    @property
    def errors(self) -> int:
        return self.sub + self.dele + self.ins

    @property
    def hits(self) -> int:
        return self.ref_len - self.sub - self.dele

    @property
    def error_rate(self) -> float:
        """Pooled error rate (CER or WER) as a fraction; ``inf`` if there are errors but no reference."""
        if self.ref_len == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.ref_len

    def __add__(self, other: "EditCounts") -> "EditCounts":
        return EditCounts(self.sub + other.sub, self.dele + other.dele, self.ins + other.ins, self.ref_len + other.ref_len)


def units(text: str, unit: Unit = "char", normalization: Normalization = DEFAULT) -> list[str]:
    """Normalise ``text`` and split it into scoring tokens."""
    text = normalize(text, normalization)
    return tokenize(text) if unit == "char" else words(text)


def align_tokens(ref: list[str], hyp: list[str]) -> EditCounts:
    """Edit counts of two token lists (unit-cost alignment)."""
    sub = dele = ins = 0
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(ref, hyp):
        if tag == "replace":
            sub += i2 - i1
        elif tag == "delete":
            dele += i2 - i1
        elif tag == "insert":
            ins += j2 - j1
    return EditCounts(sub, dele, ins, len(ref))


def alignment(ref: list[str], hyp: list[str]) -> list[tuple[str, str | None, str | None]]:
    """The aligned pairs ``(op, ref_token, hyp_token)`` with op in ``= S D I``."""
    pairs: list[tuple[str, str | None, str | None]] = []
    for tag, i1, i2, j1, j2 in Levenshtein.opcodes(ref, hyp):
        r, h = ref[i1:i2], hyp[j1:j2]
        if tag == "equal":
            pairs += [("=", a, b) for a, b in zip(r, h)]
        elif tag == "replace":
            pairs += [("S", a, b) for a, b in zip(r, h)]
        elif tag == "delete":
            pairs += [("D", a, None) for a in r]
        else:
            pairs += [("I", None, b) for b in h]
    return pairs


def score_pair(ref: str, hyp: str, unit: Unit = "char", normalization: Normalization = DEFAULT) -> EditCounts:
    """Edit counts of one reference/hypothesis pair after the same normalisation of both."""
    return align_tokens(units(ref, unit, normalization), units(hyp, unit, normalization))


def pooled(counts: Iterable[EditCounts]) -> EditCounts:
    """Sum of edit counts: the pooled corpus or group figure."""
    total = EditCounts()
    for c in counts:
        total = total + c
    return total


# ----------------------------------------------------------------------------- transcript files

_TRN_ID = re.compile(r"^(?P<text>.*?)\s*\((?P<id>[^()\s]+)\)\s*$")


def is_trn_line(line: str) -> bool:
    """Whether ``line`` is an sclite ``trn`` line, ``text (id)``."""
    return _TRN_ID.match(line) is not None


def read_transcripts(path: str | Path) -> dict[str, str]:
    """Read a transcript file: Kaldi ``id text`` lines, or sclite ``trn`` lines ``text (id)``.

    The format is detected from the first non-empty line (``trn`` when it ends with
    ``(id)``). Duplicate ids, a missing id or a line in the other format are
    :class:`AsrError` naming the file and line.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise AsrError(f"{path}: transcript file not found") from None
    except UnicodeDecodeError as e:
        raise AsrError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise AsrError(f"{path}: transcript file is empty")
    trn = is_trn_line(first)
    out: dict[str, str] = {}
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if trn:
            m = _TRN_ID.match(line)
            if not m:
                raise AsrError(f"{path}:{lineno}: expected a trn line 'text (id)'")
            utt, text = m["id"], m["text"]
        else:
            utt, _, text = line.strip().partition(" ")
            text = text.strip()
        if utt in out:
            raise AsrError(f"{path}:{lineno}: duplicate utterance id {utt!r}")
        out[utt] = text
    return out


@dataclass(frozen=True)
class ScoredUtterance:
    """One utterance of :func:`score_transcripts`: its id, texts and edit counts."""

    id: str
    ref: str
    hyp: str
    counts: EditCounts


def score_transcripts(
    refs: dict[str, str], hyps: dict[str, str], unit: Unit = "char", normalization: Normalization = DEFAULT,
    where: str = "hyp",
) -> list[ScoredUtterance]:
    """Score every reference; a reference without hypothesis counts as all deletions (like sclite).

    A hypothesis id that is not in the references is an :class:`AsrError`.
    """
    extra = sorted(set(hyps) - set(refs))
    if extra:
        raise AsrError(f"{where}: {len(extra)} hypothesis id(s) not in the references, e.g. {extra[0]!r}")
    return [
        ScoredUtterance(utt, ref, hyps.get(utt, ""), score_pair(ref, hyps.get(utt, ""), unit, normalization))
        for utt, ref in refs.items()
    ]


def summary_table(scored: list[ScoredUtterance], speakers: dict[str, str] | None = None, title: str = "hyp") -> str:
    """An sclite-style summary: per speaker (when ``speakers`` maps ids to them) and in total.

    Columns as sclite's ``sum``: sentences, reference words (tokens), then Corr, Sub,
    Del, Ins, Err and S.Err as percentages of the reference tokens (S.Err: of sentences).
    """
    rows: dict[str, list] = {}
    for s in scored:
        key = speakers.get(s.id, "(unknown)") if speakers else None
        if key is not None:
            rows.setdefault(key, []).append(s)
    header = f"| {'SPKR':<12} | {'# Snt':>6} {'# Wrd':>8} | {'Corr':>6} {'Sub':>6} {'Del':>6} {'Ins':>6} {'Err':>6} {'S.Err':>6} |"
    rule = "|" + "-" * (len(header) - 2) + "|"
    lines = [f",{'-' * (len(header) - 2)}.", f"|{title:^{len(header) - 2}}|", rule, header, rule]
    for name in sorted(rows):
        lines.append(_summary_line(name, rows[name]))
    if rows:
        lines.append(rule.replace("-", "="))
    lines.append(_summary_line("Sum/Avg", scored))
    lines.append(f"`{'-' * (len(header) - 2)}'")
    return "\n".join(lines)


def _summary_line(name: str, scored: list[ScoredUtterance]) -> str:
    total = pooled(s.counts for s in scored)
    n = max(total.ref_len, 1)
    pct = lambda x: f"{100 * x / n:6.1f}"  # noqa: E731
    sent_err = sum(s.counts.errors > 0 for s in scored)
    return (
        f"| {name[:12]:<12} | {len(scored):>6} {total.ref_len:>8} | {pct(total.hits)} {pct(total.sub)} "
        f"{pct(total.dele)} {pct(total.ins)} {pct(total.errors)} {100 * sent_err / max(len(scored), 1):6.1f} |"
    )
