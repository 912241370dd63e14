"""Batch scoring of files: the same predictions as in-process, bounded chunks, audited, and a
bad input leaves no output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelledger.core.domain import EventFilter
from modelledger.core.errors import InvalidInputError
from modelledger.services.serving.batch import score_file
from tests.conftest import run_cli
from tests.services.serving.conftest import MODEL, cancer_frame


def score(ws, *args, **options):
    return score_file(ws.database, ws.registry, ws.actor, ws.changes, *args, **options)


def input_frame():
    features, _ = cancer_frame()
    frame = features.copy()
    frame.insert(0, "patient", [f"p{index:04d}" for index in range(len(frame))])
    return frame


@pytest.mark.parametrize("suffixes", [(".parquet", ".parquet"), (".csv", ".csv"),
                                      (".csv", ".parquet")])
def test_scores_every_row_in_chunks_as_the_model_does_in_process(serving_workspace, tmp_path,
                                                                 suffixes):
    frame = input_frame()
    source = tmp_path / f"rows{suffixes[0]}"
    if suffixes[0] == ".csv":
        frame.to_csv(source, index=False)
    else:
        frame.to_parquet(source)
    target = tmp_path / f"scored{suffixes[1]}"
    seen = []
    result = score(serving_workspace, MODEL, source, target, key_column="patient",
                   chunk_rows=100, progress=seen.append)
    assert result.rows == len(frame) and seen[-1] == len(frame) and len(seen) >= 2  # in chunks
    scored = pd.read_parquet(target) if suffixes[1] == ".parquet" else pd.read_csv(target)
    model = serving_workspace.registry.load_model(MODEL, 1)
    features = frame.drop(columns="patient")
    assert list(scored.columns) == ["patient", "prediction", "probability_0", "probability_1",
                                    "model_version", "scored_at"]
    assert scored["patient"].tolist() == frame["patient"].tolist()
    assert scored["prediction"].tolist() == model.predict(features).tolist()
    np.testing.assert_allclose(scored["probability_1"], model.predict_proba(features)[:, 1],
                               rtol=1e-12)
    assert set(scored["model_version"]) == {f"{MODEL}/1"}
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".partial")] == []


def test_a_run_is_audited_with_version_fingerprint_output_and_rows(serving_workspace,
                                                                     tmp_path):
    source = tmp_path / "rows.parquet"
    input_frame().to_parquet(source)
    result = score(serving_workspace, f"{MODEL}@staging", source, tmp_path / "out.csv")
    events = serving_workspace.audit.list_events(EventFilter(search=result.input_sha256))
    assert [event.action for event in events] == ["batch.scored"]
    assert events[0].entity_id == f"{MODEL}/2"
    assert '"rows":569' in events[0].after and "out.csv" in events[0].after


def test_a_bad_input_file_is_named_and_leaves_no_output(serving_workspace, tmp_path):
    frame = input_frame()
    missing = tmp_path / "missing.parquet"
    frame.drop(columns="mean_radius").to_parquet(missing)
    text = tmp_path / "text.parquet"
    frame.astype({"mean_area": str}).to_parquet(text)
    unparseable = tmp_path / "late.csv"
    broken = frame.astype({"mean_area": object})
    broken.loc[500, "mean_area"] = "lots"
    broken.to_csv(unparseable, index=False)
    with_nan = tmp_path / "nan.parquet"
    holes = frame.copy()
    holes.loc[300, "mean_area"] = np.nan
    holes.to_parquet(with_nan)
    not_parquet = tmp_path / "fake.parquet"
    not_parquet.write_text("patient,mean_radius\n")
    cases = [(missing, "has no column 'mean_radius'"),
             (text, "'mean_area' of text.parquet holds .*string, but the model needs numbers"),
             (unparseable, "cannot be read"),
             (with_nan, "could not score the input: Input X contains NaN"),
             (not_parquet, "cannot be read as PARQUET"),
             (tmp_path / "absent.csv", "There is no input file")]
    target = tmp_path / "scored.parquet"
    for source, words in cases:
        with pytest.raises(InvalidInputError, match=words):
            score(serving_workspace, MODEL, source, target, chunk_rows=100)
        assert list(tmp_path.glob("*scored*")) == [], source.name
    with pytest.raises(InvalidInputError, match="no key column 'id'"):
        score(serving_workspace, MODEL, missing.with_name("late.csv"), target, key_column="id")
    assert all(event.action != "batch.scored"
               for event in serving_workspace.audit.list_events(limit=1000))


def test_score_from_the_command_line(serving_workspace, workspace_path, tmp_path):
    source = tmp_path / "rows.csv"
    input_frame().to_csv(source, index=False)
    done = run_cli("-w", str(workspace_path), "score", MODEL, "--input", str(source),
                   "--output", str(tmp_path / "out.parquet"), "--key", "patient")
    assert done.returncode == 0, done.stderr
    assert f"Scored 569 rows with {MODEL} v1" in done.stdout
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 569
    bad = run_cli("-w", str(workspace_path), "score", MODEL, "--input", str(source),
                  "--output", str(tmp_path / "out.xlsx"))
    assert bad.returncode == 2 and "must be a .csv or .parquet file" in bad.stderr
