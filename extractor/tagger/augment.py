"""Synthetic training texts for the tagger, by the augmentations LoRA tuning also uses
(``extractor.training.augment``): ``swap`` puts another offer's value of the same attribute into the
title, ``drop`` removes a title segment without gold values, ``shuffle`` reorders the segments.

A tagger learns spans from the words around them; a value it has seen in only one title is easy to
memorise together with that title. Swapped variants show each context with other values of the
attribute, and each value in other contexts. That helps on some datasets and hurts on others (a
variant can also teach a wrong context), so it is an option to measure per dataset, never a
default (docs/notes/2026-11-30-tagger-augmentation-and-endings.md).

Only the training texts are augmented, never the held-out ones that choose the epoch and the span
threshold. A variant carries one form per valued attribute (the one written into its text) and
keeps the attributes its source marks absent."""

from __future__ import annotations

from ..errors import ConfigError
from ..evaluate.scorer import GOLD_ABSENT, GoldOffer
from ..records import Document
from ..training.augment import augment, check_augmentation_kinds
from ..training.examples import Example
from .data import TrainingSet


def check_augmentations(kinds: list[str], copies: int) -> None:
    """ConfigError for an unknown augmentation kind or fewer than one copy."""
    check_augmentation_kinds(kinds)
    if copies < 1:
        raise ConfigError("augment_copies must be >= 1")


def augmented(data: TrainingSet, kinds: list[str], copies: int = 1, seed: int = 0) -> TrainingSet:
    """``data`` followed by its synthetic variants (none when ``kinds`` is empty)."""
    check_augmentations(kinds, copies)
    if not kinds:
        return data
    # the source names each text's index, so a variant finds its own offer even where texts repeat
    examples = [Example(document.text, _record(offer), data.schemas[offer.category], str(i), None)
                for i, (document, offer) in enumerate(zip(data.documents, data.gold))]
    documents, gold = list(data.documents), list(data.gold)
    counts: dict[tuple[str, str], int] = {}
    for variant in augment(examples, kinds, copies, seed):
        index, kind = variant.source.rsplit("+", 1)
        source = data.gold[int(index)]
        counts[source.id, kind] = counts.get((source.id, kind), 0) + 1
        identifier = f"{source.id}+{kind}{counts[source.id, kind]}"
        documents.append(Document(id=identifier, text=variant.text, category=source.category))
        targets = {name: ((variant.record[name],) if name in variant.record else forms)
                   for name, forms in source.targets.items()}
        gold.append(GoldOffer(id=identifier, has_id=False, category=source.category, targets=targets))
    return TrainingSet(documents, gold, data.schemas)


def _record(offer: GoldOffer) -> dict[str, str]:
    """The offer's gold as a record the augmentations edit: the first form of each valued attribute."""
    return {name: forms[0] for name, forms in offer.targets.items() if forms and forms[0] != GOLD_ABSENT}
