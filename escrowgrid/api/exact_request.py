"""A Request whose JSON keeps every number exact: fractions decode as Decimal, never float."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException
from litestar.types import Empty

_decoder = msgspec.json.Decoder(float_hook=Decimal)


class ExactRequest(Request[Any, Any, Any]):
    """Bodies become Python values with Decimal for every non-integer number."""

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:
                try:
                    self._json = _decoder.decode(await self.body() or b"null")
                except msgspec.DecodeError as exc:
                    raise SerializationException(str(exc)) from exc
                except RecursionError:  # nesting deeper than any legitimate body
                    raise SerializationException("JSON nested too deeply") from None
                self._connection_state.json = self._json
        return self._json
