"""The output vocabulary of a CTC model: one token per Han character or Latin word.

A :class:`Vocabulary` is built from training texts with the same normalisation and
tokenisation as scoring (:func:`asr.text.normalize`, :func:`asr.text.tokenize`), so
what the model emits is what CER counts: a Han character is one token, a run of Latin
letters and digits (``gps``, ``4s``) is one token, kept whole.

Id 0 is ``<blank>`` (the CTC blank) and id 1 is ``<unk>``; the other tokens follow in
codepoint order, so the same texts always give the same ids. It is saved with every
model as ``tokens.txt``: one ``token id`` pair per line, in id order.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from asr.errors import AsrError
from asr.io import atomic_write
from asr.text import is_han, normalize, tokenize

BLANK = "<blank>"
UNK = "<unk>"
SPECIALS = (BLANK, UNK)
TOKENS_FILE = "tokens.txt"


class Vocabulary:
    """Token <-> id mapping; ``tokens[0] == "<blank>"``, ``tokens[1] == "<unk>"``.

    >>> v = Vocabulary.build(["导航到 GPS 点", "到点"])
    >>> v.tokens
    ('<blank>', '<unk>', 'gps', '到', '导', '点', '航')
    >>> v.encode("导航 到 gps 站")
    [4, 6, 3, 2, 1]
    >>> v.decode([4, 6, 3, 2, 5])
    '导航到 gps 点'
    """

    blank_id = 0
    unk_id = 1

    def __init__(self, tokens: Sequence[str]):
        tokens = tuple(tokens)
        if tokens[:2] != SPECIALS:
            raise AsrError(f"vocabulary must start with {BLANK} (id 0) and {UNK} (id 1), got {list(tokens[:2])}")
        index: dict[str, int] = {}
        for i, token in enumerate(tokens):
            if not token or any(c.isspace() for c in token):
                raise AsrError(f"vocabulary token {i} is empty or contains whitespace: {token!r}")
            if token in index:
                raise AsrError(f"vocabulary token {token!r} appears twice (ids {index[token]} and {i})")
            index[token] = i
        self._tokens = tokens
        self._index = index

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> "Vocabulary":
        """All tokens seen at least ``min_count`` times in ``texts`` (after normalisation)."""
        counts = Counter(tok for text in texts for tok in tokenize(normalize(text)))
        kept = sorted(tok for tok, n in counts.items() if n >= min_count and tok not in SPECIALS)
        return cls([*SPECIALS, *kept])

    @classmethod
    def load(cls, path: str | Path) -> "Vocabulary":
        """Read ``tokens.txt`` (one ``token id`` per line, ids 0..N-1 in order)."""
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise AsrError(f"{path}: tokens file not found") from None
        tokens = []
        for lineno, line in enumerate(lines, 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) != len(tokens):
                raise AsrError(f"{path}:{lineno}: expected 'token {len(tokens)}', got {line!r}")
            tokens.append(parts[0])
        if len(tokens) < 2:
            raise AsrError(f"{path}: expected at least {BLANK} and {UNK}, found {len(tokens)} token(s)")
        try:
            return cls(tokens)
        except AsrError as e:
            raise AsrError(f"{path}: {e}") from None

    def save(self, path: str | Path) -> None:
        """Write ``tokens.txt`` atomically."""
        with atomic_write(path) as f:
            for i, token in enumerate(self._tokens):
                f.write(f"{token} {i}\n")

    @property
    def tokens(self) -> tuple[str, ...]:
        """All tokens in id order."""
        return self._tokens

    def __len__(self) -> int:
        return len(self._tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and other._tokens == self._tokens

    def __hash__(self) -> int:
        return hash(self._tokens)

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    def token_id(self, token: str) -> int:
        """The id of ``token``, or :attr:`unk_id`."""
        return self._index.get(token, self.unk_id)

    def encode(self, text: str) -> list[int]:
        """Normalise and tokenise ``text``; tokens not in the vocabulary become ``<unk>``."""
        return [self._index.get(tok, self.unk_id) for tok in tokenize(normalize(text))]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids to text: Han characters joined directly, a Latin word spaced from its neighbours.

        ``<blank>`` and ``<unk>`` are dropped. No CTC collapsing happens here: pass
        the collapsed ids (see the decoder).
        """
        pieces = [self._tokens[i] for i in ids if i > self.unk_id]
        return join_tokens(pieces)


def join_tokens(tokens: Sequence[str]) -> str:
    """Join tokens as text: a space only where one side is not a Han character."""
    out: list[str] = []
    prev_han = True
    for token in tokens:
        han = len(token) == 1 and is_han(token)
        if out and not (han and prev_han):
            out.append(" ")
        out.append(token)
        prev_han = han
    return "".join(out)
