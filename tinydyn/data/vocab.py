"""A vocabulary: the two-way map between tokens (words or characters) and integer ids.

Ids 0 and 1 are reserved: 0 is padding (what :func:`~tinydyn.data.pad_collate` fills with, and
what ``nn.Embedding(padding_idx=0)`` ignores) and 1 stands for any token not in the vocabulary.
The other tokens are numbered by decreasing frequency, ties broken alphabetically, so the same
texts always give the same ids.
"""

from __future__ import annotations

import re
from collections import Counter

from tinydyn._checks import check_int, fail

__all__ = ["Vocab", "tokenize"]

# A word is a run of letters/digits (with inner apostrophes: "don't"); every other
# non-space character is a token of its own, so "good." -> ["good", "."].
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_LEVELS = ("word", "char")


def tokenize(text: str, level: str = "word") -> list[str]:
    """Split ``text`` into lowercase word/punctuation tokens, or into characters."""
    if not isinstance(text, str):
        fail("tokenize", f"text must be a str, got {type(text).__name__}", TypeError)
    if level not in _LEVELS:
        fail("tokenize", f"level must be 'word' or 'char', got {level!r}")
    if level == "char":
        return list(text)
    return _WORD_RE.findall(text.lower())


class Vocab:
    """Token <-> id map. Build one from texts with :meth:`Vocab.build`.

    Attributes:
        itos: list of tokens, ``itos[i]`` is the token with id ``i``.
        stoi: dict from token to id.
        level: ``"word"`` or ``"char"`` (how :meth:`encode` splits a text).
    """

    pad_id = 0
    unk_id = 1

    def __init__(self, itos, level: str = "word"):
        if level not in _LEVELS:
            fail("Vocab", f"level must be 'word' or 'char', got {level!r}")
        itos = list(itos)
        if len(itos) < 2:
            fail("Vocab", f"needs at least the two special tokens (pad, unk), got {itos}")
        for token in itos:
            if not isinstance(token, str):
                fail("Vocab", f"tokens must be str, got {type(token).__name__} {token!r}",
                     TypeError)
        if len(set(itos)) != len(itos):
            repeated = next(t for t, c in Counter(itos).items() if c > 1)
            fail("Vocab", f"tokens must be unique, {repeated!r} appears more than once")
        self.itos = itos
        self.stoi = {token: i for i, token in enumerate(itos)}
        self.level = level

    @classmethod
    def build(cls, texts, level: str = "word", min_freq: int = 1, max_size: int | None = None,
              specials=("<pad>", "<unk>")) -> Vocab:
        """Count tokens over ``texts`` and keep those seen at least ``min_freq`` times.

        ``max_size`` caps the total size, specials included. ``specials`` come first: the first
        is the padding token (id 0), the second the unknown token (id 1), then any extras.
        """
        if isinstance(texts, str):
            fail("Vocab.build", "texts must be a list of strings, got a single str", TypeError)
        if level not in _LEVELS:
            fail("Vocab.build", f"level must be 'word' or 'char', got {level!r}")
        min_freq = check_int("Vocab.build", "min_freq", min_freq, min_value=1)
        specials = tuple(specials)
        if len(specials) < 2:
            fail("Vocab.build", f"specials must start with a padding and an unknown token, "
                 f"got {specials}")
        if max_size is not None:
            max_size = check_int("Vocab.build", "max_size", max_size, min_value=len(specials))
        counts = Counter()
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                fail("Vocab.build", f"texts[{i}] must be a str, got {type(text).__name__}",
                     TypeError)
            counts.update(tokenize(text, level))
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - len(specials)]
        return cls(list(specials) + kept, level=level)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; unknown tokens map to ``unk_id``."""
        if not isinstance(text, str):
            fail("Vocab.encode", f"text must be a str, got {type(text).__name__}", TypeError)
        return [self.stoi.get(t, self.unk_id) for t in tokenize(text, self.level)]

    def decode(self, ids, skip_pad: bool = True) -> str:
        """The text of ``ids`` (words joined by spaces, characters joined directly)."""
        tokens = []
        for i in ids:
            i = check_int("Vocab.decode", "id", i)
            if not 0 <= i < len(self.itos):
                fail("Vocab.decode", f"id {i} is out of range for a vocabulary of size "
                     f"{len(self.itos)}")
            if skip_pad and i == self.pad_id:
                continue
            tokens.append(self.itos[i])
        return ("" if self.level == "char" else " ").join(tokens)

    def to_dict(self) -> dict:
        """A JSON-friendly description; :meth:`from_dict` rebuilds the same Vocab."""
        return {"itos": list(self.itos), "level": self.level}

    @classmethod
    def from_dict(cls, state) -> Vocab:
        if not isinstance(state, dict) or "itos" not in state:
            fail("Vocab.from_dict", f"state must be a dict with key 'itos' (and 'level'), got "
                 f"{type(state).__name__}", TypeError)
        return cls(state["itos"], level=state.get("level", "word"))

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos and self.level == other.level

    __hash__ = None

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self.itos[:6])
        more = ", ..." if len(self.itos) > 6 else ""
        return f"Vocab(size={len(self)}, level={self.level!r}, tokens=[{preview}{more}])"
