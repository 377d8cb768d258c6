"""The tagger's labels: O, then B-<key> and I-<key> for each (schema, attribute) key, and the
label id torch's loss skips. The bottom of the tagger: data, tokens and model import it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigError
from ..schemas import Attribute, Schema

IGNORE = -100
"""The label torch's cross-entropy skips: special tokens and spans cut by a window's edge."""


def taggable(attribute: Attribute) -> bool:
    """Whether a span of text can hold the attribute's value (strings and numbers, or arrays of them)."""
    kinds = set(attribute.item_types if attribute.is_array else attribute.types)
    return bool(kinds & {"string", "number", "integer"})


class LabelSet:
    """Label ids: 0 = O, then B and I for each (schema, attribute) key in order."""

    outside = 0

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        if len(set(keys)) != len(keys):
            raise ConfigError("label keys must be unique (schema, attribute) pairs")
        self.keys = list(keys)
        self._index = {key: i for i, key in enumerate(self.keys)}

    @classmethod
    def from_schemas(cls, schemas: list[Schema]) -> LabelSet:
        """Keys for every taggable attribute of every schema (booleans get none: no span says them)."""
        return cls([(s.name, a.name) for s in schemas for a in s.attributes if taggable(a)])

    @property
    def names(self) -> list[str]:
        """Label strings in id order (written to the model's config as id2label)."""
        out = ["O"]
        for schema, attribute in self.keys:
            out += [f"B-{schema}/{attribute}", f"I-{schema}/{attribute}"]
        return out

    def __len__(self) -> int:
        return 1 + 2 * len(self.keys)

    def key(self, schema: str, attribute: str) -> int:
        return self._index[(schema, attribute)]

    def has(self, schema: str, attribute: str) -> bool:
        return (schema, attribute) in self._index

    def attributes(self, schema: str) -> list[str]:
        return [a for s, a in self.keys if s == schema]

    def allowed(self, schema: str, order: Sequence[str] | None = None) -> list[int]:
        """The label ids a text of ``schema`` can carry: O, then B and I of each of its attributes
        in schema order, or in ``order`` (another tagger's, to line two label sets up); other
        schemas' labels never apply to it, in training or extraction."""
        keys = [self.key(schema, a) for a in (self.attributes(schema) if order is None else order)]
        return [self.outside] + [i for k in keys for i in (self.begin(k), self.inside(k))]

    def begin(self, key: int) -> int:
        return 1 + 2 * key

    def inside(self, key: int) -> int:
        return 2 + 2 * key

    def is_inside(self, label: int) -> bool:
        return label > 0 and label % 2 == 0


@dataclass(frozen=True)
class Span:
    """One located gold occurrence: characters [start, end) of the text are ``key``'s value."""

    start: int
    end: int
    key: int
    """Index into the label set's keys."""
    value: tuple[int, int] | None = None
    """For a value found inside a word: its own characters ([start, end) is then the whole word(s))."""


@dataclass
class TaggedText:
    """A training text with its located spans (not yet tokenized)."""

    id: str
    text: str
    schema: str
    candidates: list[tuple[str, list[Span]]]
    """Per valued slot, in schema order: its ``where`` label and its occurrences."""
