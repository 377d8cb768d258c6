"""The FastAPI app of ``extractor serve`` (``create_app``).

Endpoints: ``POST /v1/extract`` (``{"schema", "items": [{"id", "text"}], "normalize"}`` -> ``{"records":
[...]}``, the record dicts ``extractor extract`` writes, one per item, in order), ``GET /v1/schemas``,
``GET /v1/schemas/{name}``, ``GET /healthz`` (alive), ``GET /readyz`` (503 until the engine is built
and one warm-up extraction ran), ``GET /metrics`` (Prometheus) and FastAPI's ``/openapi.json``.

Every refusal is a JSON body ``{"error": {"code", "message"}}``: 401/403 (API key), 404 (unknown
schema), 413 (body too large), 422 (not a request, too many items, a text too long), 429 (queue
full, or so much work queued that the request could not meet its deadline; with Retry-After), 503
(not ready, shutting down), 504 (deadline). An unusable item (no text,
text not a string) gets a ``failed`` record in its place and never fails the others. Product text is
never logged unless ``log_text``."""


import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..engine import Engine
from ..records import Document, Record
from .batcher import Batcher, DeadlineExceeded, Overloaded, QueueFull, ShuttingDown
from .metrics import Metrics

log = logging.getLogger("extractor.serve")

WARMUP_TEXT = "Hanes Mens Crew Tee 6-Pack Navy XL"


@dataclass
class ServeSettings:
    """The service's limits and batching."""

    max_batch_size: int = 32
    """Products run together by the engine thread, as one engine batch (from one or several
    requests); it replaces the engine spec's ``batch_size`` while serving."""
    max_wait_ms: float = 5.0
    """How long a batch waits for more requests after its first one (at least: a batch the engine
    will run for seconds waits a share of that, ``batcher.GATHER_SHARE``)."""
    max_queue: int = 1024
    """Products waiting for the engine thread; a request that does not fit gets 429."""
    max_items: int = 64
    """Items per request (more: 422)."""
    max_text_chars: int = 4000
    """Characters per text (longer: 422)."""
    max_body_bytes: int = 1 << 20
    """Request body size (larger: 413)."""
    timeout_s: float = 30.0
    """Per-request deadline (past it: 504)."""
    retry_after_s: int = 1
    """Retry-After of a 429 (at least; an overloaded service asks for about the excess wait)."""
    threads: int | None = None
    """Threads torch uses for the engine's tensor work (None: torch's default, every core). On a
    small machine one fewer than the cores leaves the HTTP event loop a core of its own."""
    log_text: bool = False
    """Log each request's product texts (off: no product text is logged)."""


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _request_schema(settings: ServeSettings, names: list[str]) -> dict[str, Any]:
    """The request body's JSON Schema (for /openapi.json; the endpoint checks bodies itself, so that
    one bad item gets an error record instead of failing the request). A body that fits it gets 200."""
    return {
        "type": "object", "required": ["schema", "items"], "additionalProperties": False,
        "properties": {
            "schema": {"type": "string", "enum": names, "description": "A shipped schema name (GET /v1/schemas)."},
            "items": {"type": "array", "minItems": 1, "maxItems": settings.max_items, "items": {
                "type": "object", "required": ["text"],
                "properties": {"id": {"type": "string"},
                               "text": {"type": "string", "maxLength": settings.max_text_chars}}}},
            "normalize": {"type": "boolean", "description": "Add canonical values (default: the engine spec's)."},
        },
    }


