"""The AssetTemplate aggregate: a validated template definition owned by an institution."""

from copy import deepcopy
from typing import Self
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from escrowgrid.domain.aggregate import LedgerAggregate
from escrowgrid.domain.templates import validate_template


class AssetTemplate(LedgerAggregate):
    """A reusable definition (code, vertical, region, config) assets are registered under."""

    class Event(Aggregate.Event):
        """Base class of AssetTemplate events."""

    class Defined(Event, Aggregate.Created):
        """The template was defined."""

        institution_id: UUID
        code: str
        name: str
        vertical: str
        region: str
        config: dict[str, object]

    def __init__(
        self,
        *,
        institution_id: UUID,
        code: str,
        name: str,
        vertical: str,
        region: str,
        config: dict[str, object],
    ) -> None:
        self.institution_id = institution_id
        self.code = code
        self.name = name
        self.vertical = vertical
        self.region = region
        # The event is frozen but its dict is not; keep state independent of it.
        self.config: dict[str, object] = deepcopy(config)

    @classmethod
    def define(
        cls,
        institution_id: UUID,
        *,
        code: object,
        name: object,
        vertical: object,
        region: object,
        config: object = None,
    ) -> Self:
        """Validate with templates.validate_template and define a template with a random id."""
        spec = validate_template(code, name, vertical, region, config)
        return cls._create(
            cls.Defined,
            id=uuid4(),
            institution_id=institution_id,
            code=spec.code.value,
            name=spec.name,
            vertical=spec.vertical.value,
            region=spec.region.value,
            config=spec.config,
        )
