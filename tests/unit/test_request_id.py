"""Request ids: echo a well-formed incoming id, otherwise generate one."""

from __future__ import annotations

import uuid

from escrowgrid.api.request_context import pick_request_id


def test_incoming_request_id_is_echoed() -> None:
    assert pick_request_id([(b"x-request-id", b"abc-123")]) == "abc-123"


def test_correlation_id_is_used_when_no_request_id() -> None:
    assert pick_request_id([(b"x-correlation-id", b"corr.1")]) == "corr.1"


def test_request_id_wins_over_correlation_id() -> None:
    headers = [(b"x-correlation-id", b"corr"), (b"x-request-id", b"req")]
    assert pick_request_id(headers) == "req"


def test_malformed_or_overlong_ids_are_replaced() -> None:
    for bad in (b"", b"a b", b"x" * 129, b"<script>", b"\xff\xfe"):
        generated = pick_request_id([(b"x-request-id", bad)])
        assert uuid.UUID(generated)
