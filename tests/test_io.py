"""Input reading (JSONL, CSV, TSV; bad lines become error documents) and resumable output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extractor.errors import ConfigError, ExtractorError, InputError
from extractor.io import (InputSpec, RecordWriter, check_output, count_lines, iter_records, read_documents,
                          read_records, resume_point, write_records, written_whole)
from extractor.records import Provenance, Record

PROVENANCE = Provenance(model="scripted", adapter=None, prompt="extract.v1", schema="apparel@0", decoding="free")


def _jsonl(tmp_path: Path, lines: list[str], name: str = "in.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# One input line per row: (line, expected id, expected text, expected error fragment or None).
JSONL_CASES = [
    ('{"id": "ap-1", "text": "Hanes Crew Tee 6-Pack Navy XL"}', "ap-1", "Hanes Crew Tee 6-Pack Navy XL", None),
    ('{"id": 17, "text": "  Levi\'s 511 Slim Jeans  "}', "17", "Levi's 511 Slim Jeans", None),
    ('{"text": "Nike Pegasus 39 Black"}', "3", "Nike Pegasus 39 Black", None),
    ('{"id": "", "text": "Carhartt Beanie Brown"}', "4", "Carhartt Beanie Brown", None),
    ('{"id": "t-5", "title": "Champion Hoodie", "description": "Reverse weave, oxford grey."}', "t-5",
     "Champion Hoodie\nReverse weave, oxford grey.", None),
    ('{"id": "t-6", "title": "Gap Chinos", "description": null}', "t-6", "Gap Chinos", None),
    ('{"id": "q-7", "query": "red running shoes mens size 10"}', "q-7", "red running shoes mens size 10", None),
    ('{"id": "i-8", "input": "usb c charger 65w"}', "i-8", "usb c charger 65w", None),
    ('{"id": "bad-9", "text": "Hanes Tee", ', "9", "", "line 9: not valid JSON"),
    ('["Hanes Tee", "Navy"]', "10", "", "line 10: not a JSON object"),
    ('{"id": "m-11", "name": "Hanes Tee"}', "m-11", "", "line 11: no text field"),
    ('{"id": "e-12", "text": "   "}', "e-12", "", "line 12: empty text"),
    ("", "13", "", "line 13: empty line"),
    ('{"id": "n-14", "text": 42}', "n-14", "", "line 14: field 'text' is not a string"),
    ('{"id": "c-15", "text": "Café au lait crew sweater — wool"}', "c-15", "Café au lait crew sweater — wool",
     None),
]


@pytest.fixture()
def jsonl_docs(tmp_path):
    return list(read_documents(_jsonl(tmp_path, [c[0] for c in JSONL_CASES])))


def test_every_jsonl_line_gives_exactly_one_document(jsonl_docs):
    assert len(jsonl_docs) == len(JSONL_CASES)


@pytest.mark.parametrize("n", range(len(JSONL_CASES)), ids=[c[1] for c in JSONL_CASES])
def test_jsonl_lines(jsonl_docs, n):
    _, doc_id, text, error = JSONL_CASES[n]
    doc = jsonl_docs[n]
    assert doc.id == doc_id
    assert doc.text == text
    if error is None:
        assert doc.error is None
    else:
        assert doc.error is not None and doc.error.startswith(error)


def test_text_field_choice(tmp_path):
    path = _jsonl(tmp_path, ['{"id": "a", "text": "ignored", "name": "Hanes Tee", "color": "Navy"}',
                             '{"id": "b", "name": "Gap Chinos"}',
                             '{"id": "c", "text": "no chosen field here"}'])
    docs = list(read_documents(path, InputSpec(text_fields=("name", "color"))))
    assert docs[0].text == "Hanes Tee\nNavy" and docs[0].error is None
    assert docs[1].text == "Gap Chinos" and docs[1].error is None
    assert "missing text field(s): name, color" in docs[2].error


def test_id_field_choice(tmp_path):
    path = _jsonl(tmp_path, ['{"sku": "SKU-9", "id": "x", "text": "Hanes Tee"}'])
    assert next(read_documents(path, InputSpec(id_field="sku"))).id == "SKU-9"


def test_schema_field(tmp_path):
    path = _jsonl(tmp_path, ['{"id": "a", "text": "Hanes Tee", "kind": "apparel", "category": "Tops"}',
                             '{"id": "b", "text": "Dell XPS 13", "kind": ""}',
                             '{"id": "c", "text": "OXO Bowl"}',
                             '{"id": "d", "text": "Anker Charger", "kind": 3}'])
    docs = list(read_documents(path, InputSpec(schema_field="kind")))
    assert [d.schema for d in docs] == ["apparel", None, None, None]
    assert docs[0].category == "Tops"
    assert docs[3].error == "line 4: field 'kind' is not a string"
    # Without --schema-field the field is just data.
    assert next(read_documents(path)).schema is None


def test_csv_input(tmp_path):
    path = tmp_path / "offers.csv"
    path.write_text('id,title,description\n'
                    'c1,"Hanes Tee, 6-Pack",Navy XL\n'
                    'c2,Gap Chinos,\n'
                    ',"Levi\'s ""511"" Jeans",\n'
                    'c4,,\n', encoding="utf-8")
    docs = list(read_documents(path))
    assert [d.id for d in docs] == ["c1", "c2", "3", "c4"]
    assert docs[0].text == "Hanes Tee, 6-Pack\nNavy XL"
    assert docs[1].text == "Gap Chinos"
    assert docs[2].text == "Levi's \"511\" Jeans"
    assert docs[3].error is not None and "empty text" in docs[3].error
    assert count_lines(path) == 4


def test_tsv_input(tmp_path):
    path = tmp_path / "offers.tsv"
    path.write_text("id\ttext\nt1\tHanes Tee, Navy\nt2\tGap Chinos 34x32\n", encoding="utf-8")
    docs = list(read_documents(path))
    assert [(d.id, d.text) for d in docs] == [("t1", "Hanes Tee, Navy"), ("t2", "Gap Chinos 34x32")]
    assert count_lines(path) == 2


def test_format_overrides_extension(tmp_path):
    path = tmp_path / "offers.txt"
    path.write_text("id,text\nx1,Hanes Tee\n", encoding="utf-8")
    assert next(read_documents(path, InputSpec(format="csv"))).text == "Hanes Tee"
    assert next(read_documents(path)).error.startswith("line 1: not valid JSON")


@pytest.mark.parametrize("name,content", [
    ("bom.jsonl", '{"id": "b1", "text": "Hanes Tee"}\n'),
    ("bom.csv", "id,text\nb1,Hanes Tee\n"),
])
def test_byte_order_mark_is_ignored(tmp_path, name, content):
    # Spreadsheet programs write "UTF-8" CSV with a BOM; it must not hide the first field name.
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    doc = next(read_documents(path))
    assert (doc.id, doc.text, doc.error) == ("b1", "Hanes Tee", None)


def test_unreadable_inputs_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        list(read_documents(tmp_path / "absent.jsonl"))


def test_bad_input_spec():
    with pytest.raises(ConfigError):
        InputSpec(format="xml")
    with pytest.raises(ConfigError):
        InputSpec(text_fields=())


def test_count_lines(tmp_path):
    assert count_lines(_jsonl(tmp_path, ["{}", "{}", ""])) == 3
    no_newline = tmp_path / "last.jsonl"
    no_newline.write_text('{"text": "a"}\n{"text": "b"}', encoding="utf-8")
    assert count_lines(no_newline) == 2
    assert count_lines("-") is None
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("", encoding="utf-8")
    assert count_lines(empty_csv) == 0
    with pytest.raises(InputError, match="cannot read"):
        count_lines(tmp_path / "absent.jsonl")


# --- output ---------------------------------------------------------------------------------------

def _record(rid: str) -> Record:
    return Record(id=rid, attributes={"Brand": "Hanes"}, provenance=PROVENANCE, attempts=1)


def test_record_writer_writes_one_json_line_per_record(tmp_path):
    out = tmp_path / "out.jsonl"
    with RecordWriter(out) as writer:
        writer.write(_record("a"))
        writer.write(_record("b"))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert json.loads(lines[0])["provenance"]["prompt"] == "extract.v1"


def test_record_writer_append_cuts_partial_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps(_record("a").to_dict()) + "\n" + '{"id": "b", "status": "o', encoding="utf-8")
    with RecordWriter(out, append=True) as writer:
        writer.write(_record("b"))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]


def test_record_writer_append_to_single_partial_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "sta', encoding="utf-8")
    with RecordWriter(out, append=True) as writer:
        writer.write(_record("a"))
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a"]


def test_record_writer_without_append_overwrites(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "old"}\n', encoding="utf-8")
    with RecordWriter(out) as writer:
        writer.write(_record("new"))
    assert [r.id for r in read_records(out)] == ["new"]


def test_record_writer_to_missing_folder_raises_library_error(tmp_path):
    with pytest.raises(ExtractorError, match="cannot write .*no-such-folder"):
        RecordWriter(tmp_path / "no-such-folder" / "out.jsonl")


def test_read_records_reads_back_what_write_records_wrote_and_refuses_anything_else(tmp_path: Path) -> None:
    provenance = Provenance(model="m", adapter=None, prompt="p", schema="s", decoding="tagger")
    written = [Record(id="a", attributes={"Brand": "Nike"}, provenance=provenance, confidence={"Brand": 0.9}),
               Record(id="b", attributes={"Brand": None}, provenance=provenance, error="empty text", status="failed")]
    path = tmp_path / "out.jsonl"
    write_records(path, written)
    assert [r.to_dict() for r in read_records(path)] == [r.to_dict() for r in written]
    write_records(path, iter(written[1:]))  # a new file each time, from any iterable
    assert [r.id for r in read_records(path)] == ["b"]
    path.write_text('{"id": "a", "attributes": {}}\n', encoding="utf-8")  # no provenance
    with pytest.raises(InputError, match="not a records file this project wrote"):
        read_records(path)
    with pytest.raises(InputError, match="cannot read"):
        read_records(tmp_path / "missing.jsonl")


@pytest.mark.parametrize("line", ['{"id": "a", "attributes": {}}', "[]", "7", '{"id": "a", "attri'])
def test_a_line_that_is_not_a_record(tmp_path: Path, line: str) -> None:
    # read_records refuses the file; iter_records yields None for the line and goes on
    good = Record(id="b", attributes={"Brand": "Nike"},
                  provenance=Provenance(model="m", adapter=None, prompt="p", schema="s", decoding="tagger"))
    path = tmp_path / "out.jsonl"
    path.write_text(line + "\n\n" + json.dumps(good.to_dict()) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a records file this project wrote"):
        read_records(path)
    assert [r if r is None else r.id for r in iter_records(path)] == [None, None, "b"]  # a blank line is a line
    with pytest.raises(InputError, match="cannot read"):
        list(iter_records(tmp_path / "missing.jsonl"))


def test_written_whole_moves_the_file_into_place_or_leaves_the_old_one(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(InputError), written_whole(target) as partial:
        Path(partial).write_text("half", encoding="utf-8")
        assert target.read_text(encoding="utf-8") == "old\n"  # untouched while the block writes
        raise InputError("refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    assert target.read_text(encoding="utf-8") == "old\n"
    with written_whole(target) as partial:
        Path(partial).write_text("new\n", encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    assert target.read_text(encoding="utf-8") == "new\n"
    with written_whole("-") as name:
        assert name == "-"


# --- hostile input: every line one Document, whatever it holds ----------------------------------

def test_a_lone_surrogate_fails_its_line_only(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, ['{"id": "a", "text": "Hanes Tee \\udc80"}', '{"id": "\\udc80", "text": "Gap Chinos"}',
                             '{"id": "c", "title": "Gap", "description": "\\ud800"}'])
    first, second, third = read_documents(path)
    assert first.error == "line 1: field 'text' holds a lone surrogate (\\udc80), which is not text"
    assert first.id == "a" and first.text == ""
    assert (second.id, second.text, second.error) == ("\udc80", "Gap Chinos", None)  # the id is kept as given
    assert "field 'description' holds a lone surrogate" in third.error


def test_an_undecodable_line_fails_alone_and_names_its_line(tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"p{i}", "text": f"Tee {i}"}).encode() for i in range(1, 1201)]
    lines[1000] = '{"id": "p1001", "text": "Caf\u00e9"}'.encode("latin-1")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    docs = list(read_documents(path))
    assert len(docs) == 1200
    assert [d.id for d in docs if d.error] == ["1001"]
    assert docs[1000].error.startswith("line 1001: not utf-8 text (byte 0xe9")
    assert docs[1001].text == "Tee 1002"
    latin1 = list(read_documents(path, encoding="latin-1"))
    assert latin1[1000].text == "Caf\u00e9" and not any(d.error for d in latin1)


def test_utf16_input_is_read(tmp_path: Path) -> None:
    path = tmp_path / "excel.jsonl"
    path.write_bytes('{"id": "u1", "text": "Caf\u00e9 Tee"}\n{"id": "u2", "text": "Gap"}\n'.encode("utf-16"))
    assert [(d.id, d.text, d.error) for d in read_documents(path)] == [("u1", "Caf\u00e9 Tee", None),
                                                                         ("u2", "Gap", None)]


def test_deep_nesting_fails_its_line_only(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, ['{"id": "a", "text": "Tee"}', "[" * 100_000, '{"id": "c", "text": "x", "n": '
                             + "[" * 100_000 + "]" * 100_000 + "}"])
    docs = list(read_documents(path))
    assert [d.error for d in docs] == [None, "line 2: not valid JSON (nested too deeply)",
                                       "line 3: not valid JSON (nested too deeply)"]


def test_line_separators_inside_a_line_stay_in_it(tmp_path: Path) -> None:
    path = tmp_path / "seps.jsonl"
    # a bare CR between JSON tokens is whitespace, not the end of a line
    path.write_bytes('{"id": "a",\r"text": "Tee\u2028Navy\x85XL"}\n{"id": "b", "text": "Gap"}\n'.encode())
    assert [(d.id, d.text) for d in read_documents(path)] == [("a", "Tee\u2028Navy\x85XL"), ("b", "Gap")]


# (CSV text, expected per row: (id, text) or an error fragment)
CSV_CASES = [
    ("id,title\n1,Hanes Tee\n", [("1", "Hanes Tee")]),
    ('id,title\n1,"Hanes Tee, 6-Pack"\n', [("1", "Hanes Tee, 6-Pack")]),
    ("id,title\n1,Hanes Tee, 6-Pack\n2,Gap\n", ["line 2: 3 fields where the header names 2", ("2", "Gap")]),
    ("id,title\n1\n", ["line 2: 1 fields where the header names 2"]),
    ("id,title\n\n2,Gap\n", ["line 2: empty line", ("2", "Gap")]),
    ('id,title\n1,"Tee\nNavy"\n2,Gap\n', [("1", "Tee\nNavy"), ("2", "Gap")]),  # a quoted newline
    ("id,title\r\n1,Tee\r\n", [("1", "Tee")]),
    ("id,title\n", []),
    ("", []),
]


@pytest.mark.parametrize("content,expected", CSV_CASES)
def test_csv_rows(tmp_path: Path, content: str, expected: list) -> None:
    path = tmp_path / "offers.csv"
    path.write_text(content, encoding="utf-8", newline="")
    docs = list(read_documents(path))
    assert len(docs) == len(expected)
    for doc, want in zip(docs, expected):
        if isinstance(want, str):
            assert want in doc.error
        else:
            assert (doc.id, doc.text, doc.error) == (*want, None)


def test_a_csv_field_longer_than_the_csv_module_default(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    long_text = "Organic cotton tee " * 10_000  # 190,000 characters; csv's default limit is 131,072
    path.write_text(f'id,text\n1,"{long_text}"\n2,Gap\n', encoding="utf-8")
    docs = list(read_documents(path))
    assert [d.id for d in docs] == ["1", "2"] and docs[0].text == long_text.strip()


@pytest.mark.parametrize("content,spec,message", [
    ("1,Hanes Tee\n2,Gap Chinos\n", InputSpec(), "names no text column (text or title or query or input)"),
    ("S1,Hanes Tee\n", InputSpec(text_fields=("name",)), "the first row ('S1', 'Hanes Tee') names no text column"),
    ("id,text,text\n1,a,b\n", InputSpec(), "names 'text' more than once"),
])
def test_a_csv_file_without_a_usable_header_is_refused_before_any_row(tmp_path: Path, content: str,
                                                                      spec: InputSpec, message: str) -> None:
    path = tmp_path / "offers.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_documents(path, spec)  # at the call, before a single row is read


def test_a_csv_row_that_does_not_decode_fails_alone(tmp_path: Path) -> None:
    path = tmp_path / "offers.csv"
    path.write_bytes(b"id,text\n1,Tee\n2,Caf\xe9\n3,Gap\n")
    docs = list(read_documents(path))
    assert [d.error for d in docs][0] is None and docs[2].text == "Gap"
    assert docs[1].error.startswith("line 3: not utf-8 text (byte 0xe9")


# --- resuming by position ------------------------------------------------------------------------

def _docs(ids: list[str]) -> list:
    from extractor.records import Document

    return [Document(i, f"text {n}") for n, i in enumerate(ids, 1)]


def _written(tmp_path: Path, ids: list[str], tail: str = "") -> Path:
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps(_record(i).to_dict()) + "\n" for i in ids) + tail, encoding="utf-8")
    return out


def test_resume_goes_by_position_so_repeated_ids_lose_nothing(tmp_path: Path) -> None:
    # line 2 has no id (so it is "2"), line 4 says "2" too, line 5 repeats line 1's id
    ids = ["1", "2", "x", "2", "1"]
    assert resume_point(_written(tmp_path, ids[:3]), _docs(ids)) == 3
    assert resume_point(tmp_path / "absent.jsonl", _docs(ids)) == 0


def test_resume_keeps_a_whole_last_record_without_its_newline(tmp_path: Path) -> None:
    out = _written(tmp_path, ["a"], json.dumps(_record("b").to_dict()))
    assert resume_point(out, _docs(["a", "b", "c"])) == 2
    assert out.read_text(encoding="utf-8").endswith("}\n")  # given its newline, so the next line starts clean


@pytest.mark.parametrize("tail", ['{"id": "b", "attri', '{"id": "b"}', "\xe9"])
def test_resume_cuts_half_a_last_line(tmp_path: Path, tail: str) -> None:
    out = _written(tmp_path, ["a"], tail)
    before = json.dumps(_record("a").to_dict()) + "\n"
    assert resume_point(out, _docs(["a", "b"])) == 1
    assert out.read_text(encoding="utf-8") == before


def test_resume_refuses_the_output_of_another_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="out.jsonl:2 is the record of 'b' but input line 2 is 'z'"):
        resume_point(_written(tmp_path, ["a", "b"]), _docs(["a", "z", "c"]))
    with pytest.raises(InputError, match="more records than the input has lines"):
        resume_point(_written(tmp_path, ["a", "b"]), _docs(["a"]))
    out = tmp_path / "out.jsonl"
    out.write_text("not a record\n" + json.dumps(_record("b").to_dict()) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="out.jsonl:1 is not a record"):
        resume_point(out, _docs(["a", "b"]))


# --- never writing over an input ---------------------------------------------------------------------

def test_check_output_refuses_the_input_file_however_named(tmp_path: Path) -> None:
    source = _jsonl(tmp_path, ['{"text": "Tee"}'])
    (tmp_path / "link.jsonl").symlink_to(source)
    (tmp_path / "hard.jsonl").hardlink_to(source)
    for name in (str(source), str(tmp_path / "." / "in.jsonl"), str(tmp_path / "link.jsonl"), str(tmp_path / "hard.jsonl")):
        with pytest.raises(InputError, match="is the input file"):
            check_output(name, [source])
        with pytest.raises(InputError, match="is the input file"):
            RecordWriter(name, inputs=[source])
    assert source.read_text(encoding="utf-8") == '{"text": "Tee"}\n'
    check_output(tmp_path / "new.jsonl", [source])
    check_output("-", [source])
    with pytest.raises(InputError, match="it is a folder"):
        check_output(tmp_path, [source])


def test_a_record_that_is_not_json_becomes_its_error_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with RecordWriter(out) as writer:
        writer.write(Record(id="a", attributes={"Weight": float("nan")}, provenance=PROVENANCE))
        writer.write(Record(id="b\u2028c", attributes={"Brand": "Tee\u2028Navy"}, provenance=PROVENANCE))
    lines = out.read_text(encoding="utf-8").splitlines()  # splitlines: the strictest reader there is
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["status"] == "failed" and "not JSON" in first["error"] and first["attributes"] == {"Weight": None}
    assert second["attributes"]["Brand"] == "Tee\u2028Navy" and second["id"] == "b\u2028c"
