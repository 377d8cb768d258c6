"""Tagger training texts augmented (extractor/tagger/augment.py): variants whose gold still
agrees with their text, appended after the real texts."""

from __future__ import annotations

import pytest

from extractor.errors import ConfigError
from extractor.evaluate.scorer import GoldOffer
from extractor.records import Document
from extractor.schemas import schema_from_attributes
from extractor.tagger import TrainConfig, TrainingSet
from extractor.tagger.augment import augmented

COFFEE = schema_from_attributes("coffee", {"Brand": {}, "Roast type": {}, "Net content": {}})
ROWS = [
    ("Caribou Coffee Caribou Blend, Medium Roast, 12 oz, Ground", {"Brand": ("Caribou Coffee",), "Roast type": ("Medium Roast",), "Net content": ("12 oz", "12 Ounce")}),
    ("Starbucks Dark Roast Whole Bean Coffee, 20 oz, Bagged", {"Brand": ("Starbucks",), "Roast type": ("Dark Roast",), "Net content": ("20 oz",)}),
    ("Peet's Coffee Major Dickason's Blend, Fresh, Ground, 18 oz", {"Brand": ("Peet's Coffee",), "Roast type": ("n/a",), "Net content": ("18 oz",)}),
    ("Lavazza Super Crema Light Roast, 2.2 lb, Whole Bean", {"Brand": ("Lavazza",), "Roast type": ("Light Roast",), "Net content": ("2.2 lb",)}),
]


def coffee_set() -> TrainingSet:
    documents = [Document(id=str(i), text=text, category="coffee") for i, (text, _) in enumerate(ROWS)]
    gold = [GoldOffer(id=str(i), has_id=False, category="coffee", targets=targets)
            for i, (_, targets) in enumerate(ROWS)]
    return TrainingSet(documents, gold, {"coffee": COFFEE})


def test_no_kinds_leave_the_set_as_it_is() -> None:
    data = coffee_set()
    assert augmented(data, []) is data


@pytest.mark.parametrize("kind", ["swap", "drop", "shuffle"])
def test_variants_follow_the_real_texts_and_their_gold_is_in_their_text(kind: str) -> None:
    data = coffee_set()
    out = augmented(data, [kind], copies=2, seed=3)
    n = len(ROWS)
    assert out.documents[:n] == data.documents and out.gold[:n] == data.gold
    variants = list(zip(out.documents[n:], out.gold[n:]))
    assert variants, f"no {kind} variant of four titles with separators"
    for document, offer in variants:
        source = data.gold[int(document.id.split("+")[0])]
        assert document.id == offer.id and f"+{kind}" in document.id
        assert document.category == offer.category == "coffee" and document.text not in {t for t, _ in ROWS}
        assert list(offer.targets) == list(source.targets)
        for name, forms in offer.targets.items():
            if source.absent(name):
                assert forms == ("n/a",)  # what the source marks absent stays absent
            else:
                assert len(forms) == 1 and forms[0] in document.text
    assert len({d.id for d, _ in variants}) == len(variants)
    assert any(d.id.startswith("2+") for d, _ in variants)  # the offer with an absent attribute


def test_a_swap_puts_another_offers_value_in_text_and_gold() -> None:
    data = coffee_set()
    out = augmented(data, ["swap"], copies=3, seed=0)
    real = {name: {o.targets[name][0] for o in data.gold} for name in COFFEE.names}
    assert len(out.documents) > len(ROWS)
    for document, offer in zip(out.documents[len(ROWS):], out.gold[len(ROWS):]):
        source = data.gold[int(document.id.split("+")[0])]
        changed = [n for n in offer.targets if offer.targets[n][0] != source.targets[n][0]]
        assert len(changed) == 1
        assert offer.targets[changed[0]][0] in real[changed[0]]


def test_the_same_seed_gives_the_same_variants() -> None:
    first, again = augmented(coffee_set(), ["swap", "drop"], seed=7), augmented(coffee_set(), ["swap", "drop"], seed=7)
    assert [d.text for d in first.documents] == [d.text for d in again.documents]


@pytest.mark.parametrize("options, message", [
    ({"augment": ["swap", "mirror"]}, "unknown augmentation.*mirror"),
    ({"augment": ["swap"], "augment_copies": 0}, "augment_copies"),
])
def test_train_config_refuses_unknown_augmentations(options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options)


def test_a_variant_takes_the_gold_of_its_own_offer_where_texts_repeat() -> None:
    data = coffee_set()
    text, targets = ROWS[0]
    twin = dict(targets, **{"Roast type": ("n/a",)})  # the same title, annotated without a roast
    data = TrainingSet(data.documents + [Document(id="4", text=text, category="coffee")],
                       data.gold + [GoldOffer(id="4", has_id=False, category="coffee", targets=twin)], data.schemas)
    out = augmented(data, ["drop", "swap"], copies=3, seed=0)
    twins = [offer for offer in out.gold[len(data.gold):] if offer.id.startswith("4+")]
    assert twins and all(offer.targets["Roast type"] == ("n/a",) for offer in twins)