def create_app(engine: Engine | Any | Callable[[], Engine], settings: ServeSettings | None = None,
               schema: str | None = None, keys: Any = None, metrics: Metrics | None = None, peers: Any = None) -> Any:
    """The app around ``engine``: a built Engine, an EngineSpec (built once, for ``schema``, on the
    engine thread), or a function returning an Engine (likewise). ``keys``: an ``auth.KeyChecker``,
    or None for no authentication (the CLI allows that only on loopback). ``peers``: the other
    worker processes (``workers.Peers``), without which /readyz is not 200."""
    from contextlib import asynccontextmanager

    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from ..schemas import load_schema, shipped_schemas
    from ..spec import EngineSpec
    from .auth import HEADER

    settings = settings or ServeSettings()
    if settings.max_items > settings.max_queue:
        raise ValueError(f"max_items ({settings.max_items}) cannot exceed max_queue ({settings.max_queue}): "
                         "such a request would never fit")
    metrics = metrics or Metrics()
    batcher = Batcher(settings.max_batch_size, settings.max_wait_ms, settings.max_queue, metrics)
    state: dict[str, Any] = {"ready": False, "error": None}
    normalizers: dict[str, Any] = {}

    if isinstance(engine, EngineSpec):
        spec = engine
        if schema is None:
            raise ValueError("building an engine from a spec needs a schema")

        def factory() -> Engine:
            from ..spec import build_engine

            return build_engine(spec, schema)
    elif isinstance(engine, Engine):
        built = engine

        def factory() -> Engine:
            return built
    else:
        factory = engine

    def prepare() -> None:  # on the engine thread
        if settings.threads is not None:
            import torch

            torch.set_num_threads(settings.threads)
        start = time.perf_counter()
        batcher.engine = factory()
        metrics.model_load.set(time.perf_counter() - start)
        batcher._extract([Document(id="warm-up", text=WARMUP_TEXT)])  # one-time work: caches, compilation
        start = time.perf_counter()
        batcher._extract([Document(id="warm-up", text=WARMUP_TEXT)])
        batcher.observe(1, time.perf_counter() - start)  # the first throughput estimate, without it

    async def warm_up() -> None:
        try:
            await batcher.run_on_engine_thread(prepare)
        except Exception as exc:  # noqa: BLE001  (reported by /readyz and the log)
            state["error"] = f"{type(exc).__name__}: {exc}"
            log.error("engine failed to load: %s", state["error"])
            return
        state["ready"] = True
        if peers is not None:
            peers.mark_ready()
        log.info("ready")

    @asynccontextmanager
    async def lifespan(app: Any):  # type: ignore[no-untyped-def]
        batcher.start()
        task = asyncio.get_running_loop().create_task(warm_up())
        yield
        state["ready"] = False
        await batcher.close()  # answers every queued request, then stops the engine thread
        task.cancel()
        metrics.process_ended()

    app = FastAPI(title="extractor", summary="Product text to schema-valid attribute records.",
                  lifespan=lifespan)
    app.state.batcher = batcher
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.ready = state

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Any:
        return JSONResponse({"error": {"code": exc.code, "message": _text(exc.message)}}, status_code=exc.status,
                            headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        # FastAPI's own refusals (no such route: 404, a method the route has not: 405) in the same shape
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, f"http_{exc.status_code}")
        return JSONResponse({"error": {"code": code, "message": _text(str(exc.detail))}},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Any:
        return JSONResponse({"error": {"code": "bad_request", "message": _text(str(exc.errors())[:1000])}},
                            status_code=422)

    app.add_middleware(_Measure, max_body_bytes=settings.max_body_bytes, metrics=metrics)

    async def authorized(request: Request) -> None:
        if keys is None:
            return
        status = keys.check(request.headers.get(HEADER))
        if status == 401:
            raise ApiError(401, "no_api_key", f"give an API key in the {HEADER} header")
        if status == 403:
            raise ApiError(403, "bad_api_key", "the API key is not valid")

    shipped_paths = shipped_schemas()
    schema_list: list[dict[str, Any]] = []

    def shipped() -> dict[str, Any]:
        return shipped_paths

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Alive (the process answers)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        """200 once the engine is built and one warm-up extraction ran; 503 before (or if it failed)."""
        waiting = peers.waiting() if peers is not None and state["ready"] else None
        if state["ready"] and not waiting:
            return {"status": "ready"}
        message = f"engine failed to load: {state['error']}" if state["error"] else waiting or "loading the engine"
        return JSONResponse({"error": {"code": "not_ready", "message": message}}, status_code=503)

    @app.get("/metrics")
    async def metrics_endpoint() -> Any:
        """Prometheus metrics."""
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.get("/v1/schemas", dependencies=[Depends(authorized)])
    async def list_schemas() -> dict[str, Any]:
        """The schemas a request may name, with their attributes."""
        if not schema_list:
            for name in shipped():
                s = load_schema(name)
                schema_list.append({"name": s.name, "id": s.id, "description": s.description, "attributes": s.names})
        return {"schemas": schema_list}

    @app.get("/v1/schemas/{name}", dependencies=[Depends(authorized)])
    async def show_schema(name: str) -> dict[str, Any]:
        """One schema's JSON Schema document."""
        if name not in shipped():
            raise ApiError(404, "unknown_schema", f"no schema named {name!r} (GET /v1/schemas lists them)")
        s = load_schema(name)
        return {"name": s.name, "id": s.id, "document": s.document}

    @app.post("/v1/extract", dependencies=[Depends(authorized)],
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": _request_schema(settings, sorted(shipped_paths))}}}})
    async def extract(request: Request) -> Any:
        """Records for the items, one per item, in order (as ``extractor extract`` writes them)."""
        chunks, size = [], 0
        async for chunk in request.stream():  # a body without Content-Length is counted as it comes
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise ApiError(413, "body_too_large", f"request body over {settings.max_body_bytes} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        if not state["ready"]:
            raise ApiError(503, "not_ready", "the engine is loading", {"Retry-After": "5"})
        schema_name, docs, normalize = _parse(body, settings, shipped())
        if settings.log_text:
            log.info("extract schema=%s texts=%s", schema_name, json.dumps([d.text for d in docs], ensure_ascii=False))
        try:
            records = await batcher.submit(docs, settings.timeout_s)
        except QueueFull as exc:
            raise ApiError(429, "queue_full", str(exc), {"Retry-After": str(settings.retry_after_s)}) from None
        except Overloaded as exc:
            retry = max(settings.retry_after_s, math.ceil(exc.retry_after_s))
            raise ApiError(429, "overloaded", str(exc), {"Retry-After": str(retry)}) from None
        except DeadlineExceeded as exc:
            raise ApiError(504, "deadline", str(exc)) from None
        except ShuttingDown as exc:
            raise ApiError(503, "shutting_down", str(exc)) from None
        except Exception as exc:  # noqa: BLE001  (the engine failed on the whole batch; the reason is logged)
            log.error("engine error: %s", type(exc).__name__)
            raise ApiError(500, "engine_error", f"the engine failed: {type(exc).__name__}") from None
        if normalize is not None:
            records = [_normalized(r, schema_name, normalize, normalizers) for r in records]
        for record in records:
            metrics.products.labels(record.status).inc()
        # a JSONResponse of plain dicts: FastAPI would otherwise walk every record through jsonable_encoder
        return JSONResponse({"records": [r.to_dict() for r in records]})

    return app


class _Measure:
    """ASGI middleware: refuses a declared body over ``max_body_bytes`` (413) before the app reads
    it, and counts every request by route and status with its latency. Plain ASGI rather than
    Starlette's BaseHTTPMiddleware, which costs a task and a stream copy per request."""

    def __init__(self, app: Any, max_body_bytes: int, metrics: Metrics) -> None:
        self.app, self.max_body_bytes, self.metrics = app, max_body_bytes, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception escaping the app becomes a 500 outside this middleware

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                from fastapi.responses import JSONResponse

                await JSONResponse({"error": {"code": "body_too_large",
                                              "message": f"request body over {self.max_body_bytes} bytes"}},
                                   status_code=413)(scope, receive, sending)
            else:
                await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


def _parse(body: bytes, settings: ServeSettings, shipped: dict[str, Any]) -> tuple[str, list[Document], bool | None]:
    """(schema name, one Document per item, normalize) from a request body; ApiError when the body is
    not a request. An unusable item becomes a Document with ``error`` (a failed record)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(422, "not_json", "the request body is not JSON") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise ApiError(422, "not_json", "the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise ApiError(422, "bad_request", "the request body must be a JSON object")
    unknown = sorted(set(data) - {"schema", "items", "normalize"})
    if unknown:
        raise ApiError(422, "bad_request", f"unknown fields: {', '.join(map(repr, unknown))}")
    name = data.get("schema")
    if not isinstance(name, str) or not name:
        raise ApiError(422, "bad_request", "'schema' must name a schema (GET /v1/schemas lists them)")
    if name not in shipped:
        raise ApiError(404, "unknown_schema", f"no schema named {name!r} (GET /v1/schemas lists them)")
    normalize = data.get("normalize")
    if normalize is not None and not isinstance(normalize, bool):
        raise ApiError(422, "bad_request", "'normalize' must be true or false")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        raise ApiError(422, "bad_request", "'items' must be a non-empty list of {id, text}")
    if len(items) > settings.max_items:
        raise ApiError(422, "too_many_items", f"{len(items)} items; at most {settings.max_items} per request")
    docs = []
    for n, item in enumerate(items, 1):
        doc_id = str(n)
        if isinstance(item, dict) and item.get("id") is not None:
            doc_id = _text(str(item["id"]))  # echoed in the record: a lone surrogate (\\udXXX) stays escaped
        text = item.get("text") if isinstance(item, dict) else None
        error = None
        if not isinstance(item, dict):
            error = "not an object"
        elif not isinstance(text, str):
            error = "no text" if text is None else "text is not a string"
        elif not text.strip():
            error = "empty text"
        elif not _is_unicode(text):
            error = "text is not valid Unicode (a lone surrogate escape)"
        elif len(text) > settings.max_text_chars:
            raise ApiError(422, "text_too_long",
                           f"item {n}: {len(text)} characters; at most {settings.max_text_chars} per text")
        if error:
            docs.append(Document(id=doc_id, text="", error=f"item {n}: {error}", schema=name))
        else:
            docs.append(Document(id=doc_id, text=text, schema=name))
    return name, docs, normalize


def _is_unicode(text: str) -> bool:
    """False for a str holding a lone surrogate (JSON allows the escape; UTF-8 cannot encode it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(text: str) -> str:
    """``text`` with any lone surrogate written as a backslash escape, so that a response can hold it."""
    return text if _is_unicode(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _normalized(record: Record, schema_name: str, normalize: bool, cache: dict[str, Any]) -> Record:
    """``record`` with canonical values added (normalize) or removed (not normalize)."""
    from dataclasses import replace

    if not normalize:
        return replace(record, normalized=None) if record.normalized is not None else record
    if record.normalized is not None:
        return record
    if schema_name not in cache:
        from ..normalize import Normalizer
        from ..schemas import load_schema

        cache[schema_name] = Normalizer.from_schema(load_schema(schema_name))
    return cache[schema_name].normalize_record(record)
