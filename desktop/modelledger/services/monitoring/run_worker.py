"""Computing a monitor run in a worker process.

The heavy part of a run (reading millions of rows, scoring, statistics) runs in a separate,
long-lived process so that a crash, a memory spike or a hung reader cannot take the window or
the scheduler down, and so that a run can be cancelled by stopping that process. The worker
never touches the workspace database: it gets a `RunJob` (plain data), sends progress messages
and returns a `RunOutcome`; the instance that claimed the slot stores it in one transaction.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelledger.core.errors import ModelLedgerError
from modelledger.core.monitoring import Evaluation, MonitorSpec, RunStatus

ProgressCallback = Callable[[int, str], None]

# Column names given to the model's own output when the monitor scores the data itself.
SCORED_PREDICTION = "prediction"
SCORED_PROBABILITY = "score"


@dataclass(frozen=True)
class RunJob:
    monitor_id: int
    spec: dict[str, Any]  # MonitorSpec.to_dict()
    profiles: dict[str, Any]
    reference_path: str
    slot: datetime
    baseline: dict[str, float] = field(default_factory=dict)  # the version's recorded metrics
    model_path: str | None = None  # set when the monitor scores the data with the stored model
    model_format: str | None = None
    model_trusted: bool = False
    # Shadow run: a staging challenger scored on the same rows as the champion.
    shadow_path: str | None = None
    shadow_format: str | None = None
    shadow_trusted: bool = False
    shadow_version: int | None = None


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    evaluation: Evaluation | None
    error: str
    log: str
    data_description: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None


def compute_run(job: RunJob, progress: ProgressCallback) -> RunOutcome:
    """Never raises: a known problem or a bug both become a failed outcome with its log."""
    log_lines: list[str] = []
    described = ""

    def note(percent: int, message: str) -> None:
        log_lines.append(f"{datetime.now(UTC):%H:%M:%S} {message}")
        progress(percent, message)

    try:
        import pandas as pd

        from modelledger.core.monitoring import evaluate
        from modelledger.services.data.sources import apply_window, load_current, require_columns

        spec = MonitorSpec.from_dict(job.spec)
        note(5, "Reading the reference data")
        reference = pd.read_parquet(job.reference_path)
        note(15, f"Reading the current data from {spec.source.describe()}")
        current, described = load_current(spec.source, job.slot)
        note(40, f"Read {len(current):,} rows")
        current, window_start, window_end = apply_window(current, spec, job.slot)
        if spec.window_days is not None:
            note(45, f"{len(current):,} rows in the window {window_start:%Y-%m-%d %H:%M} – "
                     f"{window_end:%Y-%m-%d %H:%M}")
        profiles = dict(job.profiles)
        if spec.scored_by_model:
            spec, profiles = _score(job, spec, reference, current, profiles, note)
        else:
            require_columns(current, [spec.prediction], "current data")
        note(60, "Computing drift, quality, performance and KPIs")
        started = time.perf_counter()
        evaluation = evaluate(spec, profiles, reference, current, job.baseline)
        if job.shadow_path is not None:
            evaluation = _with_shadow(job, spec, current, evaluation, note)
        note(95, f"Computed {len(evaluation.metrics)} metrics in "
                 f"{time.perf_counter() - started:.2f} s: {evaluation.health.value}")
        return RunOutcome(RunStatus.SUCCEEDED, evaluation, "", "\n".join(log_lines), described,
                          window_start, window_end)
    except ModelLedgerError as exc:
        log_lines.append(f"failed: {exc}")
        return RunOutcome(RunStatus.FAILED, None, str(exc), "\n".join(log_lines), described)
    except MemoryError:
        message = "The run ran out of memory. Use a shorter window or a smaller data source."
        log_lines.append(message)
        return RunOutcome(RunStatus.FAILED, None, message, "\n".join(log_lines), described)
    except Exception as exc:
        log_lines.append(traceback.format_exc())
        return RunOutcome(
            RunStatus.FAILED, None,
            f"Unexpected error while computing the run: {type(exc).__name__}: {exc}. The full "
            "traceback is in the run's log.", "\n".join(log_lines), described)


def _score(job: RunJob, spec: MonitorSpec, reference, current, profiles, note):
    """Add the model's predictions (and positive-class probability) to both frames."""
    from modelledger.core.domain import ArtifactFormat
    from modelledger.core.drift import profile_column
    from modelledger.services.data.sources import require_columns
    from modelledger.services.registry.model_files import load_model_file

    if job.model_path is None:
        raise ModelLedgerError(
            "The monitor scores the data with the stored model, but the monitored version has "
            "no model file. Give the prediction column instead, or import a version with its "
            "model file.")
    require_columns(current, list(spec.features), "current data")
    note(50, "Scoring the data with the stored model")
    model = load_model_file(Path(job.model_path), ArtifactFormat(job.model_format),
                            trusted=job.model_trusted)
    for frame in (reference, current):
        features = frame[list(spec.features)]
        frame[SCORED_PREDICTION] = model.predict(features) if len(frame) else []
        if spec.task == "classification" and hasattr(model, "predict_proba") and len(frame):
            probabilities = model.predict_proba(features)
            if probabilities.shape[1] == 2:
                frame[SCORED_PROBABILITY] = probabilities[:, 1]
    profiles[SCORED_PREDICTION] = profile_column(
        SCORED_PREDICTION, reference[SCORED_PREDICTION]).to_dict()
    scored = replace(spec, prediction=SCORED_PREDICTION,
                     score=SCORED_PROBABILITY if SCORED_PROBABILITY in current.columns else "")
    return scored, profiles


