import os
import pickle

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skops.io import dump

from modelledger.core.domain import ArtifactFormat, EventFilter
from modelledger.core.errors import (
    ArtifactIntegrityError,
    InvalidModelFileError,
    UntrustedModelError,
)


@pytest.fixture
def fitted():
    frame = pd.DataFrame({"age": [30.0, 40, 50, 60, 35, 45], "debt": [1.0, 0, 3, 2, 0, 1]})
    return make_pipeline(StandardScaler(), LogisticRegression(C=0.7)).fit(frame, [0, 1, 0, 1, 0, 1])


@pytest.fixture
def skops_file(tmp_path, fitted):
    path = tmp_path / "model.skops"
    dump(fitted, path)
    return path


class SideEffect:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_skops_import_stores_by_hash_and_extracts_metadata(workspace, skops_file):
    workspace.registry.register_model("m")
    version = workspace.registry.add_version("m", model_file=skops_file)
    artifact = version.artifact
    assert artifact.format is ArtifactFormat.SKOPS
    stored = workspace.artifacts.root / "sha256" / artifact.sha256[:2] / artifact.sha256[2:]
    assert stored.read_bytes() == skops_file.read_bytes()
    assert workspace.artifacts.root.name == "team.db.artifacts"
    assert version.estimator_class == "sklearn.pipeline.Pipeline"
    assert version.parameters["logisticregression__C"] == 0.7
    assert [c["name"] for c in version.feature_schema] == ["age", "debt"]
    assert version.framework.startswith("scikit-learn ")
    loaded = workspace.registry.load_model("m", 1)
    assert loaded.predict(pd.DataFrame({"age": [33.0], "debt": [1.0]})).shape == (1,)


def test_modified_artifact_is_refused_on_load(workspace, skops_file):
    workspace.registry.register_model("m")
    version = workspace.registry.add_version("m", model_file=skops_file)
    stored = workspace.artifacts.path_for(version.artifact.sha256)
    stored.write_bytes(stored.read_bytes() + b"\x00")
    with pytest.raises(ArtifactIntegrityError, match="modified after it was stored"):
        workspace.registry.load_model("m", 1)
    stored.unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        workspace.registry.load_model("m", 1)


@pytest.mark.parametrize("file_name", ["model.pkl", "model.skops"],
                         ids=["pickle", "pickle-renamed-to-skops"])
def test_malicious_pickle_is_refused_without_running(workspace, tmp_path, file_name):
    marker = tmp_path / "pwned"
    evil = tmp_path / file_name
    evil.write_bytes(pickle.dumps(SideEffect(str(marker))))
    workspace.registry.register_model("m")
    version = workspace.registry.add_version("m", model_file=evil)
    assert version.artifact.format is ArtifactFormat.PICKLE
    assert version.estimator_class == ""  # never opened
    with pytest.raises(UntrustedModelError, match="runs any code"):
        workspace.registry.load_model("m", 1)
    assert not marker.exists()


def test_trusted_pickle_loads_and_trust_is_audited(workspace, tmp_path, fitted):
    path = tmp_path / "model.joblib"
    import joblib

    joblib.dump(fitted, path)
    workspace.registry.register_model("m")
    workspace.registry.add_version("m", model_file=path)
    with pytest.raises(UntrustedModelError):
        workspace.registry.load_model("m", 1)
    workspace.registry.trust_artifact("m", 1, "built by our own training job #42")
    assert workspace.registry.load_model("m", 1).get_params()["logisticregression__C"] == 0.7
    event = workspace.audit.list_events(EventFilter(action_prefix="artifact.trusted"))[0]
    assert event.reason == "built by our own training job #42" and event.actor == "alice"


def test_trust_at_import_reads_parameters(workspace, tmp_path, fitted):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(fitted))
    workspace.registry.register_model("m")
    version = workspace.registry.add_version("m", model_file=path, trust_reason="our pipeline")
    assert version.parameters["logisticregression__C"] == 0.7


def test_skops_file_with_unknown_types_is_refused(workspace, tmp_path):
    path = tmp_path / "custom.skops"
    dump({"payload": SideEffect(str(tmp_path / "x"))}, path)
    workspace.registry.register_model("m")
    with pytest.raises(UntrustedModelError, match="SideEffect"):
        workspace.registry.add_version("m", model_file=path)
    assert workspace.registry.list_versions("m") == []


@pytest.mark.parametrize(("name", "content", "message"), [
    ("model.skops", b"just some text", "its content is not one"),
    ("model.pkl", b"", "empty"),
    ("model.skops", b"PK\x03\x04garbage", "not a skops model"),
])
def test_files_that_are_not_what_they_claim(workspace, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    workspace.registry.register_model("m")
    with pytest.raises(InvalidModelFileError, match=message):
        workspace.registry.add_version("m", model_file=path)
    assert workspace.registry.list_versions("m") == []


def test_model_without_artifact(workspace):
    workspace.registry.register_model("vendor")
    version = workspace.registry.add_version("vendor", metrics={"gini": 0.6},
                                             framework="vendor (external)")
    assert version.artifact is None
    with pytest.raises(Exception, match="scored elsewhere"):
        workspace.registry.load_model("vendor", 1)


def test_training_data_fingerprint(workspace, tmp_path):
    data = tmp_path / "train.csv"
    pd.DataFrame({"age": [1, 2, 3], "city": ["a", "b", "c"]}).to_csv(data, index=False)
    workspace.registry.register_model("m")
    version = workspace.registry.add_version("m", training_data=data)
    assert version.training_data["rows"] == 3 and len(version.training_data["file_sha256"]) == 64
    assert version.feature_schema == [{"name": "age", "dtype": "int64"},
                                      {"name": "city", "dtype": version.feature_schema[1]["dtype"]}]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(Exception, match="Cannot read training data"):
        workspace.registry.add_version("m", training_data=broken)


def test_import_never_leaves_partial_files(workspace, tmp_path, skops_file):
    workspace.registry.register_model("m")
    workspace.registry.add_version("m", model_file=skops_file)
    leftovers = list((workspace.artifacts.root / "tmp").iterdir())
    assert leftovers == []
    assert os.listdir(workspace.artifacts.root / "sha256")
