"""The demo workspace: real scikit-learn models trained on the datasets that ship with it.

Everything goes through the same registry service a user drives, so the demo's audit log is a
genuine chain of genuine actions by four demo users. The actions are laid out as a history on
a simulated clock: the team starts about 100 days before the build, the first releases go out
before monitoring starts, and later versions, reviews and a rollback happen between the
replayed monitoring runs, each at its own moment. The history is played in time order, so the
audit log's sequence and its timestamps agree.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from modelledger.core.domain import RiskTier, Role, Stage
from modelledger.services.demo.monitoring_history import add_demo_monitors, first_monitoring_slot
from modelledger.services.demo.timeline import Timeline
from modelledger.services.demo.training_history import plan_training_history
from modelledger.services.identity import keystore
from modelledger.services.workspace.opening import Workspace

log = logging.getLogger(__name__)

StepCallback = Callable[[str], None]

# The day (counted from the first monitoring day) the team starts: the creation of the workspace
# and everyone's enrolment come first, then the first releases.
TEAM_JOINS_DAY = -12
DEMO_ADMIN = "dave"
DEMO_USERS = (
    ("alice", "Alice Martin", Role.DEVELOPER),
    ("bob", "Bob Okafor", Role.VALIDATOR),
    ("carol", "Carol Nguyen", Role.OWNER),
    ("dave", "Dave Schmidt", Role.ADMIN),
)


@dataclass(frozen=True)
class DemoModel:
    name: str
    dataset: str
    task: str
    owner: str
    risk_tier: RiskTier
    description: str
    purpose: str
    intended_use: str
    tags: tuple[str, ...]


DEMO_MODELS = (
    DemoModel(
        "breast-cancer-screening", "breast_cancer", "classification", "carol", RiskTier.HIGH,
        "Flags fine-needle aspirate samples that need a pathologist's second review.",
        "Prioritise the second-review queue of the pathology lab.",
        "Decision support only; never a diagnosis on its own.",
        ("healthcare", "triage"),
    ),
    DemoModel(
        "wine-cultivar", "wine", "classification", "alice", RiskTier.LOW,
        "Predicts the cultivar of a wine from its chemical analysis.",
        "Check supplier declarations at intake.",
        "Wines from the three known cultivars of the training region.",
        ("quality", "supply-chain"),
    ),
    DemoModel(
        "diabetes-progression", "diabetes", "regression", "carol", RiskTier.MEDIUM,
        "Estimates disease progression one year after baseline.",
        "Plan follow-up capacity of the outpatient clinic.",
        "Population-level planning; not for individual treatment decisions.",
        ("healthcare", "planning"),
    ),
    DemoModel(
        "digits-recognizer", "digits", "classification", "alice", RiskTier.LOW,
        "Reads handwritten digits from 8x8 scanned form fields.",
        "Pre-fill numeric fields of scanned paper forms.",
        "Clean single-digit boxes; a clerk checks low-confidence reads.",
        ("ocr", "back-office"),
    ),
)

# When each model enters the inventory (day, time), its first candidate half an hour later.
# Day 0 is the first day of the monitoring history; the history ends a little before the build.
REGISTERED_ON = {
    "breast-cancer-screening": (-11, "10:00"),
    "wine-cultivar": (-11, "14:00"),
    "diabetes-progression": (-10, "10:00"),
    "digits-recognizer": (-10, "14:00"),
}
# The later candidates, added while the production versions are being monitored.
LATER_VERSIONS_ON = {
    ("wine-cultivar", 2): (18, "11:00"),
    ("breast-cancer-screening", 2): (38, "11:00"),
    ("diabetes-progression", 2): (55, "11:00"),
    ("digits-recognizer", 2): (66, "11:00"),
    ("breast-cancer-screening", 3): (72, "11:00"),
}


def default_demo_path() -> Path:
    from modelledger.paths import data_folder

    return data_folder() / "demo" / "modelledger-demo.db"


def create_demo_workspace(path: Path, progress: StepCallback | None = None) -> Path:
    """Build the demo workspace at ``path`` unless it exists; returns the path.

    It is built under a temporary name and renamed at the end, so an interrupted build never
    leaves a half-made demo behind.
    """
    path = path.expanduser().absolute()
    if path.exists():
        return path
    report = progress or (lambda message: log.info("demo: %s", message))
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(f".building-{path.name}")
    building_artifacts = building.with_name(building.name + ".artifacts")
    # The demo people's keys, unencrypted beside the workspace: the demo's identities are for
    # trying the tool, not secrets (services.workspace.opening.plain_keys_folder).
    building_keys = building.with_name(building.name + ".keys")
    # An interrupted earlier build may have left its journal files too; a stale -wal beside a
    # new database file would be replayed into it.
    sqlite_companions = [building.with_name(building.name + suffix)
                         for suffix in ("-wal", "-shm", "-journal")]
    for leftover in (building, building_artifacts, building_keys, *sqlite_companions):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    timeline = Timeline(first_monitoring_slot(datetime.now(UTC)))
    building_keys.mkdir(mode=0o700)
    for name, _, _ in DEMO_USERS:
        keystore.save_plain_key(building_keys, name)
    # The admin creates the workspace (and so becomes its first admin) just before the team
    # joins, not at the clock's start long before anything happened.
    timeline.clock.advance_to(timeline.moment(TEAM_JOINS_DAY, "08:50"))
    workspace = Workspace.open(building, create=True, user=DEMO_ADMIN, clock=timeline.clock)
    try:
        with tempfile.TemporaryDirectory(prefix="modelledger-demo-") as scratch, \
                ExitStack() as replays:
            _plan_registry_history(workspace, timeline, Path(scratch), report)
            # The monitors read their data from here, so it is written at its final place.
            data_folder = path.with_name(path.stem + "-data")
            add_demo_monitors(workspace, data_folder, report, timeline, replays)
            plan_training_history(workspace, data_folder, timeline)
            timeline.play()
    finally:
        workspace.close()
    for companion in sqlite_companions:
        if companion.exists():
            log.warning("demo build left %s behind", companion.name)
    building_artifacts.rename(path.with_name(path.name + ".artifacts"))
    building_keys.rename(path.with_name(path.name + ".keys"))
    building.rename(path)
    report(f"demo workspace written to {path}")
    return path


def _plan_registry_history(workspace: Workspace, timeline: Timeline, scratch: Path,
                           report: StepCallback) -> None:
    """Train the candidates now; plan the team's registry work on the timeline."""
    on = timeline.on
    on(TEAM_JOINS_DAY, "08:55", partial(report, "recording reviews and promotions"))
    for minute, (name, display_name, role) in enumerate(DEMO_USERS):
        on(TEAM_JOINS_DAY, f"09:{minute:02d}", partial(_enrol, workspace, name, display_name, role))
    users = {name: workspace.as_user(name).registry for name, _, _ in DEMO_USERS}
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    for spec in DEMO_MODELS:
        report(f"training {spec.name}")
        candidates = _train(spec, scratch)
        day, time = REGISTERED_ON[spec.name]
        on(day, time, partial(
            users[spec.owner].register_model, spec.name, owner=spec.owner,
            description=spec.description, purpose=spec.purpose, intended_use=spec.intended_use,
            risk_tier=spec.risk_tier, tags=spec.tags, reason="added to the inventory"))
        for number, candidate in enumerate(candidates, start=1):
            added = (timeline.moment(day, time) + timedelta(minutes=30) if number == 1
                     else timeline.moment(*LATER_VERSIONS_ON[spec.name, number]))
            timeline.at(added, partial(
                alice.add_version, spec.name, parent_version=number - 1 if number > 1 else None,
                **candidate))

    review = _Reviews(timeline)
    # Before monitoring: the first release of each model.
    review.promote(alice, bob, "breast-cancer-screening", 1, "first validated release",
                   staged=(-9, "09:30"), approved=(-7, "11:00"))
    review.promote(alice, bob, "wine-cultivar", 1, "baseline release",
                   staged=(-9, "14:00"), approved=(-8, "10:00"))
    review.promote(alice, bob, "diabetes-progression", 1, "approved for capacity planning",
                   staged=(-8, "14:00"), approved=(-6, "10:00"))
    review.promote(alice, bob, "digits-recognizer", 1, "meets the 95% accuracy target",
                   staged=(-7, "14:00"), approved=(-5, "10:00"))
    _plan_vendor_model(timeline, review, carol, bob)
    # While the monitors run: wine v2 goes out and is rolled back a week later.
    review.promote(alice, bob, "wine-cultivar", 2, "more trees, better on the 2025 intake",
                   staged=(24, "10:00"), approved=(27, "14:00"))
    on(34, "09:30", partial(
        users[DEMO_ADMIN].rollback, "wine-cultivar", 1,
        "v2 misread two supplier batches in the first week; back to v1 while the data team "
        "investigates"))
    # The screening model's v2 replaces v1 between two weekly runs.
    review.promote(alice, bob, "breast-cancer-screening", 2, "higher recall at equal precision",
                   staged=(45, "10:00"), approved=(51, "15:00"))
    review.stage(alice, "diabetes-progression", 2, "gradient boosting candidate", (60, "10:00"))
    review.request(alice, "diabetes-progression", 2, "lower error on the validation fold",
                   (61, "10:00"))
    review.reject(bob, "diabetes-progression", 2,
                  "gain within noise; residuals not checked by subgroup yet", (64, "14:00"))
    review.stage(alice, "digits-recognizer", 2, "nearest-neighbour candidate", (70, "10:00"))
    # Still waiting for its validation when the history ends.
    review.stage(alice, "breast-cancer-screening", 3, "ready for validation", (77, "10:00"))
    review.request(alice, "breast-cancer-screening", 3,
                   "tuned regularisation; awaiting independent validation", (78, "10:15"))


