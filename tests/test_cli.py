"""The command line, run as a user runs it: a real subprocess on a real workspace file."""

import json

import pandas as pd
from sklearn.tree import DecisionTreeClassifier
from skops.io import dump

from tests.conftest import run_cli


def cli(path, *args, user="alice"):
    return run_cli("-w", str(path), "-u", user, *args)


def test_full_lifecycle_through_the_cli(tmp_path):
    path = tmp_path / "team.db"
    assert run_cli("init", str(path)).returncode == 0
    model_file = tmp_path / "tree.skops"
    frame = pd.DataFrame({"x": [0.0, 1, 2, 3], "y": [1.0, 0, 1, 0]})
    dump(DecisionTreeClassifier(max_depth=2).fit(frame, [0, 1, 0, 1]), model_file)
    data = tmp_path / "train.csv"
    frame.to_csv(data, index=False)

    result = cli(path, "model", "register", "churn", "--risk-tier", "high", "--tag", "crm",
                 "--purpose", "retention offers")
    assert result.returncode == 0, result.stderr
    result = cli(path, "version", "add", "churn", str(model_file), "--training-data", str(data),
                 "--metric", "auc=0.81", "--notes", "first")
    assert result.returncode == 0, result.stderr
    assert "DecisionTreeClassifier" in result.stdout and "2 features" in result.stdout
    shown = json.loads(cli(path, "version", "show", "churn", "1").stdout)
    assert shown["parameters"]["max_depth"] == 2 and shown["metrics"] == {"auc": 0.81}
    assert shown["training_data"]["rows"] == 4

    assert cli(path, "stage", "churn", "1", "staging", "--reason", "ok").returncode == 0
    assert cli(path, "promote", "request", "churn", "1", "--reason", "go").returncode == 0
    refused = cli(path, "promote", "approve", "1", "--reason", "self")
    assert refused.returncode == 1 and "cannot also approve" in refused.stderr
    enrolled = cli(path, "user", "enroll", "--display-name", "Bob Okafor", user="bob")
    assert enrolled.returncode == 0 and "user approve bob" in enrolled.stdout, enrolled.stderr
    assert cli(path, "user", "approve", "bob", "--role", "validator").returncode == 0
    approved = cli(path, "promote", "approve", "1", "--reason", "checked",
                   "--conditions", "quarterly backtest", user="bob")
    assert approved.returncode == 0 and "production" in approved.stdout

    listing = cli(path, "model", "list")
    assert "churn" in listing.stdout and "v1" in listing.stdout
    audit = cli(path, "audit", "list", "--model", "churn", "--json")
    actions = [json.loads(line)["action"] for line in audit.stdout.splitlines()]
    assert actions[0] == "stage.promotion" and "model.registered" in actions
    [approval] = [json.loads(line) for line in audit.stdout.splitlines()
                  if json.loads(line)["action"] == "promotion.approved"]
    assert json.loads(approval["after"])["conditions"] == "quarterly backtest"
    verify = cli(path, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout
    assert "Every decision is signed by its author's valid key" in verify.stdout


def test_bad_input_gives_a_message_and_non_zero_exit(tmp_path):
    path = tmp_path / "team.db"
    run_cli("init", str(path), check=True)
    cases = [
        (("model", "show", "nope"), "no model named 'nope'"),
        (("version", "add", "nope"), "no model named"),
        (("promote", "approve", "99", "--reason", "x"), "no promotion request #99"),
        (("version", "add", "x", str(tmp_path / "missing.skops")), "No such file"),
    ]
    cli(path, "model", "register", "x")
    for args, message in cases:
        result = cli(path, *args)
        assert result.returncode != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    missing = run_cli("-w", str(tmp_path / "absent.db"), "model", "list")
    assert missing.returncode != 0 and "modelledger init" in missing.stderr
    usage = run_cli("stage", "x", "1", "production", "--reason", "r")
    assert usage.returncode == 2


def test_postgres_grant_on_a_sqlite_workspace_says_it_is_for_postgresql(tmp_path):
    path = tmp_path / "team.db"
    run_cli("init", str(path), check=True)
    events = cli(path, "audit", "list", "--json").stdout
    for args in (("postgres", "grant"), ("postgres", "grant", "--apply", "--map", "bob=bob")):
        result = cli(path, *args)
        assert result.returncode == 2, result.stderr
        assert "PostgreSQL workspaces only" in result.stderr
        assert "audit verify" in result.stderr and "Traceback" not in result.stderr
    assert cli(path, "audit", "list", "--json").stdout == events


def test_single_user_workspace(tmp_path):
    path = tmp_path / "solo.db"
    assert run_cli("init", str(path), "--single-user").returncode == 0
    assert "off" in cli(path, "settings", "four-eyes", "show").stdout
    events = cli(path, "audit", "list").stdout
    assert "settings.changed" in events


def test_monitor_commands_run_and_report(tmp_path, workspace_path, workspace):
    from tests.services.monitor_data import add_monitor

    add_monitor(workspace, tmp_path)
    result = cli(workspace_path, "monitor", "run", "credit-risk", "drift")
    assert result.returncode == 0, result.stderr
    assert "critical" in result.stdout and "incident #" in result.stdout
    listing = cli(workspace_path, "monitor", "list")
    assert "credit-risk" in listing.stdout and "every hour" in listing.stdout
    assert "critical" in cli(workspace_path, "alert", "list").stdout
    runs = cli(workspace_path, "monitor", "runs", "credit-risk", "drift")
    assert "succeeded" in runs.stdout
    missing = cli(workspace_path, "monitor", "run", "credit-risk", "nope")
    assert missing.returncode == 2 and "no monitor named 'nope'" in missing.stderr


def test_monitor_importance_and_readable_audit_subjects(tmp_path, workspace_path, workspace):
    from tests.services.monitor_data import add_monitor
    from tests.services.monitoring.test_importance import _register_with_model

    _register_with_model(workspace, tmp_path)
    add_monitor(workspace, tmp_path)
    measured = cli(workspace_path, "monitor", "importance", "credit-risk", "drift",
                   "--reason", "after the refit")
    assert measured.returncode == 0, measured.stderr
    lines = measured.stdout.splitlines()
    assert "coefficients" in lines[0] and "credit-risk v1" in lines[0]
    assert lines[2].split()[0] == "income"  # the most important feature first
    assert cli(workspace_path, "monitor", "run", "credit-risk", "drift").returncode == 0
    listing = cli(workspace_path, "audit", "list", "--limit", "200").stdout
    assert "monitor drift of credit-risk" in listing
    assert "Incident #1 · credit-risk / drift:" in listing
    events = [json.loads(line) for line in
              cli(workspace_path, "audit", "list", "--json", "--limit", "200").stdout.splitlines()]
    alert = next(e for e in events if e["entity_type"] == "alert")
    assert alert["about"].startswith(f"Incident #{alert['entity_id']} · ")


def test_incident_commands_handle_an_incident_and_alert_stays_an_alias(tmp_path, workspace_path,
                                                                      workspace):
    from tests.services.monitor_data import add_monitor

    add_monitor(workspace, tmp_path)
    assert cli(workspace_path, "monitor", "run", "credit-risk", "drift").returncode == 0
    incident = next(a for a in workspace.monitoring.list_alerts() if a.cause == "drift")
    number = str(incident.id)
    listing = cli(workspace_path, "incident", "list")
    assert listing.returncode == 0 and "drift" in listing.stdout and number in listing.stdout
    assert number in cli(workspace_path, "alert", "list").stdout  # the older name
    shown = cli(workspace_path, "incident", "show", number)
    assert shown.returncode == 0 and "PSI · income" in shown.stdout and "raised" in shown.stdout
    for args in (("ack", number, "--comment", "looking"), ("assign", number, "alice"),
                 ("comment", number, "income bands changed"),
                 ("snooze", number, "--for", "4h"), ("unsnooze", number),
                 ("mute", number, "--reason", "known launch", "--for", "2d"),
                 ("unmute", number)):
        result = cli(workspace_path, "incident", *args)
        assert result.returncode == 0, (args, result.stderr)
    bad = cli(workspace_path, "incident", "snooze", number, "--for", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    assert "Traceback" not in bad.stderr
    resolve = cli(workspace_path, "monitor", "resolve-after", "credit-risk", "drift", "5",
                  "--reason", "noisy source")
    assert resolve.returncode == 0 and "after 5 healthy runs" in resolve.stdout
    assert workspace.monitoring.list_monitors()[0].resolve_after_runs == 5
    settings = cli(workspace_path, "incident", "settings", "--resolve-after", "2", "--digest",
                   "on", "--reason", "team agreed")
    assert settings.returncode == 0 and "after 2 healthy runs" in settings.stdout
    assert "daily at 07:00 UTC" in settings.stdout
    closed = cli(workspace_path, "incident", "close", number, "--reason", "retrained")
    assert closed.returncode == 0
    kinds = [n.kind for n in workspace.monitoring.alert_details(incident.id)[1]]
    assert kinds[-8:] == ["acknowledged", "assigned", "comment", "snoozed", "unsnoozed",
                          "muted", "unmuted", "closed"]
