"""Drill 5: slow and abusive clients (idle and trickling connections, oversized headers, floods
past the rate limit) against the real served service, while honest clients work.

Short in CI; longer with ESCROWGRID_DRILL_ABUSE_SECONDS (and ESCROWGRID_DRILL_SEED to replay).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import msgspec
import pytest

from escrowgrid.drill.abuse import (
    HEALTH_BOUND_MS,
    AbuseConfig,
    AbuseFigures,
    raise_file_limit,
    run_abuse,
    service_env,
)
from escrowgrid.drill.checker import Verdict, check
from tests.conftest import ROOT_KEY
from tests.support.cluster import PgCluster, served_database
from tests.support.server import ServerProcess

SECONDS = float(os.environ.get("ESCROWGRID_DRILL_ABUSE_SECONDS", "15"))
SEED = int(os.environ.get("ESCROWGRID_DRILL_SEED", "16"))
CONFIG = AbuseConfig(seconds=SECONDS, seed=SEED)


@pytest.fixture(scope="module")
def served(
    cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """The service with its rate limit on (the flood must meet it) and a short read timeout:
    (the server, its environment)."""
    env = {**service_env(SECONDS), "LOG_LEVEL": "warning"}
    folder = tmp_path_factory.mktemp("abuse")
    with served_database(cluster, folder, ROOT_KEY, env) as (proc, name):
        yield proc, {**os.environ, **proc.env, "DATABASE_URL": cluster.dsn(name)}


@pytest.fixture(scope="module")
def judged(served: tuple[ServerProcess, dict[str, str]]) -> tuple[AbuseFigures, Verdict]:
    """The drill's figures and the core checker's verdict on the honest clients' history."""
    proc, env = served
    reason = raise_file_limit(CONFIG)
    if reason is not None:
        pytest.skip(reason)
    result, history = run_abuse(proc.url, ROOT_KEY, CONFIG)
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    verdict = check(history, env["DATABASE_URL"], env)
    print(verdict)
    return result, verdict


@pytest.fixture(scope="module")
def figures(judged: tuple[AbuseFigures, Verdict]) -> AbuseFigures:
    return judged[0]


def test_health_keeps_answering_within_its_bound(figures: AbuseFigures) -> None:
    assert figures.faults_injected["idle"] == CONFIG.idle_connections, figures
    assert figures.health_probes >= 10, figures
    assert figures.health_failures == 0, figures
    assert figures.health_max_ms < HEALTH_BOUND_MS, figures


def test_honest_clients_keep_being_served_and_lose_nothing(
    judged: tuple[AbuseFigures, Verdict],
) -> None:
    figures, verdict = judged
    assert figures.acknowledged >= 30, figures
    assert verdict.acknowledged == figures.acknowledged, verdict
    # The core checker: each 2xx in the log once, lifecycles allowed, read models = a rebuild.
    assert (verdict.lost, verdict.duplicated, verdict.violations) == (0, 0, []), verdict
    assert figures.honest_unknown == 0, figures
    assert figures.honest_errors == {}, figures
    assert figures.recover_s < 5, figures


def test_every_answer_is_json_and_none_is_a_server_error(figures: AbuseFigures) -> None:
    assert figures.non_json_answers == 0, figures
    assert figures.server_errors == 0, figures
    assert figures.abuse_answers["big_header"] == {"431": figures.faults_injected["big_header"]}


def test_a_flood_past_the_rate_limit_is_refused_with_retry_after(figures: AbuseFigures) -> None:
    assert figures.abuse_answers["flood_key"].get("429", 0) > 0, figures
    assert figures.rate_limited_without_retry_after == 0, figures
    assert set(figures.abuse_answers["flood_unknown_key"]) <= {"401", "429"}, figures


def test_a_trickled_body_is_refused_once_the_read_timeout_passes(figures: AbuseFigures) -> None:
    # Granian 2.8 times out request heads only; without the app's body deadline these
    # connections were held for as long as the client kept dripping.
    answered = figures.abuse_answers.get("trickle_body", {})
    assert answered.get("408", 0) >= CONFIG.trickling_bodies, figures
    assert set(answered) <= {"408", "429"}, figures
