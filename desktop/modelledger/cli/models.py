"""Model and version commands: model register/update/list/show, version add/show/trust, stage."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modelledger.cli.arguments import in_workspace, key_values
from modelledger.cli.output import metrics_text, print_table
from modelledger.core.domain import InventoryFilter, RiskTier, Stage
from modelledger.core.errors import InvalidInputError


def add_commands(commands: argparse._SubParsersAction) -> None:
    model = commands.add_parser("model", help="registered models").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    register = model.add_parser("register", help="register a new model")
    register.add_argument("name")
    _model_fields(register)
    register.set_defaults(handler=_model_register)
    update = model.add_parser("update", help="change a model's facts")
    update.add_argument("name")
    _model_fields(update, for_update=True)
    update.add_argument("--reason", default="")
    update.set_defaults(handler=_model_update)
    listing = model.add_parser("list", help="list models")
    listing.add_argument("--search", help="filter by name, owner, description or tag")
    listing.set_defaults(handler=_model_list)
    show = model.add_parser("show", help="a model with its versions and stage history")
    show.add_argument("name")
    show.set_defaults(handler=_model_show)

    version = commands.add_parser("version", help="model versions").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    add = version.add_parser("add", help="add a version, from a model file or without one")
    add.add_argument("model")
    add.add_argument("file", nargs="?", type=Path,
                     help="model file (.skops preferred; .pkl/.joblib need --trust-pickle to be "
                     "read). Omit for a model scored elsewhere.")
    add.add_argument("--training-data", type=Path, help="CSV/Parquet/Excel used for training")
    add.add_argument("--metric", action="append", default=[], metavar="NAME=VALUE")
    add.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    add.add_argument("--parent", type=int, help="version this one was derived from")
    add.add_argument("--notes", default="")
    add.add_argument("--trust-pickle", metavar="REASON",
                     help="you trust this pickle/joblib file's source; it will be unpickled to "
                     "read its parameters (recorded in the audit log)")
    add.set_defaults(handler=_version_add)
    vshow = version.add_parser("show", help="one version in full")
    vshow.add_argument("model")
    vshow.add_argument("number", type=int)
    vshow.set_defaults(handler=_version_show)
    trust = version.add_parser("trust", help="record that a pickle/joblib artifact is trusted")
    trust.add_argument("model")
    trust.add_argument("number", type=int)
    trust.add_argument("--reason", required=True)
    trust.set_defaults(handler=_version_trust)

    stage = commands.add_parser("stage", help="move a version to development, staging or "
                                "archived")
    stage.add_argument("model")
    stage.add_argument("number", type=int)
    stage.add_argument("stage", choices=[s.value for s in Stage if s is not Stage.PRODUCTION])
    stage.add_argument("--reason", required=True)
    stage.set_defaults(handler=_stage)


def _model_fields(parser: argparse.ArgumentParser, for_update: bool = False) -> None:
    default = None if for_update else ""
    parser.add_argument("--owner")
    parser.add_argument("--description", default=default)
    parser.add_argument("--purpose", default=default)
    parser.add_argument("--intended-use", default=default)
    parser.add_argument("--risk-tier", choices=[t.value for t in RiskTier],
                        default=None if for_update else RiskTier.MEDIUM.value)
    parser.add_argument("--tag", action="append", default=None if for_update else [],
                        help="repeat for several tags")
    if for_update:
        parser.add_argument("--status", choices=["active", "retired"])


@in_workspace
def _model_register(ws, args) -> int:
    model = ws.registry.register_model(
        args.name, owner=args.owner, description=args.description, purpose=args.purpose,
        intended_use=args.intended_use, risk_tier=RiskTier(args.risk_tier), tags=args.tag)
    print(f"Registered model '{model.name}' (owner {model.owner}, risk {model.risk_tier}).")
    return 0


@in_workspace
def _model_update(ws, args) -> int:
    fields = {"owner": args.owner, "description": args.description, "purpose": args.purpose,
              "intended_use": args.intended_use, "risk_tier": args.risk_tier,
              "tags": args.tag, "status": args.status}
    changes = {key: value for key, value in fields.items() if value is not None}
    if not changes:
        raise InvalidInputError("Nothing to change: give at least one field, e.g. --owner.")
    current = ws.registry.get_model(args.name)
    model = ws.registry.update_model(args.name, current.row_version, changes, args.reason)
    print(f"Updated '{model.name}' (revision {model.row_version}).")
    return 0


@in_workspace
def _model_list(ws, args) -> int:
    rows = [
        (s.model.name, s.model.owner, s.model.risk_tier.value, str(s.version_count),
         f"v{s.production_version}" if s.production_version else "-",
         f"{s.model.updated_at:%Y-%m-%d %H:%M}")
        for s in ws.registry.list_models(InventoryFilter(search=args.search))
    ]
    print_table(("MODEL", "OWNER", "RISK", "VERSIONS", "PRODUCTION", "CHANGED"), rows)
    return 0


@in_workspace
def _model_show(ws, args) -> int:
    model = ws.registry.get_model(args.name)
    print(f"{model.name}  (owner {model.owner}, risk {model.risk_tier}, {model.status})")
    for label, value in (("description", model.description), ("purpose", model.purpose),
                         ("intended use", model.intended_use),
                         ("tags", ", ".join(model.tags))):
        if value:
            print(f"  {label}: {value}")
    print()
    rows = [
        (f"v{v.version_number}", v.stage.value, v.estimator_class.rsplit(".", 1)[-1] or "-",
         metrics_text(v.metrics), v.artifact.sha256[:12] if v.artifact else "(none)",
         v.created_by, f"{v.created_at:%Y-%m-%d %H:%M}")
        for v in ws.registry.list_versions(args.name)
    ]
    print_table(("VERSION", "STAGE", "ESTIMATOR", "METRICS", "ARTIFACT", "BY", "CREATED"), rows)
    print("\nStage history:")
    for change in ws.registry.stage_history(args.name):
        origin = change.from_stage.value if change.from_stage else "-"
        print(f"  {change.occurred_at:%Y-%m-%d %H:%M}  v{change.version_number}  {origin} -> "
              f"{change.to_stage.value}  by {change.actor} ({change.kind}): {change.reason}")
    return 0


@in_workspace
def _version_add(ws, args) -> int:
    version = ws.registry.add_version(
        args.model, model_file=args.file, trust_reason=args.trust_pickle,
        training_data=args.training_data, metrics=key_values(args.metric, "Metric", True),
        parameters=key_values(args.param, "Parameter", False), parent_version=args.parent,
        notes=args.notes)
    print(f"Added {version.model_name} v{version.version_number} ({version.stage.value}).")
    if version.artifact:
        print(f"  artifact sha256 {version.artifact.sha256} ({version.artifact.size_bytes} bytes,"
              f" {version.artifact.format.value})")
        if version.artifact.format.executes_code_on_load and not args.trust_pickle:
            print("  note: this pickle/joblib file was stored but not opened; its parameters "
                  "were not read. Use `version trust` if you trust its source.")
    if version.estimator_class:
        print(f"  estimator {version.estimator_class}, {len(version.parameters)} parameters, "
              f"{len(version.feature_schema)} features")
    return 0


@in_workspace
def _version_show(ws, args) -> int:
    version = ws.registry.get_version(args.model, args.number)
    document = {
        "model": version.model_name, "version": version.version_number,
        "stage": version.stage.value, "created_by": version.created_by,
        "created_at": version.created_at.isoformat(),
        "artifact": None if version.artifact is None else {
            "sha256": version.artifact.sha256, "size_bytes": version.artifact.size_bytes,
            "format": version.artifact.format.value,
            "original_filename": version.artifact.original_filename},
        "framework": version.framework, "estimator_class": version.estimator_class,
        "parent_version": version.parent_version, "parameters": version.parameters,
        "metrics": version.metrics, "training_data": version.training_data,
        "feature_schema": version.feature_schema, "environment": version.environment,
        "notes": version.notes,
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


@in_workspace
def _version_trust(ws, args) -> int:
    ws.registry.trust_artifact(args.model, args.number, args.reason)
    print(f"Recorded that {ws.actor.user} trusts the file of {args.model} v{args.number}.")
    return 0


@in_workspace
def _stage(ws, args) -> int:
    version = ws.registry.move_to_stage(args.model, args.number, Stage(args.stage), args.reason)
    print(f"{version.model_name} v{version.version_number} is now in {version.stage.value}.")
    return 0
