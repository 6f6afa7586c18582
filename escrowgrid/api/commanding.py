"""Running a command for a request: who, which request, idempotency, read-your-writes."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request, Response
from litestar.exceptions import ValidationException

from escrowgrid.api.answers import answer, replay, stored
from escrowgrid.api.dependencies import actor_of
from escrowgrid.api.idempotency import request_hash
from escrowgrid.api.services import Services
from escrowgrid.application.context import CommandContext, IdempotencyRequest
from escrowgrid.application.handling import Outcome

T = TypeVar("T")
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def context_for(
    request: Request[Any, Any, Any], render: Callable[[Any], Any]
) -> CommandContext:
    """The command context of a request; the command is hashed only when a key is given."""
    state = request.scope.get("state", {})
    client = request.scope.get("client")
    key = request.headers.get("idempotency-key")
    idempotency = None
    if key is not None:
        if not _KEY.match(key):
            raise ValidationException(
                "Validation failed",
                extra=[{"key": "Idempotency-Key", "message": "1-255 printable ASCII characters"}],
            )
        idempotency = IdempotencyRequest(key, await request_hash(request))
    return CommandContext(
        actor=actor_of(request),
        request_id=state.get("request_id"),
        client_addr=client[0] if client else None,
        idempotency=idempotency,
        render=render,
    )


async def run(
    request: Request[Any, Any, Any],
    services: Services,
    command: Callable[[CommandContext], Awaitable[Outcome[T]]],
    view: Callable[[T], Any],
    status: int = 200,
    kept_view: Callable[[T], Any] | None = None,
) -> Response[Any]:
    """Run the command; answer its view once the read models show it (read-your-writes).

    `kept_view` is what an idempotent replay returns, when it must differ (no secrets kept).
    """

    def render(result: Any) -> Any:
        return stored((kept_view or view)(result), status)

    outcome = await command(await context_for(request, render))
    if outcome.replayed is not None:
        return replay(outcome.replayed)
    await services.wait_visible(outcome.position, outcome.topics)
    assert outcome.value is not None
    return answer(view(outcome.value), status)
