"""Running the scoring server: the address checks, the versions loaded before the first request,
the hot-swap watcher, and uvicorn."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelledger.core.errors import InvalidInputError
from modelledger.services.registry.service import RegistryService
from modelledger.services.serving.app import DEFAULT_MAX_BODY_BYTES, build_app
from modelledger.services.serving.references import ModelReference
from modelledger.services.serving.served import ServedModels, hand_matrices_quietly
from modelledger.services.serving.tokens import ServingTokens
from modelledger.storage.database import Database

log = logging.getLogger(__name__)

# Only these keep a server private to this machine without tokens; any other address, even
# another 127.x one, may be reachable by others (containers, port forwards), so it needs them.
OPEN_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 5000
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    certfile: Path | None = None
    keyfile: Path | None = None


class _TokenCache:
    """The accepted token hashes, read again whenever the workspace changes (a revocation
    applies within the watcher's poll)."""

    def __init__(self, tokens: ServingTokens) -> None:
        self._tokens = tokens
        self._hashes = tokens.active_hashes()

    def refresh(self) -> None:
        self._hashes = self._tokens.active_hashes()

    def __call__(self) -> frozenset[str]:
        return self._hashes


def serve(database: Database, registry: RegistryService, tokens: ServingTokens,
          head_seq: Callable[[], int], references: Sequence[str], options: ServerOptions,
          *, announce: Callable[[str], None] = print) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    parsed = [ModelReference.parse(text) for text in references]
    if (options.certfile is None) != (options.keyfile is None):
        raise InvalidInputError("TLS needs both --certfile and --keyfile.")
    token_hashes = None
    if options.host not in OPEN_HOSTS:
        cache = _TokenCache(tokens)
        if not cache():
            raise InvalidInputError(
                f"Refusing to listen on {options.host}: beyond 127.0.0.1 every request needs a "
                "bearer token, and this workspace has none. An admin makes one with "
                "`modelledger token add NAME --reason ...`.")
        token_hashes = cache
    hand_matrices_quietly()
    models = ServedModels(database, registry, head_seq)
    if token_hashes is not None:
        models.on_workspace_changed.append(token_hashes.refresh)
    for reference in parsed:
        served = models.load(reference)
        announce(f"{reference}: {served.header} ({served.version.stage.value})")
    app = build_app(models, single=parsed[0] if len(parsed) == 1 else None,
                    token_hashes=token_hashes, max_body_bytes=options.max_body_bytes)
    config = uvicorn.Config(
        app, host=options.host, port=options.port, access_log=False, log_level="warning",
        ssl_certfile=str(options.certfile) if options.certfile else None,
        ssl_keyfile=str(options.keyfile) if options.keyfile else None,
        timeout_graceful_shutdown=10)
    server = uvicorn.Server(config)
    scheme = "https" if options.certfile else "http"
    announce(f"Serving on {scheme}://{options.host}:{options.port} (Ctrl-C stops)")
    models.start_watching()
    try:
        server.run()
    except SystemExit:  # uvicorn's answer to an address it cannot bind (it logged why)
        if server.started:
            raise
        raise InvalidInputError(f"Could not listen on {options.host}:{options.port}: the port "
                                "is in use or the address is not this machine's.") from None
    finally:
        models.stop_watching()