def _enrol(admin: Workspace, name: str, display_name: str, role: Role) -> None:
    """A demo person joins: their key's enrolment, then the admin's approval with their role."""
    if name == admin.actor.user:
        admin.registry.save_user(name, display_name, role, reason="demo team")
        return
    joining = admin.as_user(name)
    joining.identity.request_enrolment(joining.signer.key(), display_name=display_name,
                                       reason="demo team")
    admin.identity.approve(name, role=role, reason="demo team")


def _plan_vendor_model(timeline: Timeline, review: _Reviews, carol, bob) -> None:
    """Brought under monitoring as a condition of its approval, which comes first."""
    timeline.on(-6, "13:00", partial(
        carol.register_model, "vendor-credit-score", owner="carol",
        description="Credit bureau score bought from a vendor; scored on their side.",
        purpose="Pre-screen small-business credit applications.",
        intended_use="Applications under the automatic-approval limit.",
        risk_tier=RiskTier.CRITICAL, tags=("credit", "vendor"),
        reason="third-party model brought under monitoring"))
    timeline.on(-6, "13:30", partial(
        carol.add_version, "vendor-credit-score", metrics={"gini": 0.61, "ks": 0.44},
        framework="vendor (external)",
        parameters={"vendor": "Example Bureau", "score_release": "2026.2"},
        notes="no artifact: the vendor scores applications; we monitor the logged scores"))
    review.stage(carol, "vendor-credit-score", 1, "vendor validation report received",
                 (-5, "15:00"))
    review.request(carol, "vendor-credit-score", 1, "vendor release 2026.2", (-5, "15:10"))
    review.approve(bob, "vendor-credit-score", 1,
                   "vendor report reviewed; conditions: quarterly backtest", (-3, "11:00"))


