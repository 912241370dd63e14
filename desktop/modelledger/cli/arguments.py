"""What commands act on, taken from their arguments: the workspace, NAME=VALUE pairs, days."""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from modelledger.core.errors import InvalidInputError

WORKSPACE_ENV = "MODELLEDGER_WORKSPACE"

Handler = Callable[[argparse.Namespace], int]


def in_workspace(handler: Callable[[Any, argparse.Namespace], int]) -> Handler:
    """A command that acts on the workspace of ``--workspace`` (or $MODELLEDGER_WORKSPACE):
    opened for it as ``--user`` and closed afterwards."""
    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        from modelledger.services.workspace.opening import Workspace

        target = args.workspace or os.environ.get(WORKSPACE_ENV)
        if not target:
            raise InvalidInputError(
                f"Which workspace? Give --workspace PATH (or set {WORKSPACE_ENV}). Create one "
                "with `modelledger init PATH`."
            )
        workspace = Workspace.open(target, user=args.user)
        try:
            return handler(workspace, args)
        finally:
            workspace.close()

    return run


def key_values(pairs: Sequence[str], what: str, numeric: bool) -> dict:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} '{pair}' must look like NAME=VALUE.")
        if numeric:
            values[key] = value
        else:
            try:
                values[key] = json.loads(value)
            except json.JSONDecodeError:
                values[key] = value
    return values


def day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    raise InvalidInputError(f"{option} {text!r} is not a date: write it as YYYY-MM-DD.")
