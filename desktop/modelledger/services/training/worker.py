"""Running a training recipe in a worker process of its own.

Training runs code that is not ours (scikit-learn's fit, or a code recipe's ``train``) for
minutes, with memory use we cannot predict, so every run gets a fresh process, forked from a
fork server that has the data stack imported (a run starts in 0.05 s instead of 3): a memory
limit (``RLIMIT_AS``) applies to it alone, a time limit or a cancel kills it without harm to the
window or the scheduler, and a recipe's ``print`` calls and warnings (even a native library's
writes to file descriptors 1 and 2) land in the run's log file instead of our terminal. The
worker never touches the workspace database: it writes the fitted model into the run's scratch
folder and returns a `TrainingOutcome`; the caller registers the version
in one transaction, or nothing at all.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelledger.core.errors import InvalidInputError, ModelLedgerError
from modelledger.core.monitoring import RunStatus, SourceKind, Task
from modelledger.core.recipes import Recipe, RecipeKind, SplitKind

ProgressCallback = Callable[[int, str], None]
LOG_NAME = "training.log"
MODEL_NAME = "model.skops"
MIN_HOLDOUT_ROWS = 50  # as core.performance: fewer labelled rows say little about a model


@dataclass(frozen=True)
class TrainingJob:
    recipe: dict[str, Any]  # Recipe.to_dict()
    output_dir: str  # the run's scratch folder: log, model file, holdout rows
    started_at: datetime  # picks the file of a folder source, as a monitor slot does
    code_path: str = ""  # a code recipe's file, already checked against its trusted SHA-256
    # The champion it challenges, scored on the same holdout rows; none for a first version.
    champion_path: str = ""
    champion_format: str = ""
    champion_trusted: bool = False
    slice_column: str = ""  # repeat the comparison per slice of this column
    # Reproducing: the "champion" is the version being reproduced; instead of a comparison the
    # worker reports how far the two models' predictions on the holdout rows are apart.
    reproduce: bool = False
    monitor_spec: dict[str, Any] | None = None  # MonitorSpec.to_dict(): its recent labelled rows


@dataclass(frozen=True)
class TrainingOutcome:
    status: RunStatus
    error: str = ""
    log: str = ""
    model_path: str = ""
    comparison: dict[str, Any] | None = None  # core.challenger.Comparison.to_dict()
    agreement: dict[str, float] | None = None  # reproducing: predictions vs the original's
    monitor_comparison: dict[str, Any] | None = None  # the same, on the monitor's rows
    metrics: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    training_rows: int = 0
    holdout_rows: int = 0
    missing_share: dict[str, float] = field(default_factory=dict)  # feature -> share, training
    data_reference: dict[str, Any] = field(default_factory=dict)  # what was read, exactly
    fingerprint: dict[str, Any] = field(default_factory=dict)  # of the training rows
    schema: list[dict[str, str]] = field(default_factory=list)
    fit_seconds: float = 0.0


def train_now(job: TrainingJob, progress: ProgressCallback) -> TrainingOutcome:
    """Run the recipe here, in this process. Never raises: a known problem or a bug becomes a
    failed outcome whose log holds the traceback."""
    output = Path(job.output_dir)
    try:
        recipe = Recipe.from_dict(job.recipe)
        progress(5, f"Reading {recipe.source.describe()}")
        frame, reference = _read(recipe, job.started_at)
        progress(20, f"Read {len(frame):,} rows")
        train, holdout = _split(recipe, frame)
        progress(30, f"{len(train):,} training rows, {len(holdout):,} holdout rows "
                     f"({recipe.split.describe()})")
        estimator, fit_seconds = _fit(recipe, train, job.code_path)
        progress(80, f"Fitted in {fit_seconds:.1f} s; scoring the holdout")
        # The challenger scores the holdout once, for its metrics and for the comparison.
        scored = _predictions(recipe, estimator, holdout[list(recipe.features)])
        metrics = _holdout_metrics(recipe, scored, holdout[recipe.target])
        comparison = agreement = monitor_comparison = None
        champion = _load_champion(job) if job.champion_path else None
        if champion is not None and job.reproduce:
            progress(85, "Comparing the predictions with the original version's")
            agreement = _agreement(recipe, champion, scored, holdout)
        elif champion is not None:
            progress(85, "Comparing with the champion on the same holdout rows")
            comparison = _compare_with_champion(recipe, champion, scored, holdout,
                                                job.slice_column)
            if job.monitor_spec:
                progress(88, "Comparing them on the monitor's recent labelled rows")
                monitor_comparison = _compare_on_monitor_rows(job, recipe, champion,
                                                              estimator)
        progress(90, "Saving the model")
        model_path = output / MODEL_NAME
        _save(estimator, model_path)

        from modelledger.core.introspection import describe_estimator
        from modelledger.services.data.fingerprints import fingerprint_frame

        fingerprint, schema = fingerprint_frame(train[list(recipe.features)])
        description = describe_estimator(estimator)
        return TrainingOutcome(
            RunStatus.SUCCEEDED, model_path=str(model_path), comparison=comparison,
            agreement=agreement, monitor_comparison=monitor_comparison,
            metrics=metrics, parameters=dict(description.parameters) if description else {},
            training_rows=len(train), holdout_rows=len(holdout),
            missing_share={name: float(train[name].isna().mean()) for name in recipe.features},
            data_reference=reference, fingerprint=fingerprint, schema=schema,
            fit_seconds=fit_seconds)
    except ModelLedgerError as exc:
        print(f"failed: {exc}", flush=True)
        return TrainingOutcome(RunStatus.FAILED, str(exc))
    except MemoryError:
        limit = job.recipe.get("memory_limit_mb")
        message = (f"The training ran out of memory (its limit is {limit} MB). Raise the "
                   "recipe's memory limit or train on fewer rows.")
        print(message, flush=True)
        return TrainingOutcome(RunStatus.FAILED, message)
    except Exception as exc:
        traceback.print_exc()
        return TrainingOutcome(
            RunStatus.FAILED, f"The recipe failed: {type(exc).__name__}: {exc}. The full "
                              "traceback is in the run's log.")


def _read(recipe: Recipe, started_at: datetime) -> tuple[Any, dict[str, Any]]:
    from modelledger.services.data.sources import choose_folder_file, load_current, read_table
    from modelledger.storage.artifacts import file_sha256

    source = recipe.source
    if source.kind is SourceKind.SQL:
        frame, _ = load_current(source, started_at)
        reference = {"kind": "sql", "url": source.url, "query": source.query,
                     "read_at": datetime.now(UTC).isoformat()}
    else:
        path = (Path(source.path).expanduser() if source.kind is SourceKind.FILE
                else choose_folder_file(source, started_at))
        frame = read_table(path, "Training data")
        reference = {"kind": "file", "path": str(path), "sha256": file_sha256(path)}
    needed = [*recipe.features, recipe.target]
    if recipe.slice_column:
        needed.append(recipe.slice_column)
    if recipe.split.kind is SplitKind.TIME:
        needed.append(recipe.split.time_column)
    missing = [name for name in dict.fromkeys(needed) if name not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"The training data has no column {', '.join(missing)}. It has "
            f"{', '.join(map(str, frame.columns[:20]))}. Fix the recipe's columns or the data.")
    labelled = frame[frame[recipe.target].notna()]
    if labelled.empty:
        raise InvalidInputError(f"The training data has no row with a value of the target "
                                f"{recipe.target}.")
    if len(labelled) < len(frame):
        print(f"{len(frame) - len(labelled):,} rows without a target value left out", flush=True)
    return labelled.reset_index(drop=True), reference


def _split(recipe: Recipe, frame: Any) -> tuple[Any, Any]:
    import numpy as np
    import pandas as pd

    rule = recipe.split
    if rule.kind is SplitKind.RANDOM:
        order = np.random.default_rng(recipe.seed).permutation(len(frame))
        cut = round(len(frame) * rule.holdout_share)
        train, holdout = frame.iloc[order[cut:]], frame.iloc[order[:cut]]
    elif rule.kind is SplitKind.TIME:
        stamps = pd.to_datetime(frame[rule.time_column], errors="coerce", utc=True)
        if stamps.isna().all():
            raise InvalidInputError(f"{rule.time_column} holds no date or time the split can "
                                    f"cut on.")
        cutoff = pd.Timestamp(rule.cutoff)
        cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff
        train, holdout = frame[stamps < cutoff], frame[stamps >= cutoff]
    else:
        from modelledger.services.data.sources import read_table

        holdout = read_table(Path(rule.holdout_path).expanduser(), "Holdout file")
        missing = [name for name in (*recipe.features, recipe.target)
                   if name not in holdout.columns]
        if missing:
            raise InvalidInputError(f"The holdout file has no column {', '.join(missing)}.")
        train = frame
    if train.empty:
        raise InvalidInputError(f"The split ({rule.describe()}) leaves no training rows.")
    if len(holdout) < MIN_HOLDOUT_ROWS:
        raise InvalidInputError(
            f"The split ({rule.describe()}) leaves {len(holdout)} holdout rows; at least "
            f"{MIN_HOLDOUT_ROWS} are needed to measure the model.")
    if recipe.task is Task.CLASSIFICATION:
        classes = train[recipe.target].unique()
        if len(classes) < 2:
            raise InvalidInputError(
                f"The target {recipe.target} has one class ({classes[0]}) in the training "
                "rows; a classifier needs at least two.")
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _fit(recipe: Recipe, train: Any, code_path: str) -> tuple[Any, float]:
    features = train[list(recipe.features)]
    started = time.perf_counter()
    if recipe.kind is RecipeKind.DECLARATIVE:
        from modelledger.services.training.pipeline import build_pipeline

        estimator = build_pipeline(recipe, train)
        estimator.fit(features, train[recipe.target])
    else:
        train_function = _load_train_function(code_path, recipe.code_filename)
        estimator = train_function(train[[*recipe.features, recipe.target]].copy(),
                                   dict(recipe.parameters))
        if not callable(getattr(estimator, "predict", None)):
            raise InvalidInputError(
                f"train() in {recipe.code_filename} returned {type(estimator).__name__}, which "
                "has no predict(); it must return the fitted estimator.")
    return estimator, time.perf_counter() - started


def _load_train_function(code_path: str, file_name: str) -> Callable[[Any, dict], Any]:
    import importlib.machinery
    import importlib.util

    # The stored file is named by its hash, without ".py": name the loader explicitly.
    loader = importlib.machinery.SourceFileLoader("modelledger_recipe", code_path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    if spec is None:
        raise InvalidInputError(f"{file_name} cannot be loaded as Python code.")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    train_function = getattr(module, "train", None)
    if not callable(train_function):
        raise InvalidInputError(f"{file_name} has no function train(frame, params).")
    return train_function


def _holdout_metrics(recipe: Recipe, scored: tuple[Any, Any], labels: Any) -> dict[str, float]:
    from modelledger.core.performance import classification_metrics, regression_metrics

    predictions, scores = scored
    labels = labels.reset_index(drop=True)
    if recipe.task is Task.CLASSIFICATION:
        result = classification_metrics(labels, predictions, scores,
                                        min_sample=MIN_HOLDOUT_ROWS)
    else:
        result = regression_metrics(labels, predictions, min_sample=MIN_HOLDOUT_ROWS)
    if result.note:
        print(f"holdout metrics: {result.note}", flush=True)
    return {name: round(float(value), 6) for name, value in result.metrics.items()
            if value is not None}


def _predictions(recipe: Recipe, estimator: Any, features: Any) -> tuple[Any, Any]:
    """(predicted labels or values, positive-class probability or None)."""
    import pandas as pd

    predictions = pd.Series(estimator.predict(features))
    scores = None
    if recipe.task is Task.CLASSIFICATION and callable(getattr(estimator, "predict_proba", None)):
        probabilities = estimator.predict_proba(features)
        if probabilities.shape[1] == 2:
            scores = pd.Series(probabilities[:, 1])
    return predictions, scores


def _load_champion(job: TrainingJob) -> Any:
    from modelledger.core.domain import ArtifactFormat
    from modelledger.services.registry.model_files import load_model_file

    return load_model_file(Path(job.champion_path), ArtifactFormat(job.champion_format),
                           trusted=job.champion_trusted)


def _agreement(recipe: Recipe, original: Any, retrained: tuple[Any, Any],
               holdout: Any) -> dict[str, float]:
    """How far the retrained model's holdout answers (``retrained``) are from the recorded
    model's."""
    import numpy as np

    original_predictions, original_scores = _predictions(recipe, original,
                                                         holdout[list(recipe.features)])
    predictions, scores = retrained
    agreement = {"rows": float(len(holdout)),
                 "same_prediction_share": float((original_predictions == predictions).mean())}
    if recipe.task is Task.REGRESSION:
        agreement["max_prediction_difference"] = float(np.max(np.abs(
            original_predictions.to_numpy(dtype=float) - predictions.to_numpy(dtype=float))))
    elif original_scores is not None and scores is not None:
        agreement["max_score_difference"] = float(np.max(np.abs(
            original_scores.to_numpy() - scores.to_numpy())))
    return agreement


