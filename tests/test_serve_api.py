"""extractor serve's API under fuzzing, and once on the real embedded model.

1. schemathesis reads the app's own ``/openapi.json`` (in-process, over ASGI: no socket) and sends
   every operation a bounded number of generated requests, valid and invalid (``MAX_EXAMPLES`` each;
   the same examples every run under CI, where tests/conftest.py loads a derandomized profile). No
   answer may be a 5xx, and every refusal must be the documented ``{"error": {"code", "message"}}``.
2. hypothesis posts what a schema-driven generator rarely makes: arbitrary JSON bodies, arbitrary
   items, empty / huge / unicode / lone-surrogate texts, wrong types, deeply nested and non-JSON bytes.
3. The real embedded model (marked ``embedded``): the app built from the default LLM's EngineSpec
   answers two shopper queries with ``ok`` records whose values are the query's own characters.

The engine of 1 and 2 is the scripted one of tests/test_serve.py (free decoding, no model)."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from click.testing import CliRunner  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from extractor.backends.scripted import ScriptedBackend  # noqa: E402
from extractor.cli import main  # noqa: E402
from extractor.serve.app import ServeSettings, create_app  # noqa: E402
from extractor.serve.auth import KeyChecker, key_hash  # noqa: E402
from extractor.spec import build_engine, load_spec  # noqa: E402

MAX_EXAMPLES = 50
"""Generated requests per operation (schemathesis) and per property (hypothesis)."""
KEY = "fuzz-key"
LIMITS = {"max_items": 8, "max_text_chars": 300, "max_body_bytes": 64 * 1024, "timeout_s": 20.0}
"""Small limits, so that generated requests reach them."""


def _reply(prompt: str) -> str:
    text = prompt.rsplit("Product: ", 1)[1]
    words = text.split()
    brand = words[0].strip('"').title() if words else None
    return json.dumps({"Brand": brand, "Pack Count": "6" if "6-Pack" in text else None})


def _scripted_engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The engine of `extract --decoding free` on a scripted backend (as in tests/test_serve.py)."""
    import extractor.models

    original = extractor.models.load_model
    extractor.models.load_model = lambda config=None, **kw: ScriptedBackend(_reply, name="m")
    try:
        result = CliRunner().invoke(main, ["extract", "-", "--decoding", "free", "--print-spec"])
        assert result.exit_code == 0, result.output
        path = tmp_path / "spec.yaml"
        path.write_text(result.output, encoding="utf-8")
        return build_engine(load_spec(path), "apparel")
    finally:
        extractor.models.load_model = original


