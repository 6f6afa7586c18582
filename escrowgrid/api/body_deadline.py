"""A request body must arrive within the read timeout once the app asks for it: a client
trickling its body (slowloris) gets a JSON 408 and the connection closes, instead of holding a
connection and a task for as long as it likes (Granian 2.8 times out request heads only)."""

from __future__ import annotations

import asyncio

import msgspec
from litestar.exceptions import HTTPException

from escrowgrid.api.request_context import ASGIApp, Message, Receive, Scope, Send
from escrowgrid.api.request_limits import refuse

MESSAGE = "Request body not received in time"


class BodyTimeout(HTTPException):
    """Raised by receive() past the deadline; Litestar renders it as the contract's error."""

    status_code = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(detail=MESSAGE, headers={"Connection": "close"}, extra=[_problem(seconds)])


def _problem(seconds: float) -> dict[str, str]:
    return {"key": "body", "message": f"must arrive within {seconds:g} s"}


class BodyDeadlineMiddleware:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds
        problem = _problem(seconds)
        self._refusal = msgspec.json.encode(
            {"error": MESSAGE, "details": [{"field": "body", "message": problem["message"]}]}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        body_done = False
        answered = False

        async def timed_receive() -> Message:
            nonlocal deadline, body_done
            if body_done:  # afterwards only a disconnect can come: no deadline on waiting for it
                return await receive()
            if deadline is None:
                deadline = loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.seconds) from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, tracking_send)
        except BodyTimeout:  # raised outside Litestar (the body limit's drain)
            if answered:
                raise
            await refuse(send, 408, self._refusal)
