"""Normalization: snap extracted values onto canonical vocabularies, units and string forms.

Configured per attribute by the schema's ``x-normalize`` blocks (see docs/normalization.md).
Closed sets that need judgement, such as a product-type taxonomy, are not fuzzy-matching problems:
give the attribute an ``enum`` and the model chooses among the allowed values under constrained
decoding; a vocabulary here only catches spelling variants of such values."""

from __future__ import annotations

from .normalizer import NormalizedValue, Normalizer, NormalizeStats, normalize_file
from .spec import MatchSpec, NormalizeSpec, NumberSpec, SpecError, UnitSpec, parse_spec
from .vocab import VocabEntry, Vocabulary, VocabMatch, load_vocab, match_key, shipped_vocabularies

__all__ = [
    "MatchSpec", "NormalizeSpec", "NormalizeStats", "NormalizedValue", "Normalizer", "NumberSpec", "SpecError",
    "UnitSpec", "VocabEntry", "VocabMatch", "Vocabulary", "load_vocab", "match_key", "normalize_file",
    "parse_spec", "shipped_vocabularies",
]
