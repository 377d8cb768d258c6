"""extractor serve (extractor/serve/): the HTTP app in-process with FastAPI's TestClient on a scripted
engine (ScriptedBackend, free decoding), and once for real in a subprocess (SIGTERM)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from click.testing import CliRunner  # noqa: E402
from conftest import wait_until_ready  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from extractor.backends.scripted import ScriptedBackend  # noqa: E402
from extractor.cli import main  # noqa: E402
from extractor.serve.app import ServeSettings, create_app  # noqa: E402
from extractor.serve.auth import KeyChecker, is_loopback, key_hash  # noqa: E402
from extractor.spec import build_engine, load_spec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ITEMS = [
    {"id": "ap-01", "text": "Hanes Mens Crew Tee 6-Pack Navy Blu, XL"},
    {"id": "ap-02", "text": "NIKE Womens Revolution 7 Running Shoes Sz 8.5"},
    {"id": "ap-03", "text": "Carhartt Knit Cuffed Beanie Brown"},
]


def _reply(prompt: str) -> str:
    text = prompt.rsplit("Product: ", 1)[1]
    brand = text.split()[0].strip('"').title()
    return json.dumps({"Brand": brand, "Pack Count": "6" if "6-Pack" in text else None})


@pytest.fixture()
def spec_file(tmp_path, monkeypatch) -> Path:
    """The spec of `extract --decoding free` (the scripted backend has no token-level access)."""
    monkeypatch.setattr("extractor.models.load_model", lambda config=None, **kw: ScriptedBackend(_reply, name="m"))
    result = CliRunner().invoke(main, ["extract", "-", "--decoding", "free", "--print-spec"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "spec.yaml"
    path.write_text(result.output, encoding="utf-8")
    return path


def _engine(spec_file: Path, delay: float = 0.0):  # type: ignore[no-untyped-def]
    def reply(prompt: str) -> str:
        time.sleep(delay)
        return _reply(prompt)

    import extractor.models

    original = extractor.models.load_model
    extractor.models.load_model = lambda config=None, **kw: ScriptedBackend(reply, name="m")
    try:
        return build_engine(load_spec(spec_file), "apparel")
    finally:
        extractor.models.load_model = original


def _ready(client: TestClient, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready"
        time.sleep(0.01)


def _client(engine, **settings) -> TestClient:  # type: ignore[no-untyped-def]
    keys = settings.pop("keys", None)
    return TestClient(create_app(engine, ServeSettings(**settings), keys=keys))


def _metrics(client: TestClient) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


# --- records ---------------------------------------------------------------------------------------

def test_records_equal_the_cli(spec_file, tmp_path, monkeypatch):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(item) + "\n" for item in ITEMS), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["extract", str(inputs), "--schema", "apparel", "--engine-spec", str(spec_file),
                                       "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    with _client(_engine(spec_file)) as client:
        _ready(client)
        response = client.post("/v1/extract", json={"schema": "apparel", "items": ITEMS})
    assert response.status_code == 200, response.text
    assert response.json()["records"] == written
    assert [r["status"] for r in written] == ["ok"] * 3


def test_a_bad_item_gets_an_error_record_and_the_others_are_ok(spec_file):
    items = [ITEMS[0], {"id": "x", "text": ""}, {"id": "y", "text": 42}, {"id": "z"}, "no object", ITEMS[1]]
    with _client(_engine(spec_file)) as client:
        _ready(client)
        response = client.post("/v1/extract", json={"schema": "apparel", "items": items})
        assert response.status_code == 200, response.text
        records = response.json()["records"]
        assert [r["id"] for r in records] == ["ap-01", "x", "y", "z", "5", "ap-02"]
        assert [r["status"] for r in records] == ["ok", "failed", "failed", "failed", "failed", "ok"]
        assert "empty text" in records[1]["error"] and "not a string" in records[2]["error"]
        products = {s.labels["status"]: s.value for s in _metrics(client)["extractor_products"]
                    if s.name.endswith("_total")}
        assert products == {"ok": 2, "failed": 4}


def test_normalize_adds_canonical_values(spec_file):
    with _client(_engine(spec_file)) as client:
        _ready(client)
        plain = client.post("/v1/extract", json={"schema": "apparel", "items": ITEMS[:1]}).json()["records"][0]
        normalized = client.post("/v1/extract", json={"schema": "apparel", "items": ITEMS[:1], "normalize": True})
    assert "normalized" not in plain
    assert "normalized" in normalized.json()["records"][0]


def test_schemas(spec_file):
    with _client(_engine(spec_file)) as client:
        names = [s["name"] for s in client.get("/v1/schemas").json()["schemas"]]
        assert "apparel" in names
        assert client.get("/v1/schemas/apparel").json()["name"] == "apparel"
        missing = client.get("/v1/schemas/nope")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_schema"
        assert client.get("/healthz").json() == {"status": "ok"}
        assert "/v1/extract" in client.get("/openapi.json").json()["paths"]


# --- readiness, batching, metrics ----------------------------------------------------------------

def test_readiness_goes_from_503_to_200(spec_file):
    release = threading.Event()
    engine = _engine(spec_file)

    def factory():  # type: ignore[no-untyped-def]
        assert release.wait(10)
        return engine

    with _client(factory) as client:
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"
        early = client.post("/v1/extract", json={"schema": "apparel", "items": ITEMS[:1]})
        assert early.status_code == 503
        release.set()
        _ready(client)
        assert client.get("/readyz").json() == {"status": "ready"}
        samples = _metrics(client)["extractor_model_load_seconds"]
        assert samples[0].value > 0


def test_concurrent_requests_are_batched(spec_file):
    with _client(_engine(spec_file, delay=0.05), max_batch_size=16, max_wait_ms=20) as client:
        _ready(client)
        results: list[int] = []

        def send(i: int) -> None:
            item = {"id": str(i), "text": ITEMS[i % 3]["text"]}
            results.append(client.post("/v1/extract", json={"schema": "apparel", "items": [item]}).status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert results == [200] * 8
        assert max(client.app.state.batcher.batches) > 1
        families = _metrics(client)
    buckets = {s.labels["le"]: s.value for s in families["extractor_batch_size"] if s.name.endswith("_bucket")}
    count = next(s.value for s in families["extractor_batch_size"] if s.name.endswith("_count"))
    assert buckets["1.0"] < count  # some batch held more than one product
    requests = {(s.labels["route"], s.labels["status"]): s.value for s in families["extractor_requests"]
                if s.name.endswith("_total")}
    assert requests[("/v1/extract", "200")] == 8
    assert "extractor_request_seconds" in families and "extractor_queue_depth" in families


# --- limits --------------------------------------------------------------------------------------

def test_limits(spec_file):
    engine = _engine(spec_file)
    with _client(engine, max_items=2, max_text_chars=20, max_body_bytes=400, max_queue=2) as client:
        _ready(client)
        many = client.post("/v1/extract", json={"schema": "apparel", "items": [{"text": "a"}] * 3})
        assert many.status_code == 422 and many.json()["error"]["code"] == "too_many_items"
        long = client.post("/v1/extract", json={"schema": "apparel", "items": [{"text": "x" * 21}]})
        assert long.status_code == 422 and long.json()["error"]["code"] == "text_too_long"
        big = client.post("/v1/extract", json={"schema": "apparel", "items": [{"text": "x" * 500}]})
        assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"
        chunked = client.post("/v1/extract", content=iter([b"x" * 300, b"x" * 300]),  # no Content-Length
                              headers={"content-type": "application/json"})
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "body_too_large"
        bad = client.post("/v1/extract", content=b"{not json", headers={"content-type": "application/json"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "not_json"
        unknown = client.post("/v1/extract", json={"schema": "nope", "items": [{"text": "a"}]})
        assert unknown.status_code == 404


def test_a_full_queue_answers_429(spec_file):
    gate = threading.Event()

    def reply(prompt: str) -> str:
        if "BLOCK" in prompt.rsplit("Product: ", 1)[1]:
            assert gate.wait(10)
        return _reply(prompt)

    import extractor.models

    original = extractor.models.load_model
    extractor.models.load_model = lambda config=None, **kw: ScriptedBackend(reply, name="m")
    try:
        engine = build_engine(load_spec(spec_file), "apparel")
    finally:
        extractor.models.load_model = original
    with _client(engine, max_items=2, max_queue=2, max_batch_size=1, max_wait_ms=0) as client:
        _ready(client)
        batcher = client.app.state.batcher
        codes: list[int] = []

        def send(texts: list[str]) -> None:
            body = {"schema": "apparel", "items": [{"text": t} for t in texts]}
            codes.append(client.post("/v1/extract", json=body).status_code)

        running = threading.Thread(target=send, args=(["BLOCK tee"],))  # holds the engine thread
        running.start()
        wait_until = time.monotonic() + 10
        while not (batcher.batches and batcher.pending == 0):
            assert time.monotonic() < wait_until
            time.sleep(0.01)
        queued = threading.Thread(target=send, args=(["Nike tee", "Levis jeans"],))  # fills the queue
        queued.start()
        while batcher.pending < 2:
            assert time.monotonic() < wait_until
            time.sleep(0.01)
        full = client.post("/v1/extract", json={"schema": "apparel", "items": [{"text": "Hanes tee"}]})
        assert full.status_code == 429 and full.json()["error"]["code"] == "queue_full"
        assert full.headers["retry-after"] == "1"
        gate.set()
        running.join(10)
        queued.join(10)
        assert codes == [200, 200]
        assert client.post("/v1/extract", json={"schema": "apparel", "items": [{"text": "Hanes tee"}]}).status_code == 200
    with pytest.raises(ValueError, match="never fit"):
        create_app(engine, ServeSettings(max_items=3, max_queue=2))


def test_overload_answers_429_with_retry_after_not_timeouts(spec_file):
    """30 requests at once on an engine of about 20 products/s without batching and a 1 s deadline:
    the work that cannot be done in time is refused at once (429 overloaded), none times out."""
    with _client(_engine(spec_file, delay=0.05), max_batch_size=1, max_wait_ms=0, timeout_s=1.0) as client:
        _ready(client)
        answers: list = []

        def send(i: int) -> None:
            item = {"id": str(i), "text": ITEMS[i % 3]["text"]}
            answers.append(client.post("/v1/extract", json={"schema": "apparel", "items": [item]}))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    codes = sorted(a.status_code for a in answers)
    assert set(codes) == {200, 429}, codes
    refused = [a for a in answers if a.status_code == 429]
    assert all(a.json()["error"]["code"] == "overloaded" and int(a.headers["retry-after"]) >= 1 for a in refused)


def test_deadline(spec_file):
    with _client(_engine(spec_file, delay=0.3), timeout_s=0.1) as client:
        _ready(client)
        response = client.post("/v1/extract", json={"schema": "apparel", "items": ITEMS[:1]})
        assert response.status_code == 504 and response.json()["error"]["code"] == "deadline"


# --- auth ----------------------------------------------------------------------------------------

def test_auth(spec_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_KEYS", "alpha, beta")
    hashes = tmp_path / "keys.txt"
    hashes.write_text(f"# production\n{key_hash('gamma')}\n", encoding="utf-8")
    engine = _engine(spec_file)
    for keys, good in ((KeyChecker.from_env("TEST_KEYS"), "beta"), (KeyChecker.from_file(hashes), "gamma")):
        with _client(engine, keys=keys) as client:
            _ready(client)
            body = {"schema": "apparel", "items": ITEMS[:1]}
            none = client.post("/v1/extract", json=body)
            assert none.status_code == 401 and none.json()["error"]["code"] == "no_api_key"
            wrong = client.post("/v1/extract", json=body, headers={"X-API-Key": "nope"})
            assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "bad_api_key"
            assert client.get("/v1/schemas").status_code == 401
            assert client.post("/v1/extract", json=body, headers={"X-API-Key": good}).status_code == 200
            assert client.get("/healthz").status_code == 200  # probes need no key
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")


def test_serve_refuses_no_auth_off_loopback_and_a_start_without_keys():
    result = CliRunner().invoke(main, ["serve", "--no-auth", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "loopback" in result.output
    result = CliRunner().invoke(main, ["serve", "--api-keys-env", "EXTRACTOR_TEST_UNSET_KEYS"],
                                env={"EXTRACTOR_TEST_UNSET_KEYS": ""})
    assert result.exit_code == 1 and "no API keys" in result.output


@pytest.mark.parametrize("flags, access_log", [([], True), (["--no-access-log"], False), (["--access-log"], True)])
def test_the_access_log_is_on_unless_turned_off(monkeypatch, flags, access_log):  # type: ignore[no-untyped-def]
    """A line per request by default (uvicorn's access log, never a body); --no-access-log drops it."""
    import uvicorn

    started: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    result = CliRunner().invoke(main, ["serve", "--no-auth", "--decoding", "free", *flags])
    assert result.exit_code == 0, result.output
    assert started["access_log"] is access_log and started["port"] == 8000


# --- the real server -----------------------------------------------------------------------------

_SERVER = """
import json, sys
from extractor.backends.scripted import ScriptedBackend
import extractor.models

def reply(prompt):
    text = prompt.rsplit("Product: ", 1)[1]
    return json.dumps({"Brand": text.split()[0].title(), "Pack Count": None})

extractor.models.load_model = lambda config=None, **kw: ScriptedBackend(reply, name="m")
from extractor.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_subprocess_answers_and_exits_on_sigterm(tmp_path):
    """`extractor serve` for real on a loopback port (the model loader replaced by a script in the
    subprocess, so no model is needed): ready, answers, answers a request accepted before SIGTERM,
    and exits 0 soon after it."""
    import httpx

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "EXTRACTOR_API_KEYS": "k1"}
    process = subprocess.Popen([sys.executable, "-c", _SERVER, "serve", "--decoding", "free", "--schema", "apparel",
                                "--port", str(port), "--max-wait-ms", "800"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(process, base, 60)
        response = httpx.post(f"{base}/v1/extract", headers={"X-API-Key": "k1"}, timeout=10,
                              json={"schema": "apparel", "items": [{"id": "a", "text": "SECRET-TEXT tee"}]})
        assert response.status_code == 200, response.text
        assert response.json()["records"][0]["attributes"]["Brand"] == "Secret-Text"
        in_flight: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: in_flight.append(httpx.post(
            f"{base}/v1/extract", headers={"X-API-Key": "k1"}, timeout=10,
            json={"schema": "apparel", "items": [{"id": "b", "text": "Levis jeans"}]})))
        sender.start()
        time.sleep(0.3)  # accepted, and waiting up to --max-wait-ms for its batch to fill
        process.send_signal(signal.SIGTERM)
        sender.join(10)
        assert in_flight and in_flight[0].status_code == 200, in_flight  # SIGTERM loses no accepted request
        assert in_flight[0].json()["records"][0]["id"] == "b"
        assert process.wait(timeout=10) == 0
        log = process.stdout.read().decode()
        assert "SECRET-TEXT" not in log  # no product text in the logs without --log-text
        assert "POST /v1/extract" in log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_product_text_is_logged_only_with_log_text(spec_file, caplog):
    engine = _engine(spec_file)
    body = {"schema": "apparel", "items": [{"id": "a", "text": "SECRET-TEXT tee"}]}
    for log_text in (False, True):
        caplog.clear()
        with caplog.at_level("INFO", logger="extractor.serve"), _client(engine, log_text=log_text) as client:
            _ready(client)
            assert client.post("/v1/extract", json=body).status_code == 200
        assert ("SECRET-TEXT" in caplog.text) is log_text