def compute_importance(model_path: str, model_format: str, trusted: bool, reference: Any,
                       features: tuple[str, ...]):
    """How much the stored model uses each feature, measured on the reference frame (at most a
    bounded sample of it: see core.importance). Raises the known error of a model that cannot
    be loaded."""
    from modelledger.core.domain import ArtifactFormat
    from modelledger.core.importance import measure_importance
    from modelledger.services.registry.model_files import load_model_file

    model = load_model_file(Path(model_path), ArtifactFormat(model_format), trusted=trusted)
    try:
        return measure_importance(model, reference, features)
    except Exception as exc:
        raise ModelLedgerError(
            f"The model could not be asked how much it uses each feature: {type(exc).__name__}: "
            f"{exc}") from exc


def _with_shadow(job: RunJob, spec: MonitorSpec, current, evaluation: Evaluation,
                 note) -> Evaluation:
    """The evaluation plus the shadow challenger's comparison with the champion on these rows,
    as info metrics (charted, never judged). A challenger that cannot score the rows leaves
    the run as it was and says why in the log."""
    import pandas as pd

    from modelledger.core.domain import ArtifactFormat
    from modelledger.core.monitoring import INFO, MetricValue
    from modelledger.core.paired_comparison import shadow_comparison
    from modelledger.services.registry.model_files import load_model_file

    subject = f"v{job.shadow_version}"
    note(96, f"Scoring the rows with the staging challenger {subject} (shadow)")
    try:
        challenger = load_model_file(Path(job.shadow_path), ArtifactFormat(job.shadow_format),
                                     trusted=job.shadow_trusted)
        features = current[list(spec.features)]
        predictions = pd.Series(challenger.predict(features))
        scores = None
        if spec.score and callable(getattr(challenger, "predict_proba", None)):
            probabilities = challenger.predict_proba(features)
            if probabilities.shape[1] == 2:
                scores = pd.Series(probabilities[:, 1])
        labels = current[spec.label] if spec.label and spec.label in current.columns else None
        shadow = shadow_comparison(
            spec.task.value, current[spec.prediction], predictions,
            champion_scores=current[spec.score] if scores is not None else None,
            challenger_scores=scores, labels=labels)
    except Exception as exc:  # the challenger's own problem must not fail the champion's run
        note(97, f"shadow: {subject} could not score these rows: {type(exc).__name__}: {exc}")
        return evaluation
    extra = [MetricValue("shadow.agreement", subject, shadow.agreement, INFO,
                         note=f"share of {shadow.rows:,} rows {subject} answers as the champion")]
    if shadow.score_shift is not None:
        extra.append(MetricValue("shadow.score_shift", subject, shadow.score_shift, INFO,
                                 note="KS distance between the two models' scores"))
    for difference in shadow.differences:
        low, high = difference.improvement_interval
        extra.append(MetricValue(
            f"shadow.{difference.metric}", subject, difference.improvement, INFO,
            note=f"{difference.metric} {difference.champion:.4g} → {difference.challenger:.4g} "
                 f"on {shadow.labelled_rows:,} labelled rows (95%: {low:+.4f} to {high:+.4f})"))
    return replace(evaluation, metrics=(*evaluation.metrics, *extra))


# -- the worker process ---------------------------------------------------------------------------


def _serve(jobs: Any, messages: Any, parent_pid: int) -> None:
    """Worker main loop: one job at a time; exits when the parent process is gone."""
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True,
                     name="parent-watchdog").start()
    while True:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            continue
        if job is None:
            return
        outcome = compute_run(job, lambda percent, text: messages.put(("progress", percent,
                                                                       text)))
        messages.put(("outcome", outcome))


def _exit_with_parent(parent_pid: int) -> None:
    """A killed instance must not leave its worker behind, even one stuck in a read or in
    sending a result that nobody will take: exit at once when the parent is gone."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


class WorkerProcess:
    """One long-lived worker process, started on first use and again after it was stopped."""

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._jobs: Any = None
        self._messages: Any = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._jobs = self._context.Queue()
        self._messages = self._context.Queue()
        self._process = self._context.Process(
            target=_serve, args=(self._jobs, self._messages, os.getpid()),
            name="modelledger-run-worker", daemon=True)
        self._process.start()

    def run(self, job: RunJob, progress: ProgressCallback, *, cancelled: threading.Event,
            timeout_s: float) -> RunOutcome:
        """Run one job; stops the process on cancel, on timeout, or if it dies."""
        with self._lock:
            self._ensure_started()
            self._jobs.put(job)
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    message = self._messages.get(timeout=0.2)
                except queue.Empty:
                    message = None
                if message is not None and message[0] == "progress":
                    progress(message[1], message[2])
                    continue
                if message is not None:
                    return message[1]
                if cancelled.is_set():
                    self.stop()
                    return RunOutcome(RunStatus.CANCELLED, None, "Cancelled.", "cancelled")
                if time.monotonic() > deadline:
                    self.stop()
                    return RunOutcome(
                        RunStatus.FAILED, None,
                        f"The run took longer than its {timeout_s:g} s time limit and was "
                        "stopped. Raise the monitor's time limit or use a smaller window.",
                        "timed out")
                if not self._process.is_alive():
                    code = self._process.exitcode
                    self._process = None
                    return RunOutcome(
                        RunStatus.FAILED, None,
                        f"The worker process stopped unexpectedly (exit code {code}), e.g. out "
                        "of memory or a crash in a native library. The next attempt starts a "
                        "fresh worker.", f"worker exit code {code}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.is_alive():
            process.kill()
            process.join(5)

    def close(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._jobs.put(None)
            self._process.join(2)
        self.stop()
