"""Drill 5: slow and abusive clients (idle and trickling connections, oversized headers, floods
past the rate limit) against the real served service, while honest clients work.

Short in CI; longer with ESCROWGRID_DRILL_ABUSE_SECONDS (and ESCROWGRID_DRILL_SEED to replay).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import msgspec
import pytest

from escrowgrid.drill.abuse import AbuseConfig, AbuseFigures, run_abuse
from tests.conftest import ROOT_KEY
from tests.support.cluster import PgCluster, served_database
from tests.support.server import ServerProcess

SECONDS = float(os.environ.get("ESCROWGRID_DRILL_ABUSE_SECONDS", "15"))
SEED = int(os.environ.get("ESCROWGRID_DRILL_SEED", "16"))
READ_TIMEOUT_MS = 2000
# Per key and hour-long window (a minute's epoch-aligned boundary could split a short drill):
# above what an honest client sends (up to ~5 commands/s), well below what the flood sends even
# on a loaded machine (over 20/s). The trickled bodies' key may pass it: a 429 is JSON too.
RATE_LIMIT = int(SECONDS * 8) + 60
# Starved, /health timed out (5 s); served, it answers in milliseconds, up to about a second
# on a loaded 2-core machine that also runs the drill's own clients.
HEALTH_BOUND_MS = 3000
CONFIG = AbuseConfig(seconds=SECONDS, seed=SEED)


@pytest.fixture(scope="module")
def served(cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The service with its rate limit on (the flood must meet it) and a short read timeout."""
    env = {
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_MAX_REQUESTS": str(RATE_LIMIT),
        "RATE_LIMIT_WINDOW_MS": "3600000",
        "REQUEST_READ_TIMEOUT_MS": str(READ_TIMEOUT_MS),
        "LOG_LEVEL": "warning",
    }
    folder = tmp_path_factory.mktemp("abuse")
    with served_database(cluster, folder, ROOT_KEY, env) as (proc, _):
        yield proc


@pytest.fixture(scope="module")
def figures(served: ServerProcess) -> AbuseFigures:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = CONFIG.idle_connections + CONFIG.trickling_heads + CONFIG.trickling_bodies + 512
    if soft < needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    elif soft < needed:
        pytest.skip(f"the drill holds {needed} connections; this process may open {soft} files")
    result = run_abuse(served.url, ROOT_KEY, CONFIG)
    print(msgspec.json.format(msgspec.json.encode(result)).decode())
    return result


def test_health_keeps_answering_within_its_bound(figures: AbuseFigures) -> None:
    assert figures.faults_injected["idle"] == CONFIG.idle_connections, figures
    assert figures.health_probes >= 10, figures
    assert figures.health_failures == 0, figures
    assert figures.health_max_ms < HEALTH_BOUND_MS, figures


def test_honest_clients_keep_being_served_and_lose_nothing(figures: AbuseFigures) -> None:
    assert figures.acknowledged >= 30, figures
    assert (figures.lost, figures.duplicated, figures.honest_unknown) == (0, 0, 0), figures
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