def _wait_ready(get, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the app did not get ready"
        time.sleep(0.01)


def _check_error_shape(status: int, body: bytes, where: str) -> None:
    """No 5xx; a refusal (4xx) is {"error": {"code": str, "message": str}} and nothing else."""
    assert status < 500, f"{where}: {status} {body[:500]!r}"
    if status >= 400:
        try:
            data = json.loads(body)
        except ValueError:
            raise AssertionError(f"{where}: {status} with a body that is not JSON: {body[:500]!r}") from None
        assert isinstance(data, dict) and set(data) == {"error"}, f"{where}: {status} {data!r}"
        error = data["error"]
        assert isinstance(error, dict) and set(error) == {"code", "message"}, f"{where}: {status} {data!r}"
        assert isinstance(error["code"], str) and error["code"], f"{where}: {data!r}"
        assert isinstance(error["message"], str), f"{where}: {data!r}"


# --- 1. schemathesis over /openapi.json ----------------------------------------------------------

@pytest.fixture(scope="module")
def scripted_engine(tmp_path_factory):  # type: ignore[no-untyped-def]
    return _scripted_engine(tmp_path_factory.mktemp("spec"))


@pytest.fixture()
def api_schema(scripted_engine):  # type: ignore[no-untyped-def]
    """The operations of a fresh app's own /openapi.json (keys on, small limits), fetched in-process;
    that starts the app's lifespan, which schemathesis's pytest plugin ends after each test (so each
    test has its own app: an app's lifespan runs once)."""
    pytest.importorskip("schemathesis")  # the `test` extra
    import schemathesis
    from schemathesis.python import asgi

    app = create_app(scripted_engine, ServeSettings(**LIMITS), keys=KeyChecker([key_hash(KEY)]))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    with asgi.get_client(app) as client:
        _wait_ready(client.get)
    yield schema
    asgi.shutdown_lifespans()


OPERATIONS = ["GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/schemas", "GET /v1/schemas/{name}",
              "POST /v1/extract"]


def test_the_fuzz_covers_every_operation(api_schema):  # type: ignore[no-untyped-def]
    operations = {f"{r.ok().method.upper()} {r.ok().path}" for r in api_schema.get_all_operations()}
    assert operations == set(OPERATIONS)


@pytest.mark.parametrize(("operation", "mode"), [(op, "positive") for op in OPERATIONS]
                         + [("POST /v1/extract", "negative")])  # the others take nothing to get wrong
def test_openapi_operations_never_answer_5xx(api_schema, operation, mode):  # type: ignore[no-untyped-def]
    """MAX_EXAMPLES requests generated from the operation's OpenAPI description, with a valid key:
    fitting it (positive) or not (negative: wrong types, missing fields, other media types). (Not
    through schemathesis's pytest decorator: its lazy loader reads a private attribute pytest 9 has
    not.)"""
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error

    method, path = operation.split(" ")
    found = [r.ok() for r in api_schema.get_all_operations()
             if r.ok().method.upper() == method and r.ok().path == path]
    assert len(found) == 1, operation
    sent: list[int] = []

    @settings(max_examples=MAX_EXAMPLES, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(case=found[0].as_strategy(generation_mode=GenerationMode(mode)))
    def check(case):  # type: ignore[no-untyped-def]
        response = case.call(headers={"X-API-Key": KEY})
        sent.append(response.status_code)
        _check_error_shape(response.status_code, response.content, f"{case.method} {case.formatted_path}")
        case.validate_response(response, checks=[not_a_server_error])

    check()
    print(operation, mode, "statuses:", dict(sorted(Counter(sent).items())))
    assert sent
    if operation == "POST /v1/extract" and mode == "positive":  # a body that fits the schema is answered
        assert set(sent) == {200}, sent


# --- 2. hypothesis: hostile bodies -----------------------------------------------------------------

@pytest.fixture(scope="module")
def client(tmp_path_factory):  # type: ignore[no-untyped-def]
    app = create_app(_scripted_engine(tmp_path_factory.mktemp("spec")), ServeSettings(**LIMITS),
                     keys=KeyChecker([key_hash(KEY)]))
    with TestClient(app, headers={"X-API-Key": KEY}) as test_client:
        _wait_ready(test_client.get)
        yield test_client


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)
_texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80),
    st.sampled_from(["", " ", "\n\t", "\u200b", "\x00", "null", '"', "{}", "Product: ", "😀" * 10,
                     "x" * LIMITS["max_text_chars"], "x" * (LIMITS["max_text_chars"] + 1), "é" * 150]),
    st.integers(), st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=2))
_items = st.one_of(
    st.fixed_dictionaries({"text": _texts}, optional={"id": st.one_of(st.text(max_size=10), st.integers(), _json)}),
    _json)
_bodies = st.one_of(
    st.fixed_dictionaries({"schema": st.sampled_from(["apparel", "electronics", "home_kitchen", "nope", ""]),
                           "items": st.lists(_items, max_size=LIMITS["max_items"] + 2)},
                          optional={"normalize": st.one_of(st.booleans(), _json)}),
    st.dictionaries(st.sampled_from(["schema", "items", "normalize", "extra"]), _json, max_size=4),
    _json)


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_arbitrary_json_bodies_are_answered_or_refused(client, body):  # type: ignore[no-untyped-def]
    response = client.post("/v1/extract", json=body)
    _check_error_shape(response.status_code, response.content, json.dumps(body)[:300])
    if response.status_code == 200:
        records = response.json()["records"]
        assert len(records) == len(body["items"])
        for record, item in zip(records, body["items"]):
            assert record["status"] in ("ok", "invalid", "failed")  # Record.status; an error record says why
            if record["status"] != "ok":
                assert record["error"]
            usable = isinstance(item, dict) and isinstance(item.get("text"), str) and item["text"].strip()
            if not usable:
                assert record["status"] == "failed" and record["error"]


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=200),
                     st.text(max_size=100).map(lambda s: s.encode("utf-8", "surrogatepass")),
                     st.sampled_from([b"", b"{", b"[]", b"null", b"\xff\xfe", b'{"schema": "apparel"}',
                                      b'{"schema": "apparel", "items": []}',
                                      b'{"schema": "apparel", "items": [{"text": NaN}]}',
                                      b'{"schema": "apparel", "items": [{"text": "a"}], "normalize": Infinity}'])),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
def test_arbitrary_bytes_are_refused_cleanly(client, raw, content_type):  # type: ignore[no-untyped-def]
    response = client.post("/v1/extract", content=raw, headers={"content-type": content_type})
    _check_error_shape(response.status_code, response.content, repr(raw[:200]))