class _Reviews:
    """Stage moves and promotion requests planned on the timeline; a decision finds the
    request made earlier in the history."""

    def __init__(self, timeline: Timeline) -> None:
        self._timeline = timeline
        self._requests: dict[tuple[str, int], int] = {}

    def promote(self, developer, validator, name: str, number: int, reason: str, *,
                staged: tuple[int, str], approved: tuple[int, str]) -> None:
        self.stage(developer, name, number, "ready for validation", staged)
        requested = self._timeline.moment(*staged) + timedelta(minutes=15)
        self._timeline.at(requested, partial(self._request, developer, name, number, reason))
        self.approve(validator, name, number, "independent validation passed", approved)

    def stage(self, developer, name: str, number: int, reason: str,
              when: tuple[int, str]) -> None:
        self._timeline.on(*when, partial(developer.move_to_stage, name, number, Stage.STAGING,
                                         reason))

    def request(self, developer, name: str, number: int, reason: str,
                when: tuple[int, str]) -> None:
        self._timeline.on(*when, partial(self._request, developer, name, number, reason))

    def approve(self, validator, name: str, number: int, reason: str,
                when: tuple[int, str]) -> None:
        self._timeline.on(*when, lambda: validator.approve_promotion(
            self._requests[name, number], reason))

    def reject(self, validator, name: str, number: int, reason: str,
               when: tuple[int, str]) -> None:
        self._timeline.on(*when, lambda: validator.reject_promotion(
            self._requests[name, number], reason))

    def _request(self, developer, name: str, number: int, reason: str) -> None:
        self._requests[name, number] = developer.request_promotion(name, number, reason).id


