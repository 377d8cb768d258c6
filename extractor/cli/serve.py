"""The serve command: ``extractor extract``'s engine behind an HTTP API (extractor/serve/)."""

from __future__ import annotations

import copy
from typing import Any

import click

from ..serve.app import ServeSettings
from .common import default
from .extract import ENGINE_OPTIONS, engine_spec_from, extract


def _engine_options(command: click.Command) -> click.Command:
    """Give ``command`` extract's engine options (the same shortcuts, defaults and help) and --engine-spec."""
    names = (*ENGINE_OPTIONS, "engine_spec")
    command.params[:0] = [copy.copy(p) for p in extract.params if p.name in names]
    return command


@_engine_options
@click.command("serve")
@click.option("-s", "--schema", default=None,
              help="The schema the engine is built for (a shipped name); requests may name any shipped schema. "
                   "Default: the first shipped schema.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--max-batch-size", default=default(ServeSettings, "max_batch_size"), show_default=True, type=click.IntRange(1),
              help="Products the engine runs together as one batch, from one or several concurrent requests "
                   "(1: no batching); replaces the engine spec's batch_size while serving.")
@click.option("--max-wait-ms", default=default(ServeSettings, "max_wait_ms"), show_default=True, type=click.FloatRange(0),
              help="How long a batch waits for more requests after its first one (longer, a twentieth of "
                   "its expected run time, when the engine takes seconds per batch).")
@click.option("--max-queue", default=default(ServeSettings, "max_queue"), show_default=True, type=click.IntRange(1),
              help="Products waiting for the engine; a request that does not fit is answered 429.")
@click.option("--max-items", default=default(ServeSettings, "max_items"), show_default=True, type=click.IntRange(1),
              help="Items per request (more: 422).")
@click.option("--max-text-chars", default=default(ServeSettings, "max_text_chars"), show_default=True, type=click.IntRange(1),
              help="Characters per text (longer: 422).")
@click.option("--max-body-bytes", default=default(ServeSettings, "max_body_bytes"), show_default=True, type=click.IntRange(1),
              help="Request body size (larger: 413).")
@click.option("--timeout-s", default=default(ServeSettings, "timeout_s"), show_default=True, type=click.FloatRange(0, min_open=True),
              help="Per-request deadline (past it: 504). A request that would wait past it behind "
                   "queued work, at the engine's recent throughput, is answered 429 at once.")
@click.option("--threads", default=default(ServeSettings, "threads"), type=click.IntRange(1),
              help="Threads torch uses for the engine (default: torch's, one per core). On a small machine, "
                   "one fewer than the cores leaves the HTTP server a core.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Server processes on the one port, each with its own engine and its share of the cores "
                   "(--threads defaults to cores / workers). One process leaves its engine idle while "
                   "answers go out and the next queries come in; a second fills those gaps. Each worker "
                   "holds a copy of the model in memory.")
@click.option("--api-keys-env", default="EXTRACTOR_API_KEYS", show_default=True,
              help="Environment variable holding the API keys (separated by commas), checked in X-API-Key.")
@click.option("--api-keys-file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="File of SHA-256 hex digests of the API keys, one a line (instead of --api-keys-env).")
@click.option("--no-auth", is_flag=True, help="Serve without API keys (only on a loopback --host).")
@click.option("--log-text", is_flag=True, help="Log the product texts of each request (off: none are logged).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log a line per request (client, method, path, status; never a body). Writing it is a "
                   "large share of the event loop's work per request at hundreds of requests/s; without "
                   "it, /metrics still counts requests by route and status.")
def serve(schema: str | None, host: str, port: int, max_batch_size: int, max_wait_ms: float, max_queue: int,
          max_items: int, max_text_chars: int, max_body_bytes: int, timeout_s: float, threads: int | None,
          workers: int, api_keys_env: str,
          api_keys_file: str | None, no_auth: bool, log_text: bool, access_log: bool, **engine_options: Any) -> None:
    """Serve extraction over HTTP (needs the serve extra: pip install -e ".[serve]").

    The engine (the same options as extract, or --engine-spec) is built once and run by one thread;
    concurrent requests are micro-batched. POST /v1/extract {"schema", "items": [{"id", "text"}]}
    answers the records extract writes, one per item; also GET /v1/schemas, /healthz, /readyz
    (ready after a warm-up extraction), /metrics (Prometheus), /openapi.json. SIGTERM finishes the
    requests accepted, then exits.

    \b
    Example:
      EXTRACTOR_API_KEYS=secret extractor serve --schema apparel --port 8000
      curl -H 'X-API-Key: secret' -d '{"schema": "apparel", "items": [{"id": "1", "text": "Nike tee"}]}' \\
           localhost:8000/v1/extract
    """
    import logging

    from ..schemas import shipped_schemas

    try:
        import uvicorn

        from ..serve.app import ServeSettings, create_app
        from ..serve.auth import KeyChecker, is_loopback
    except ImportError as exc:
        raise click.ClickException(f"serve needs the serve extra (pip install -e \".[serve]\"): {exc}") from exc

    context = click.get_current_context()
    if max_items > max_queue:
        raise click.UsageError(f"--max-items {max_items} exceeds --max-queue {max_queue}: such a request would never fit")
    if no_auth:
        if not is_loopback(host):
            raise click.UsageError(f"--no-auth serves only a loopback --host (127.0.0.1, ::1, localhost), not {host}")
        keys = None
    elif api_keys_file:
        keys = KeyChecker.from_file(api_keys_file)
    else:
        keys = KeyChecker.from_env(api_keys_env)
    shipped = shipped_schemas()
    if schema is None:
        schema = next(iter(shipped))
    elif schema not in shipped:
        raise click.UsageError(f"--schema {schema}: not a shipped schema ({', '.join(shipped)})")
    spec = engine_spec_from(context, engine_options)
    if workers > 1 and threads is None:
        from ..serve.workers import threads_per_worker

        threads = threads_per_worker(workers)
    settings = ServeSettings(max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=max_queue,
                             max_items=max_items, max_text_chars=max_text_chars, max_body_bytes=max_body_bytes,
                             timeout_s=timeout_s, threads=threads, log_text=log_text)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    graceful = max(timeout_s, 1) + 5
    if workers > 1:
        from ..serve.workers import describe, run_workers

        # uvicorn's supervisor passes SIGTERM to the workers, waits for them, then returns: exit 0
        run_workers(workers, describe(spec, settings, schema, keys, workers), host, port, log_level="info",
                    timeout_graceful_shutdown=graceful, access_log=access_log)
        return
    app = create_app(spec, settings, schema=schema, keys=keys)
    # uvicorn's access log names the method, path and status only (never a body); on SIGTERM it stops
    # accepting, waits for the requests in flight, then runs the app's shutdown (the batcher drains),
    # and finally re-raises the signal with the handler found before it started: this one, so that a
    # graceful stop exits 0 (and a SIGTERM during the model load exits at once, also 0).
    import signal

    def _terminated(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminated)
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=graceful, access_log=access_log)
