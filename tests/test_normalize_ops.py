"""Tests for extractor.normalize.ops: the string operations of x-normalize."""

from __future__ import annotations

from typing import Any

import pytest

from extractor.normalize.ops import apply_ops, compile_ops, expander
from extractor.normalize.spec import parse_spec
from extractor.normalize.vocab import VocabEntry, Vocabulary, load_vocab

GENERATIONS = Vocabulary("gen", [VocabEntry("Generation", ("G", "Gen")), VocabEntry("Double Data Rate", ("DDR",)),
                                 VocabEntry("Advanced Intelligent Tape", ("AIT",))])


def run(ops: list[Any], text: str) -> str | None:
    spec = parse_spec({"ops": ops}, "A")
    loaders = {"gen": GENERATIONS}
    return apply_ops(compile_ops(spec.ops, lambda ref: loaders.get(ref) or load_vocab(ref)), text)


OPS: list[tuple[list[Any], str, str | None]] = [
    (["trim"], "  Acme  ", "Acme"),
    (["collapse_spaces"], "Acme   Tools\tInc", "Acme Tools Inc"),
    (["upper"], "Joe's Nuts", "JOE'S NUTS"),
    (["lower"], "ACME", "acme"),
    (["title"], "acme tools", "Acme Tools"),
    (["delete_marks"], "481726-B22", "481726B22"),
    (["delete_marks"], "QX 40.77/T", "QX4077T"),
    (["delete_marks"], "Ré-7", "Ré7"),
    (["strip_accents"], "Crème Brûlée", "Creme Brulee"),
    ([{"strip": ["Brand:", "Inc."]}], "Brand: Acme Inc.", "Acme"),
    ([{"strip": ["inc."]}], "Acme INC.", "Acme"),
    ([{"delete": "-/ "}], "12-34/56 78", "12345678"),
    ([{"replace": [["(\\d+)\\s*pk", "\\1 pack"]]}], "6pk", "6 pack"),
    ([{"slice": [1, 6]}], "012345678905", "12345"),
    ([{"slice": [None, 3]}], "ABCDEF", "ABC"),
    ([{"extract": "\\d{3}-\\d{4}"}], "call 555-1234 now", "555-1234"),
    ([{"extract": "model (\\w+)"}], "the model X200 pro", "X200"),
    ([{"extract": "\\d+"}], "no digits", None),
    (["delete_marks"], "---", None),
    (["trim", "delete_marks", "upper"], " ab-12 c ", "AB12C"),
    ([{"expand": "brands"}], "HP", "Hewlett-Packard"),
    ([{"expand": "brands"}], "HPE", "Hewlett-Packard Enterprise"),
    ([{"expand": "brands"}], "HP ProLiant", "Hewlett-Packard ProLiant"),
    ([{"expand": "brands"}], "hp", "Hewlett-Packard"),
    ([{"expand": "brands"}], "HPX Labs", "HPX Labs"),
    ([{"expand": "brands"}], "IBM / Lenovo", "International Business Machines / Lenovo"),
    ([{"expand": "gen"}], "G8", "Generation 8"),
    ([{"expand": "gen"}], "Gen8 Gen9", "Generation 8 Generation 9"),
    ([{"expand": "gen"}], "G1-G7", "Generation 1-Generation 7"),
    ([{"expand": "gen"}], "G4p", "Generation 4p"),
    ([{"expand": "gen"}], "DDR4", "Double Data Rate 4"),
    ([{"expand": "gen"}], "AIT-3", "Advanced Intelligent Tape 3"),
    ([{"expand": "gen"}], "Generation 1", "Generation 1"),
    ([{"expand": "gen"}], "Gigabit", "Gigabit"),
]


@pytest.mark.parametrize("ops,text,out", OPS, ids=[f"{o}-{t}" for o, t, _ in OPS])
def test_ops(ops: list[Any], text: str, out: str | None) -> None:
    assert run(ops, text) == out


IDEMPOTENT = [["trim"], ["collapse_spaces"], ["upper"], ["lower"], ["delete_marks"], ["strip_accents"],
              [{"strip": ["Inc."]}], [{"delete": "-"}], [{"expand": "brands"}], [{"expand": "gen"}]]


@pytest.mark.parametrize("ops", IDEMPOTENT, ids=str)
@pytest.mark.parametrize("text", ["HP G9 Server - Inc.", "  Crème  DDR4 ", "AIT-3 / hp"])
def test_documented_idempotent_ops_are(ops: list[Any], text: str) -> None:
    once = run(ops, text)
    assert once is not None and run(ops, once) == once


def test_expander_without_aliases_is_identity() -> None:
    op = expander(Vocabulary("plain", [VocabEntry("Acme")]))
    assert op("Acme G8") == "Acme G8"