@pytest.mark.parametrize(("body", "status", "code"), [
    # each of these was a 500 (an uncaught RecursionError / UnicodeEncodeError) before extractor/serve/app.py
    # caught nesting and escaped lone surrogates
    pytest.param(b"[" * 30_000 + b"]" * 30_000, 422, "not_json", id="deeply-nested-list"),
    pytest.param(b'{"schema": "apparel", "items": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", 422, "not_json",
                 id="deeply-nested-items"),
    pytest.param(b'{"schema": "apparel", "items": [{"text": "Hanes tee"}], "\\ud800": 1}', 422, "bad_request",
                 id="lone-surrogate-key"),
    pytest.param(b'{"schema": "\\ud800", "items": [{"text": "Hanes tee"}]}', 404, "unknown_schema",
                 id="lone-surrogate-schema"),
])
def test_hostile_bodies_are_refused_not_5xx(client, body, status, code):  # type: ignore[no-untyped-def]
    response = client.post("/v1/extract", content=body, headers={"content-type": "application/json"})
    _check_error_shape(response.status_code, response.content, repr(body[:80]))
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_a_lone_surrogate_fails_its_item_only(client):  # type: ignore[no-untyped-def]
    body = (b'{"schema": "apparel", "items": [{"id": "a", "text": "Hanes \\ud800 tee"}, '
            b'{"id": "\\udfff", "text": "Hanes tee"}, {"id": "c", "text": "Nike shoes"}]}')
    response = client.post("/v1/extract", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text
    records = response.json()["records"]
    assert [r["id"] for r in records] == ["a", "\\udfff", "c"]  # the id escaped, as text
    assert [r["status"] for r in records] == ["failed", "ok", "ok"]
    assert "not valid Unicode" in records[0]["error"]


def test_unknown_routes_and_methods_are_refused_in_the_documented_shape(client):
    for method, path, status, code in (("GET", "/nope", 404, "not_found"), ("GET", "/v1/extract", 405, "method_not_allowed"),
                                       ("DELETE", "/v1/schemas", 405, "method_not_allowed"),
                                       ("PUT", "/healthz", 405, "method_not_allowed")):
        response = client.request(method, path)  # was FastAPI's {"detail": ...}
        _check_error_shape(response.status_code, response.content, f"{method} {path}")
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (method, path)
        if status == 405:
            assert response.headers["allow"]


# --- 3. the real embedded model ----------------------------------------------------------------------

QUERIES = [{"id": "q1", "text": "red cotton t-shirt for men size XL"},
           {"id": "q2", "text": "Nike womens running shoes black size 8"}]


@pytest.fixture()
def temporary_cache(tmp_path_factory, monkeypatch):  # type: ignore[no-untyped-def]
    """Converted models go to a temporary folder, not ~/.cache/extractor (as in tests/test_embedded.py)."""
    monkeypatch.setenv("EXTRACTOR_CACHE", str(tmp_path_factory.mktemp("extractor-cache")))


@pytest.mark.embedded
def test_embedded_model_serves_shopper_queries(temporary_cache):
    from extractor.config import ExtractConfig
    from extractor.schemas import load_schema
    from extractor.spec import EngineSpec, LLMSpec

    spec = EngineSpec(llm=LLMSpec(extract=ExtractConfig(k=1, max_new_tokens=24, decoding="constrained")))
    app = create_app(spec, ServeSettings(timeout_s=120), schema="apparel")
    with TestClient(app) as client:
        first = client.get("/readyz")  # the model loads on the engine thread for seconds: not ready yet
        _wait_ready(client.get, seconds=180)
        assert client.get("/readyz").json() == {"status": "ready"}
        response = client.post("/v1/extract", json={"schema": "apparel", "items": QUERIES})
    assert first.status_code == 503 and first.json()["error"]["code"] == "not_ready", first.text
    assert response.status_code == 200, response.text
    records = response.json()["records"]
    assert [r["id"] for r in records] == ["q1", "q2"]
    schema = load_schema("apparel")
    for record, query in zip(records, QUERIES):
        assert record["status"] == "ok" and record["error"] is None, record
        assert record["provenance"]["decoding"] == "constrained" and record["provenance"]["model"] == "smollm2-135m"
        text = query["text"]
        for name, value in record["attributes"].items():
            span = record["spans"][name]
            if isinstance(value, str) and schema.attribute(name).grounded and schema.attribute(name).enum is None:
                assert span is not None and text[span[0]:span[1]] == value, (name, value, span)
    assert any(v is not None for r in records for v in r["attributes"].values())
