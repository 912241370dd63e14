"""The demo workspace: real scikit-learn models trained on the datasets that ship with it.

Everything goes through the same registry service a user drives, so the demo's audit log is a
genuine chain of genuine actions by four demo users.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelledger.core.domain import RiskTier, Role, Stage
from modelledger.services.demo_monitoring import add_demo_monitors
from modelledger.services.workspace import Workspace

log = logging.getLogger(__name__)

StepCallback = Callable[[str], None]

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
    # An interrupted earlier build may have left its journal files too; a stale -wal beside a
    # new database file would be replayed into it.
    sqlite_companions = [building.with_name(building.name + suffix)
                         for suffix in ("-wal", "-shm", "-journal")]
    for leftover in (building, building_artifacts, *sqlite_companions):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()
    workspace = Workspace.open(building, create=True, user="dave")
    try:
        _populate(workspace, report)
        # The monitors read their data from here, so it is written at its final place.
        add_demo_monitors(workspace, path.with_name(path.stem + "-data"), report)
    finally:
        workspace.close()
    for companion in sqlite_companions:
        if companion.exists():
            log.warning("demo build left %s behind", companion.name)
    building_artifacts.rename(path.with_name(path.name + ".artifacts"))
    building.rename(path)
    report(f"demo workspace written to {path}")
    return path


def _populate(workspace: Workspace, report: StepCallback) -> None:
    admin = workspace.registry
    for name, display_name, role in DEMO_USERS:
        admin.save_user(name, display_name, role, reason="demo team")
    users = {name: workspace.as_user(name).registry for name, _, _ in DEMO_USERS}
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    with tempfile.TemporaryDirectory(prefix="modelledger-demo-") as scratch:
        for spec in DEMO_MODELS:
            report(f"training {spec.name}")
            users[spec.owner].register_model(
                spec.name, owner=spec.owner, description=spec.description, purpose=spec.purpose,
                intended_use=spec.intended_use, risk_tier=spec.risk_tier, tags=spec.tags,
                reason="added to the inventory")
            data = _load_dataset(spec.dataset)
            for number, estimator in enumerate(_candidates(spec), start=1):
                metrics = _fit_and_score(estimator, data, spec.task)
                model_file = Path(scratch) / f"{spec.name}-v{number}.skops"
                _save_skops(estimator, model_file)
                alice.add_version(
                    spec.name, model_file=model_file, training_frame=data["X_train"],
                    metrics=metrics, parent_version=number - 1 if number > 1 else None,
                    notes=f"candidate {number}: {type(_final_step(estimator)).__name__}")
        report("recording reviews and promotions")
        _promote(alice, bob, "breast-cancer-screening", 1, "first validated release")
        _promote(alice, bob, "breast-cancer-screening", 2, "higher recall at equal precision")
        alice.move_to_stage("breast-cancer-screening", 3, Stage.STAGING, "ready for validation")
        alice.request_promotion("breast-cancer-screening", 3,
                                "tuned regularisation; awaiting independent validation")
        _promote(alice, bob, "wine-cultivar", 1, "baseline release")
        _promote(alice, bob, "wine-cultivar", 2, "more trees, better on the 2025 intake")
        carol.rollback("wine-cultivar", 1,
                       "v2 misread two supplier batches in the first week; back to v1 while "
                       "the data team investigates")
        _promote(alice, bob, "diabetes-progression", 1, "approved for capacity planning")
        alice.move_to_stage("diabetes-progression", 2, Stage.STAGING, "gradient boosting candidate")
        request = alice.request_promotion("diabetes-progression", 2,
                                          "lower error on the validation fold")
        bob.reject_promotion(request.id, "gain within noise; residuals not checked by subgroup "
                             "yet")
        _promote(alice, bob, "digits-recognizer", 1, "meets the 95% accuracy target")
        alice.move_to_stage("digits-recognizer", 2, Stage.STAGING, "nearest-neighbour candidate")
        _register_vendor_model(carol, bob)


def _register_vendor_model(carol, bob) -> None:
    carol.register_model(
        "vendor-credit-score", owner="carol",
        description="Credit bureau score bought from a vendor; scored on their side.",
        purpose="Pre-screen small-business credit applications.",
        intended_use="Applications under the automatic-approval limit.",
        risk_tier=RiskTier.CRITICAL, tags=("credit", "vendor"),
        reason="third-party model brought under monitoring")
    carol.add_version(
        "vendor-credit-score", metrics={"gini": 0.61, "ks": 0.44}, framework="vendor (external)",
        parameters={"vendor": "Example Bureau", "score_release": "2026.2"},
        notes="no artifact: the vendor scores applications; we monitor the logged scores")
    carol.move_to_stage("vendor-credit-score", 1, Stage.STAGING,
                        "vendor validation report received")
    request = carol.request_promotion("vendor-credit-score", 1, "vendor release 2026.2")
    bob.approve_promotion(request.id, "vendor report reviewed; conditions: quarterly backtest")


def _promote(developer, validator, name: str, number: int, reason: str) -> None:
    developer.move_to_stage(name, number, Stage.STAGING, "ready for validation")
    request = developer.request_promotion(name, number, reason)
    validator.approve_promotion(request.id, "independent validation passed")


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
