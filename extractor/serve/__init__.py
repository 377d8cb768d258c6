"""``extractor serve``: extraction over HTTP.

``app.create_app`` builds the FastAPI app around an engine (or an EngineSpec built once, on the
engine thread); ``batcher.Batcher`` feeds that ONE engine thread from an asyncio queue, micro-batching
concurrent requests; ``auth.KeyChecker`` checks ``X-API-Key``; ``metrics.Metrics`` holds the
Prometheus series. FastAPI, uvicorn and prometheus-client are the ``serve`` extra
(``pip install -e ".[serve]"``); nothing here is imported by ``extractor --help``."""