def _compare_on_monitor_rows(job: TrainingJob, recipe: Recipe, champion: Any,
                             challenger: Any) -> dict[str, Any]:
    """Champion and challenger on the rows the model's monitor saw in its latest window and
    that have a label by now: recent production data, beside the holdout."""
    from modelledger.core.monitoring import MonitorSpec
    from modelledger.services.data.sources import apply_window, load_current

    spec = MonitorSpec.from_dict(job.monitor_spec)
    if not spec.label:
        raise InvalidInputError("The monitor the recipe evaluates on has no label column; "
                                "choose a monitor whose data gets labels.")
    rows, _ = load_current(spec.source, job.started_at)
    rows, _, _ = apply_window(rows, spec, job.started_at)
    missing = [name for name in (*recipe.features, spec.label) if name not in rows.columns]
    if missing:
        raise InvalidInputError(f"The monitor's data has no column {', '.join(missing)}.")
    labelled = rows[rows[spec.label].notna()].reset_index(drop=True)
    if len(labelled) < MIN_HOLDOUT_ROWS:
        raise InvalidInputError(
            f"The monitor's latest window has {len(labelled)} labelled rows; at least "
            f"{MIN_HOLDOUT_ROWS} are needed to compare the models on them.")
    renamed = labelled.rename(columns={spec.label: recipe.target}) \
        if spec.label != recipe.target else labelled
    scored = _predictions(recipe, challenger, renamed[list(recipe.features)])
    return _compare_with_champion(recipe, champion, scored, renamed, slice_column="")


