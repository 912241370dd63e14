"""Training commands: recipe set/show/trust, train, training list/show."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from modelledger.cli.arguments import in_workspace
from modelledger.cli.output import metrics_text, print_step, print_table
from modelledger.core.challenger import Comparison
from modelledger.core.errors import InvalidInputError
from modelledger.core.monitoring import RunStatus
from modelledger.core.recipes import parse_recipe
from modelledger.core.training import TrainingRun


def add_commands(commands: argparse._SubParsersAction) -> None:
    recipe = commands.add_parser("recipe", help="a model's training recipe").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    save = recipe.add_parser("set", help="store a new version of the model's recipe (TOML or "
                             "JSON; optional tables: [gate], [schedule], [on_incident])")
    save.add_argument("model")
    save.add_argument("file", type=Path, help="recipe.toml or recipe.json")
    save.add_argument("--code", type=Path, metavar="TRAIN_PY",
                      help="a Python file with train(frame, params): a code recipe, which runs "
                      "only after `recipe trust`")
    save.add_argument("--reason", required=True)
    save.set_defaults(handler=_recipe_set)
    show = recipe.add_parser("show", help="the model's current recipe and gate")
    show.add_argument("model")
    show.set_defaults(handler=_recipe_show)
    trust = recipe.add_parser("trust", help="vouch for the code recipe's file so it may run")
    trust.add_argument("model")
    trust.add_argument("--reason", required=True)
    trust.set_defaults(handler=_recipe_trust)

    train = commands.add_parser("train", help="train the model's next version from its recipe")
    train.add_argument("model")
    train.add_argument("--cause", default="", help="why (recorded with the run)")
    train.set_defaults(handler=_train)

    reproduce = commands.add_parser(
        "reproduce", help="re-run the recipe that trained a version and check that the same "
        "model comes out")
    reproduce.add_argument("model")
    reproduce.add_argument("number", type=int)
    reproduce.set_defaults(handler=_reproduce)

    runs = commands.add_parser("training", help="training runs").add_subparsers(
        dest="action", metavar="ACTION", required=True)
    listing = runs.add_parser("list", help="a model's training runs, newest first")
    listing.add_argument("model")
    listing.set_defaults(handler=_training_list)
    detail = runs.add_parser("show", help="one run: champion vs challenger and the gate")
    detail.add_argument("run_id", type=int)
    detail.add_argument("--log", action="store_true", help="also print the run's log")
    detail.set_defaults(handler=_training_show)


@in_workspace
def _recipe_set(ws, args) -> int:
    try:
        text = args.file.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"Cannot read {args.file}: {exc.strerror}.") from None
    written = parse_recipe(text, file_name=args.file.name)
    stored = ws.training.save_recipe(args.model, written.recipe, gate=written.gate,
                                     reason=args.reason, code_file=args.code,
                                     schedule=written.schedule, policy=written.policy)
    print(f"{stored.model_name} recipe r{stored.recipe_version}: {stored.recipe.describe()}")
    gate = stored.gate
    if gate is not None:
        print(f"  gate: {gate.primary_metric} better by ≥ {gate.min_absolute_improvement:g}"
              + (", more than chance" if gate.require_significance else ""))
    if stored.schedule is not None:
        print(f"  retrains {stored.schedule.describe()}")
    if stored.policy.on_incident:
        policy = stored.policy
        print(f"  a critical drift or performance incident starts a retrain (at most "
              f"{policy.max_per_period} in {policy.period_days:g} days, "
              f"{policy.cooldown_hours:g} h apart)")
    if args.code is not None:
        print(f"  the code runs only after: modelledger recipe trust {args.model} --reason …")
    return 0


@in_workspace
def _recipe_show(ws, args) -> int:
    stored = ws.training.current_recipe(args.model)
    if stored is None:
        print(f"{args.model} has no training recipe yet.")
        return 0
    print(f"{stored.model_name} recipe r{stored.recipe_version} by {stored.created_by} at "
          f"{stored.created_at:%Y-%m-%d %H:%M} ({stored.reason})")
    print(json.dumps({**stored.recipe.to_dict(),
                      "gate": stored.gate.to_dict() if stored.gate else None,
                      "schedule": stored.schedule.describe() if stored.schedule else None,
                      "on_incident": stored.policy.to_dict()}, indent=2))
    return 0


@in_workspace
def _recipe_trust(ws, args) -> int:
    ws.training.trust_recipe_code(args.model, args.reason)
    print(f"Trusted {args.model}'s code recipe; it may run now.")
    return 0


@in_workspace
def _train(ws, args) -> int:
    # Ctrl+C interrupts the wait and the worker process is stopped (train_in_worker's finally).
    run = ws.training.train(args.model, cause=args.cause,
                            progress=lambda percent, text: print_step(f"{percent:3d}% {text}"))
    print(f"Training run #{run.id}: {run.outcome_text}")
    if run.status is RunStatus.SUCCEEDED:
        version = ws.registry.get_version(run.model_name, run.version_number)
        print(f"  holdout: {metrics_text(version.metrics)}")
    return 0 if run.status is RunStatus.SUCCEEDED else 1


@in_workspace
def _reproduce(ws, args) -> int:
    result = ws.training.reproduce(
        args.model, args.number,
        progress=lambda percent, text: print_step(f"{percent:3d}% {text}"))
    print(f"{args.model} v{args.number}: "
          + ("reproduction verified" if result.verified else "reproduction FAILED"))
    for difference in result.differences:
        print(f"  {difference}")
    return 0 if result.verified else 1


@in_workspace
def _training_list(ws, args) -> int:
    rows = [(f"#{run.id}", f"{run.finished_at:%Y-%m-%d %H:%M}", run.trigger.value,
             f"r{run.recipe_version}", run.status.value,
             f"v{run.version_number}" if run.version_number else "-",
             _gate_text(run), run.cause) for run in ws.training.list_runs(args.model)]
    print_table(("RUN", "FINISHED", "TRIGGER", "RECIPE", "STATUS", "VERSION", "GATE", "CAUSE"),
                rows)
    return 0


@in_workspace
def _training_show(ws, args) -> int:
    run = ws.training.get_run(args.run_id)
    print(f"Training run #{run.id} of {run.model_name} (recipe r{run.recipe_version}), "
          f"{run.trigger.value}: {run.cause}")
    print(f"  by {run.started_by}, {run.started_at:%Y-%m-%d %H:%M:%S} – "
          f"{run.finished_at:%H:%M:%S}; {run.outcome_text}")
    if run.comparison is not None:
        comparison = run.comparison
        print(f"\nChallenger v{run.version_number} vs champion v{run.champion_version_number} "
              f"on the same {comparison.rows:,} holdout rows "
              f"({comparison.confidence:.0%} intervals, {comparison.resamples:,} resamples):")
        _print_differences(comparison)
        print(f"  {comparison.test.name}: p = {comparison.test.p_value:.3g}"
              + (f" ({comparison.test.note})" if comparison.test.note else ""))
    if run.monitor_comparison is not None:
        recent = run.monitor_comparison
        print(f"\nOn the monitor's {recent.rows:,} recent labelled rows:")
        _print_differences(recent)
    if run.gate is not None:
        print(f"\nGate: {'passed' if run.gate.passed else 'FAILED'}")
        for check in run.gate.checks:
            print(f"  [{'ok' if check.passed else 'no'}] {check.name}: {check.detail}")
    if args.log:
        print("\n" + run.log)
    return 0


def _print_differences(comparison: Comparison) -> None:
    print_table(("METRIC", "CHAMPION", "CHALLENGER", "IMPROVEMENT", "INTERVAL"),
                [(d.metric, f"{d.champion:.4f}", f"{d.challenger:.4f}", f"{d.improvement:+.4f}",
                  "{:+.4f} to {:+.4f}".format(*d.improvement_interval))
                 for d in comparison.differences])


def _gate_text(run: TrainingRun) -> str:
    if run.gate is None:
        return "-"
    return f"passed (#{run.request_id})" if run.gate.passed else "failed"
