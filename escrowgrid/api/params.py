"""Request parameters: ids of any shape, times, pages, and the kinds of resource ids name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar.params import Parameter

from escrowgrid.application.errors import NotFound
from escrowgrid.domain.errors import ValidationError

# Ids are opaque to clients: any string may arrive where an id is expected. One that is not a
# UUID names nothing, like an unknown UUID, and gets the same answer. Only values no id could
# be (too long, control characters) are a 400 naming the field.
MAX_ID_LENGTH = 255
# OFFSET n makes PostgreSQL walk n rows: 10^9 is past any real list and far below bigint.
MAX_OFFSET = 10**9
# Log positions are bigint.
MAX_LOG_POSITION = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of resource a client names by id: its read table and how an error calls it."""

    table: str
    what: str

    def not_found(self) -> NotFound:
        return NotFound(f"{self.what} not found")


INSTITUTION = Kind("institutions", "Institution")
ASSET_TEMPLATE = Kind("asset_templates", "Asset template")
ASSET = Kind("assets", "Asset")
POSITION = Kind("positions", "Position")


def path_id(value: str, kind: Kind) -> UUID:
    """An id from the path; one of any shape that cannot exist is simply not found."""
    try:
        return UUID(value)
    except ValueError:
        raise kind.not_found() from None


def named_id(value: str, field: str, kind: Kind) -> UUID:
    """An id from a query or a body: one that names nothing is a 404, one no id could be a 400."""
    if len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise ValidationError.single(field, f"must be at most {MAX_ID_LENGTH} printable characters")
    return path_id(value, kind)


Limit = Annotated[int, Parameter(ge=1, le=1000, query="limit")]
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, query="offset")]
InstitutionId = Annotated[str | None, Parameter(query="institutionId")]


def query_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 time with a zone from the query string; a malformed one is a 400."""
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError.single(field, "must be an ISO 8601 date-time") from None
    if at.tzinfo is None:
        raise ValidationError.single(field, "must carry a time zone (e.g. Z)")
    return at