def _compare_with_champion(recipe: Recipe, champion: Any, challenger: tuple[Any, Any],
                           holdout: Any, slice_column: str) -> dict[str, Any]:
    """Both models on the same rows; ``challenger`` is its (predictions, scores) of them."""
    from modelledger.core.paired_comparison import compare_on_same_rows

    features = holdout[list(recipe.features)]
    try:
        champion_predictions, champion_scores = _predictions(recipe, champion, features)
    except Exception as exc:
        raise InvalidInputError(
            f"The champion cannot score the holdout rows ({type(exc).__name__}: {exc}); it "
            "was trained on other features, so the two cannot be compared on the same rows."
        ) from exc
    challenger_predictions, challenger_scores = challenger
    both_scored = champion_scores is not None and challenger_scores is not None
    if slice_column and slice_column not in holdout.columns:
        raise InvalidInputError(f"The slice column {slice_column} is not in the data.")
    comparison = compare_on_same_rows(
        recipe.task.value, holdout[recipe.target].reset_index(drop=True),
        champion_predictions, challenger_predictions,
        champion_scores=champion_scores if both_scored else None,
        challenger_scores=challenger_scores if both_scored else None,
        slice_by=holdout[slice_column] if slice_column else None, seed=recipe.seed)
    return comparison.to_dict()


