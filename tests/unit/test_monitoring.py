"""deploy/prometheus and deploy/grafana checked by promtool: config, rules, rule unit tests, and
the dashboard's PromQL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import compose_defaults
from tests.support.server import REPO

PROM = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "escrowgrid-dashboard.json"


def promtool(*args: str | Path, cwd: Path = PROM) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: tests/run.sh installs Debian's prometheus package"
    return subprocess.run(
        [tool, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_alert_rules_are_valid() -> None:
    done = promtool("check", "rules", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    names = {r["alert"] for g in yaml.safe_load((PROM / "alerts.yml").read_text())["groups"]
             for r in g["rules"]}  # fmt: skip
    assert names == {
        "EscrowgridApiDown",
        "EscrowgridHigh5xxRate",
        "EscrowgridProjectionLag",
        "EscrowgridDatabaseNotReady",
        "EscrowgridPublisherFailures",
    }


def test_alert_rules_pass_their_unit_tests() -> None:
    done = promtool("test", "rules", "alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    shutil.copy(PROM / "alerts.yml", tmp_path)
    text = (PROM / "alerts.test.yml").read_text()
    (tmp_path / "t.yml").write_text(text.replace("is 2m 0s behind", "is 1m behind"))
    assert promtool("test", "rules", "t.yml", cwd=tmp_path).returncode != 0


def test_scrape_config_is_valid_and_sends_the_root_key(tmp_path: Path) -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"escrowgrid-api", "escrowgrid-publisher"}
    assert jobs["escrowgrid-api"]["metrics_path"] == "/metrics/prometheus"
    assert jobs["escrowgrid-api"]["static_configs"][0]["targets"] == ["taas-api:4000"]
    # the compose `publisher` service (`escrowgrid onchain run`) on its ONCHAIN_METRICS_PORT
    assert jobs["escrowgrid-publisher"]["metrics_path"] == "/metrics"
    port = compose_defaults()["ONCHAIN_METRICS_PORT"]
    assert jobs["escrowgrid-publisher"]["static_configs"][0]["targets"] == [f"publisher:{port}"]
    key = tmp_path / "root-api-key"
    key.write_text("replace-me-root-key\n")
    for job in jobs.values():
        assert job["authorization"]["type"] == "Bearer"
        job["authorization"]["credentials_file"] = str(key)  # the secret mounted in production
    shutil.copy(PROM / "alerts.yml", tmp_path)
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = promtool("check", "config", tmp_path / "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 8
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:q{i}", "expr": expr} for i, expr in enumerate(queries)
    ]}]}  # fmt: skip
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(rules))
    done = promtool("check", "rules", "dashboard-rules.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", [DASHBOARD], ids=["grafana"])
def test_dashboard_is_importable_json(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"] == "escrowgrid"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
