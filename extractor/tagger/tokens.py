"""Tokens of a text with their character offsets, and the windows (special tokens around a slice,
with overlap) a model reads, so long texts are read whole, never cut."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .labels import IGNORE, LabelSet


@dataclass
class Tokens:
    """One text tokenized whole (no special tokens): ids and character offsets per token."""

    ids: list[int]
    offsets: list[tuple[int, int]]


def tokenize(tokenizer: Any, text: str) -> Tokens:
    """The whole text's tokens; a fast tokenizer is needed for the offsets. The text is data:
    strings such as ``[SEP]`` or ``<|im_end|>`` in it are read as ordinary text, never as the
    special tokens they spell (``split_special_tokens``), in training and extraction alike."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False,
                        split_special_tokens=True)
    return Tokens(ids=list(encoded["input_ids"]), offsets=[tuple(o) for o in encoded["offset_mapping"]])


def window_starts(n_tokens: int, size: int, overlap: int) -> list[int]:
    """First token of each window of ``size`` tokens covering ``n_tokens``, consecutive windows
    sharing at least ``overlap`` tokens; the last window ends at the last token."""
    if size < 1 or not 0 <= overlap < size:
        raise ValueError("window size must be >= 1 and overlap in [0, size)")
    if n_tokens <= size:
        return [0]
    starts = [0]
    while starts[-1] + size < n_tokens:
        starts.append(starts[-1] + size - overlap)
    starts[-1] = n_tokens - size
    return starts


Frame = tuple[list[int], list[int]]
"""The special token ids a model input starts and ends with ([CLS] and [SEP] for BERT)."""


def special_frame(tokenizer: Any) -> Frame:
    """The special tokens the tokenizer puts around one sequence, found by encoding a probe text
    with and without them (tokenizers do not all expose how they build inputs)."""
    probe = "a b"
    plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
    full = tokenizer(probe, add_special_tokens=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return list(full[:i]), list(full[i + len(plain):])
    raise ConfigError("cannot tell which special tokens the tokenizer adds around a text")


@dataclass
class Window:
    """One model input: special tokens around a slice of a text's tokens."""

    input_ids: list[int]
    start: int
    """Index of the slice's first token among the text's tokens."""
    length: int
    """Tokens of the text in this window (special tokens excluded)."""
    offset: int
    """Position in ``input_ids`` of the slice's first token (after the leading special tokens)."""
    labels: list[int] | None = None
    """Per position of ``input_ids``: a label id, or IGNORE (special tokens, spans cut by an edge)."""
    allowed: list[int] | None = None
    """Training: the label ids of the text's schema; the loss compares only these, as extraction does."""


def windows(tokens: Tokens, frame: Frame, size: int, overlap: int, labels: list[int] | None = None,
            label_set: LabelSet | None = None) -> list[Window]:
    """The text's tokens as windows of at most ``size`` model positions (special tokens included)."""
    head, tail = frame
    room = size - len(head) - len(tail)
    if room < 2:
        raise ConfigError(f"window {size} leaves no room for text between the special tokens")
    out = []
    for start in window_starts(len(tokens.ids), room, min(overlap, room - 1)):
        piece = tokens.ids[start:start + room]
        window = Window(input_ids=head + piece + tail, start=start, length=len(piece), offset=len(head))
        if labels is not None and label_set is not None:
            window.labels = ([IGNORE] * len(head) + _window_labels(labels, start, len(piece), label_set)
                             + [IGNORE] * len(tail))
        out.append(window)
    return out


def _window_labels(full: list[int], start: int, length: int, label_set: LabelSet) -> list[int]:
    """The slice's labels; a span cut by the window's edge is ignored there, so the model is
    never taught that a value ends (or starts) where the window does."""
    piece = full[start:start + length]
    i = 0
    while start > 0 and i < len(piece) and label_set.is_inside(piece[i]):
        piece[i] = IGNORE
        i += 1
    end = start + length
    if end < len(full) and label_set.is_inside(full[end]):
        i = len(piece) - 1
        while i >= 0 and piece[i] not in (IGNORE, label_set.outside):
            begins = not label_set.is_inside(piece[i])
            piece[i] = IGNORE
            if begins:
                break
            i -= 1
    return piece