def _save(estimator: Any, path: Path) -> None:
    from skops.io import dump

    try:
        dump(estimator, path)
    except Exception as exc:
        raise InvalidInputError(
            f"The fitted model cannot be saved with skops ({type(exc).__name__}: {exc}). "
            "Return a scikit-learn estimator or pipeline from train().") from exc


# -- the worker process -------------------------------------------------------------------------


def _worker_main(job: TrainingJob, messages: Any, memory_limit_mb: int) -> None:
    import resource

    limit = memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    log = os.open(Path(job.output_dir) / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    warnings.simplefilter("default")  # every warning once per place, into the log
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} training started (process {os.getpid()})",
          flush=True)

    def progress(percent: int, text: str) -> None:
        print(f"{datetime.now(UTC):%H:%M:%S} {text}", flush=True)
        messages.put(("progress", percent, text))

    outcome = train_now(job, progress)
    print(f"{datetime.now(UTC):%H:%M:%S} {outcome.status.value}", flush=True)
    messages.put(("outcome", outcome))


# What every training run imports, loaded once into the fork server: a run's process is forked
# from it ready to read data and fit (a spawned one spent about 2 s importing, skops alone 1.2 s).
PRELOADED = ("pandas", "pyarrow.parquet", "sklearn.pipeline", "sklearn.compose",
             "sklearn.linear_model", "sklearn.ensemble", "skops.io",
             "modelledger.services.training.pipeline", "modelledger.core.performance")
