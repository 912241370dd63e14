"""The scoring server as clients use it: a real server in a subprocess, a real HTTP client."""

from __future__ import annotations

import json

import pytest

from modelledger.core.domain import Stage
from tests.services.serving.conftest import MODEL, cancer_frame, start_server, stop_server

pytestmark = pytest.mark.slow


def expected_predictions(workspace, number: int, rows):
    return workspace.registry.load_model(MODEL, number).predict(rows).tolist()


def test_every_payload_format_gives_the_in_process_predictions(serving_workspace, server):
    features, _ = cancer_frame()
    rows = features.iloc[:25]
    expected = expected_predictions(serving_workspace, 1, rows)
    columns = list(rows.columns)
    values = rows.to_numpy().tolist()
    shuffled = columns[::-1]
    payloads = {
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": values}},
        "dataframe_split reordered": {"dataframe_split": {
            "columns": shuffled, "data": rows[shuffled].to_numpy().tolist()}},
        "dataframe_records": {"dataframe_records": rows.to_dict(orient="records")},
        "instances records": {"instances": rows.to_dict(orient="records")},
        "instances rows": {"instances": values},
        "inputs columns": {"inputs": rows.to_dict(orient="list")},
    }
    with server.client() as client:
        for label, payload in payloads.items():
            answer = client.post("/invocations", json=payload)
            assert answer.status_code == 200, (label, answer.text)
            assert answer.json() == {"predictions": expected}, label
            assert answer.headers["X-Model-Version"] == f"{MODEL}/1"
            assert len(answer.headers["X-Request-Id"]) == 32
        csv = client.post("/invocations", content=rows.to_csv(index=False),
                          headers={"Content-Type": "text/csv"})
        assert csv.status_code == 200 and csv.json() == {"predictions": expected}
        for reference, number in ((MODEL, 1), (f"{MODEL}@production", 1), (f"{MODEL}/1", 1),
                                  (f"{MODEL}@staging", 2), (f"{MODEL}/2", 2)):
            answer = client.post(f"/models/{reference}/invocations",
                                 json=payloads["inputs columns"])
            assert answer.status_code == 200, (reference, answer.text)
            assert answer.json()["predictions"] == expected_predictions(
                serving_workspace, number, rows), reference
            assert answer.headers["X-Model-Version"] == f"{MODEL}/{number}"
        given_id = client.post("/invocations", json=payloads["instances rows"],
                               headers={"X-Request-Id": "order-77"})
        assert given_id.headers["X-Request-Id"] == "order-77"
        health = client.get("/health").json()
        assert health["models"][f"{MODEL}@production"]["version"] == 1
        assert health["models"][f"{MODEL}@staging"]["version"] == 2
        assert client.get("/version").json()["modelledger"]


def test_each_bad_input_gets_its_4xx_naming_the_problem(serving_workspace, server):
    features, _ = cancer_frame()
    record = features.iloc[0].to_dict()
    without_radius = {k: v for k, v in record.items() if k != "mean_radius"}
    cases = [
        ("missing column", {"dataframe_records": [without_radius]}, 400, "mean_radius"),
        ("unparseable value", {"dataframe_records": [{**record, "mean_area": "lots"}]}, 400,
         "mean_area"),
        ("wrong type", {"dataframe_records": [{**record, "mean_texture": {"a": 1}}]}, 400,
         "mean_texture"),
        ("two formats", {"inputs": [record], "instances": [record]}, 400, "exactly one"),
        ("no format", {"rows": [record]}, 400, "exactly one"),
        ("short row", {"instances": [list(record.values())[:5]]}, 400, "5 values"),
        ("no rows", {"dataframe_split": {"columns": list(record), "data": []}}, 400, "no rows"),
        ("not a number at all", {"inputs": [[None] * 30]}, 400, "could not score"),
    ]
    with server.client() as client:
        for label, payload, status, words in cases:
            answer = client.post("/invocations", json=payload)
            assert answer.status_code == status, (label, answer.text)
            assert words in answer.json()["message"], (label, answer.json())
            assert answer.headers["X-Request-Id"]
        assert client.post("/invocations", json=cases[1][1]).json()["column"] == "mean_area"
        malformed = client.post("/invocations", content=b'{"inputs": [1, 2',
                                headers={"Content-Type": "application/json"})
        assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["message"]
        a_list = client.post("/invocations", json=[record])
        assert a_list.status_code == 400 and "JSON object" in a_list.json()["message"]
        bad_csv = client.post("/invocations", content=b"mean_radius\n1\n",
                              headers={"Content-Type": "text/csv"})
        assert bad_csv.status_code == 400 and "Missing column" in bad_csv.json()["message"]
        xml = client.post("/invocations", content=b"<rows/>",
                          headers={"Content-Type": "application/xml"})
        assert xml.status_code == 415
        huge = client.post("/invocations", content=b" " * (17 * 1024 * 1024),
                           headers={"Content-Type": "application/json"})
        assert huge.status_code == 413 and "at most" in huge.json()["message"]
        unknown = client.post("/models/nobody/invocations", json={"inputs": [record]})
        assert unknown.status_code == 404 and "nobody" in unknown.json()["message"]
        no_such_version = client.post(f"/models/{MODEL}/9/invocations", json={"inputs": [record]})
        assert no_such_version.status_code == 404 and "no version 9" in \
            no_such_version.json()["message"]
        bad_alias = client.post(f"/models/{MODEL}@canary/invocations", json={"inputs": [record]})
        assert bad_alias.status_code == 404
        assert client.get("/ping").status_code == 200  # still alive and well
    stderr = stop_server(server)
    assert "Traceback" not in stderr


def test_metrics_count_requests_errors_and_latency_per_version(serving_workspace, server):
    features, _ = cancer_frame()
    payload = {"instances": features.iloc[:2].to_numpy().tolist()}
    with server.client() as client:
        for _ in range(3):
            assert client.post("/invocations", json=payload).status_code == 200
        assert client.post("/invocations", json={"instances": [[1]]}).status_code == 400
        text = client.get("/metrics").text
    assert f'modelledger_requests_total{{model="{MODEL}",status="200",version="1"}} 3.0' in text
    assert f'modelledger_request_errors_total{{model="{MODEL}",status="400",version="1"}} 1.0' \
        in text
    assert f'modelledger_request_seconds_count{{model="{MODEL}",version="1"}} 4.0' in text


def test_a_staging_reference_serves_the_newest_staging_version(serving_workspace, workspace_path):
    server = start_server(workspace_path, f"{MODEL}@staging")
    try:
        with server.client() as client:
            answer = client.post("/invocations", json={"inputs": cancer_frame()[0].iloc[:1]
                                                      .to_dict(orient="list")})
        assert answer.headers["X-Model-Version"] == f"{MODEL}/2"
    finally:
        stop_server(server)
    assert serving_workspace.registry.get_version(MODEL, 2).stage is Stage.STAGING
    assert json.loads(answer.text)["predictions"]