def _train(spec: DemoModel, scratch: Path) -> list[dict[str, Any]]:
    """Each candidate fitted, scored and saved: the arguments of its ``add_version``."""
    data = _load_dataset(spec.dataset)
    candidates = []
    for number, estimator in enumerate(_candidates(spec), start=1):
        metrics = _fit_and_score(estimator, data, spec.task)
        model_file = scratch / f"{spec.name}-v{number}.skops"
        _save_skops(estimator, model_file)
        candidates.append({
            "model_file": model_file, "training_frame": data["X_train"], "metrics": metrics,
            "notes": f"candidate {number}: {type(_final_step(estimator)).__name__}"})
    return candidates


def _load_dataset(name: str) -> dict[str, Any]:
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.25, random_state=7)
    return {"X_train": X_train, "X_test": X_test, "y_train": y_train, "y_test": y_test}


def _candidates(spec: DemoModel) -> list[Any]:
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if spec.dataset == "breast_cancer":
        return [make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
                for c in (0.05, 0.5, 5.0)]
    if spec.dataset == "wine":
        return [RandomForestClassifier(n_estimators=n, max_depth=d, random_state=1)
                for n, d in ((50, 4), (200, None))]
    if spec.dataset == "diabetes":
        return [make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
                GradientBoostingRegressor(n_estimators=150, max_depth=2, random_state=1)]
    return [make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
            make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=5))]


def _final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def _fit_and_score(estimator: Any, data: dict[str, Any], task: str) -> dict[str, float]:
    from sklearn import metrics

    estimator.fit(data["X_train"], data["y_train"])
    predicted = estimator.predict(data["X_test"])
    truth = data["y_test"]
    if task == "regression":
        return {
            "r2": metrics.r2_score(truth, predicted),
            "mae": metrics.mean_absolute_error(truth, predicted),
            "rmse": metrics.root_mean_squared_error(truth, predicted),
        }
    scores = {
        "accuracy": metrics.accuracy_score(truth, predicted),
        "f1_macro": metrics.f1_score(truth, predicted, average="macro"),
    }
    probabilities = estimator.predict_proba(data["X_test"])
    if probabilities.shape[1] == 2:
        scores["roc_auc"] = metrics.roc_auc_score(truth, probabilities[:, 1])
    else:
        scores["roc_auc"] = metrics.roc_auc_score(truth, probabilities, multi_class="ovr")
    return {key: round(float(value), 6) for key, value in scores.items()}


def _save_skops(estimator: Any, path: Path) -> None:
    from skops.io import dump

    dump(estimator, path)