_context_lock = threading.Lock()
_context: Any = None


def _worker_context() -> Any:
    """A fork server with the data stack preloaded where the platform has one (a fresh process
    per run all the same, forked from a process that never ran a recipe); spawn elsewhere."""
    global _context
    with _context_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = multiprocessing.get_context("forkserver")
                _context.set_forkserver_preload(list(PRELOADED))
            else:
                _context = multiprocessing.get_context("spawn")
        return _context


def train_in_worker(job: TrainingJob, progress: ProgressCallback, *,
                    cancelled: threading.Event, time_limit_s: float,
                    memory_limit_mb: int) -> TrainingOutcome:
    """Run one job in a fresh process; stops it on cancel, at the time limit, or if it dies.
    The outcome's log is the run's log file, whatever happened."""
    context = _worker_context()
    messages = context.Queue()
    process = context.Process(target=_worker_main, args=(job, messages, memory_limit_mb),
                              name="modelledger-training", daemon=True)
    process.start()
    deadline = time.monotonic() + time_limit_s
    outcome: TrainingOutcome | None = None
    try:
        while outcome is None:
            try:
                message = messages.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None and message[0] == "progress":
                progress(message[1], message[2])
            elif message is not None:
                outcome = message[1]
            elif cancelled.is_set():
                outcome = TrainingOutcome(RunStatus.CANCELLED, "Cancelled.")
            elif time.monotonic() > deadline:
                outcome = TrainingOutcome(
                    RunStatus.FAILED, f"The training took longer than its time limit of "
                                      f"{time_limit_s:g} s and was stopped. Raise the recipe's "
                                      "time limit or train on fewer rows.")
            elif not process.is_alive():
                outcome = TrainingOutcome(
                    RunStatus.FAILED, f"The training process stopped unexpectedly (exit code "
                                      f"{process.exitcode}), e.g. killed, out of memory or a "
                                      "crash in a native library.")
    finally:
        if process.is_alive() and (outcome is None or outcome.status is not RunStatus.SUCCEEDED):
            process.kill()
        process.join(10)
        messages.close()
    log_path = Path(job.output_dir) / LOG_NAME
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    if outcome.status is not RunStatus.SUCCEEDED and outcome.error not in log:
        log += f"{outcome.error}\n"
    return replace(outcome, log=log)
