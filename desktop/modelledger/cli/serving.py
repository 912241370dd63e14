"""Serving commands: serve (the scoring server), token add/revoke/list (its bearer tokens),
score (a file, in batch)."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import print_table


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="an HTTP scoring server with MLflow's API, following promotions")
    serve.add_argument("models", nargs="*", metavar="MODEL",
                       help="what to load at start: NAME (its production version), "
                       "NAME@staging or NAME/NUMBER; with one, POST /invocations scores it. "
                       "Others load on their first request to /models/NAME/invocations")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; any other needs bearer "
                       "tokens, see `modelledger token add`)")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--max-body-mb", type=float, default=16.0, metavar="MB",
                       help="largest request body accepted (default 16)")
    serve.add_argument("--certfile", type=Path, help="TLS certificate (PEM), with --keyfile")
    serve.add_argument("--keyfile", type=Path, help="TLS private key (PEM)")
    serve.set_defaults(handler=_serve)

    score = commands.add_parser(
        "score", help="score a CSV or Parquet file into a CSV or Parquet file, in chunks")
    score.add_argument("model", help="NAME (its production version), NAME@staging or "
                       "NAME/NUMBER")
    score.add_argument("--input", type=Path, required=True, metavar="FILE")
    score.add_argument("--output", type=Path, required=True, metavar="FILE",
                       help="written whole or not at all (replaces an existing file)")
    score.add_argument("--key", metavar="COLUMN", help="an input column copied to the output "
                       "to join predictions back to their rows")
    score.add_argument("--chunk-rows", type=int, default=262_144, metavar="N")
    score.set_defaults(handler=_score)

    token = commands.add_parser("token", help="bearer tokens of scoring servers").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    add = token.add_parser("add", help="make a token (printed once; only its hash is kept)")
    add.add_argument("name")
    add.add_argument("--reason", required=True, help="who or what it is for")
    add.set_defaults(handler=_token_add)
    revoke = token.add_parser("revoke", help="stop a token from being accepted")
    revoke.add_argument("name")
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(handler=_token_revoke)
    listing = token.add_parser("list", help="the tokens and whether they are active")
    listing.set_defaults(handler=_token_list)


def _tokens(ws):
    from modelledger.services.serving.tokens import ServingTokens

    return ServingTokens(ws.database, ws.actor, ws.changes, clock=ws.clock)


@in_workspace
def _serve(ws, args) -> int:
    from modelledger.services.serving.server import ServerOptions, serve

    options = ServerOptions(host=args.host, port=args.port,
                            max_body_bytes=int(args.max_body_mb * 1024 * 1024),
                            certfile=args.certfile, keyfile=args.keyfile)
    serve(ws.database, ws.registry, _tokens(ws), ws.audit.head_seq, args.models, options,
          announce=functools.partial(print, flush=True))
    return 0


@in_workspace
def _score(ws, args) -> int:
    from modelledger.services.serving.batch import score_file

    result = score_file(ws.database, ws.registry, ws.actor, ws.changes, args.model, args.input,
                        args.output, key_column=args.key, chunk_rows=args.chunk_rows,
                        clock=ws.clock)
    print(f"Scored {result.rows} rows with {result.version.model_name} "
          f"v{result.version.version_number} into {result.output} in {result.seconds:.1f} s.")
    return 0


@in_workspace
def _token_add(ws, args) -> int:
    token = _tokens(ws).add(args.name, args.reason)
    print(f"Token '{args.name}' (shown only now; keep it secret):\n{token}")
    return 0


@in_workspace
def _token_revoke(ws, args) -> int:
    _tokens(ws).revoke(args.name, args.reason)
    print(f"Token '{args.name}' revoked; servers refuse it within a second.")
    return 0


@in_workspace
def _token_list(ws, args) -> int:
    rows = [(t.name, "active" if t.active else f"revoked by {t.revoked_by}", t.created_by,
             f"{t.created_at:%Y-%m-%d %H:%M}") for t in _tokens(ws).list()]
    print_table(("NAME", "STATUS", "BY", "CREATED"), rows)
    return 0
