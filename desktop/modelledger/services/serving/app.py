"""The scoring server's HTTP API, as a Starlette application.

``POST /invocations`` (a server of one model) and ``POST /models/{reference}/invocations``
answer ``{"predictions": [...]}`` as MLflow's scoring server does; ``GET /ping``, ``/health``
(which version each reference serves), ``/version`` and ``/metrics`` (Prometheus). Every
response carries ``X-Request-Id``; a scored one also ``X-Model-Version`` (``name/3``). Errors are
JSON ``{"error_code": ..., "message": ...}`` (plus ``column`` when one feature is at fault):
bad input 400, no or a wrong token 401, an unknown model 404, a body over the limit 413, a
content type other than JSON or CSV 415.

The handlers score on the event loop itself: a one-row prediction takes well under a
millisecond, less than handing it to a thread would cost, and the GIL would serialise the
threads anyway. Only loading a version for the first time runs in a thread.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelledger import __version__
from modelledger.core.errors import InvalidInputError, ModelLedgerError, NotFoundError
from modelledger.services.serving.payloads import PayloadError, parse_body, predictions_json
from modelledger.services.serving.references import ModelReference
from modelledger.services.serving.served import ServedModels, ServedVersion
from modelledger.services.serving.tokens import token_hash

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 404: "RESOURCE_DOES_NOT_EXIST",
                413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
                500: "INTERNAL_ERROR", 503: "TEMPORARILY_UNAVAILABLE"}
_JSON = "application/json"


class ServingMetrics:
    """Requests, errors and latency per model and version, in a registry of the server's own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("model", "version")
        self._requests = Counter("modelledger_requests", "Scoring requests answered",
                                 (*labels, "status"), registry=self.registry)
        self._errors = Counter("modelledger_request_errors", "Scoring requests refused or "
                               "failed", (*labels, "status"), registry=self.registry)
        self._latency = Histogram("modelledger_request_seconds", "Time to answer a scoring "
                                  "request", labels, buckets=LATENCY_BUCKETS,
                                  registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, model: str, version: str, status: int, seconds: float) -> None:
        key = (model, version, status)
        children = self._children.get(key)
        if children is None:  # labels() is a lock and a dict lookup; do it once per key
            children = (self._requests.labels(model, version, str(status)),
                        self._errors.labels(model, version, str(status)) if status >= 400
                        else None,
                        self._latency.labels(model, version))
            self._children[key] = children
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Refused(Exception):
    def __init__(self, status: int, message: str, column: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.column = column


def build_app(models: ServedModels, *, single: ModelReference | None,
              token_hashes: Callable[[], frozenset[str]] | None = None,
              max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
              metrics: ServingMetrics | None = None) -> Starlette:
    """``single``: what ``/invocations`` serves (None: only ``/models/...``).
    ``token_hashes``: the current accepted token hashes, when requests need a bearer token."""
    metrics = metrics or ServingMetrics()

    def authorise(request: Request) -> None:
        if token_hashes is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token_hash(token.strip()) not in token_hashes():
            raise _Refused(401, "This server needs a bearer token: send 'Authorization: Bearer "
                           "<token>' (an admin makes one with `modelledger token add`).")

    def request_id_of(request: Request) -> str:
        given = request.headers.get("x-request-id")
        return given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            raise _Refused(413, f"The body is {int(declared)} bytes; this server takes at most "
                           f"{max_body_bytes} (send fewer rows per request).")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body_bytes:
                raise _Refused(413, f"The body is over {max_body_bytes} bytes, the most this "
                               "server takes (send fewer rows per request).")
        return bytes(body)

    async def served_for(reference: ModelReference) -> ServedVersion:
        served = models.current(reference)
        if served is not None:
            return served
        try:
            return await run_in_threadpool(models.load, reference)
        except NotFoundError as error:
            raise _Refused(404, str(error)) from None
        except ModelLedgerError as error:  # untrusted, tampered or fileless: not servable
            raise _Refused(503, f"{reference} cannot be served: {error}") from None

    async def invoke(request: Request, reference: ModelReference | None) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request)
        headers = {"X-Request-Id": request_id}
        model, version = "-", "-"
        try:
            authorise(request)
            if reference is None:
                raise _Refused(404, "This server serves no single model at /invocations: POST "
                               "to /models/NAME/invocations (or start it with one model).")
            model = reference.model_name
            served = await served_for(reference)
            version = str(served.number)
            headers["X-Model-Version"] = served.header
            body = await read_body(request)
            rows = parse_body(body, request.headers.get("content-type", ""), served.schema)
            try:
                predictions = served.predict(rows)
            except (ValueError, TypeError) as error:  # scikit-learn's word on the values
                raise _Refused(400, f"The model could not score this input: {error}") from None
            models.remember_input(reference, rows)
            response = Response(predictions_json(predictions), 200, headers, _JSON)
        except PayloadError as error:
            response = _error(error.status, str(error), headers, error.column)
        except _Refused as refusal:
            response = _error(refusal.status, refusal.message, headers, refusal.column)
        except Exception:
            log.exception("request %s for %s failed", request_id, model)
            response = _error(500, f"The server failed on this request (id {request_id}); "
                              "its log has the details.", headers)
        if response.status_code == 404:
            model = "-"  # a wrong name must not create a time series per name
        metrics.observe(model, version, response.status_code, time.perf_counter() - started)
        return response

    async def single_invocations(request: Request) -> Response:
        return await invoke(request, single)

    async def model_invocations(request: Request) -> Response:
        text = request.path_params["reference"]
        try:
            reference = ModelReference.parse(text)
        except InvalidInputError as error:
            return _error(404, str(error), {"X-Request-Id": request_id_of(request)})
        return await invoke(request, reference)

    async def ping(request: Request) -> Response:
        return Response(b"\n", 200, {"X-Request-Id": request_id_of(request)}, _JSON)

    def guarded(produce: Callable[[], tuple[bytes, str]]):
        async def endpoint(request: Request) -> Response:
            headers = {"X-Request-Id": request_id_of(request)}
            try:
                authorise(request)
            except _Refused as refusal:
                return _error(refusal.status, refusal.message, headers)
            content, media_type = produce()
            return Response(content, 200, headers, media_type)
        return endpoint

    def health() -> tuple[bytes, str]:
        serving = {str(served.reference): served.describe() for served in models.served()}
        return json.dumps({"status": "ok", "models": serving}).encode(), _JSON

    def version_info() -> tuple[bytes, str]:
        return json.dumps({"modelledger": __version__}).encode(), _JSON

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/health", guarded(health), methods=["GET"]),
        Route("/version", guarded(version_info), methods=["GET"]),
        Route("/metrics", guarded(lambda: (metrics.exposition(), CONTENT_TYPE_LATEST)),
              methods=["GET"]),
        Route("/invocations", single_invocations, methods=["POST"]),
        Route("/models/{reference:path}/invocations", model_invocations, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _error(status: int, message: str, headers: dict[str, str],
           column: str | None = None) -> Response:
    document: dict[str, Any] = {"error_code": _ERROR_CODES.get(status, "BAD_REQUEST"),
                                "message": message}
    if column is not None:
        document["column"] = column
    if status == 401:
        headers = {**headers, "WWW-Authenticate": "Bearer"}
    return Response(json.dumps(document).encode(), status, headers, _JSON)
