"""The Asset aggregate: a labelled thing registered under one of its institution's templates."""

from copy import deepcopy
from functools import partial
from typing import Self
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from escrowgrid.domain.aggregate import LedgerAggregate
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.errors import ErrorCollector, TenancyViolation
from escrowgrid.domain.metadata import validate_metadata
from escrowgrid.domain.text import parse_text

MAX_LABEL_LENGTH = 255


class Asset(LedgerAggregate):
    """An asset positions are opened against."""

    class Event(Aggregate.Event):
        """Base class of Asset events."""

    class Registered(Event, Aggregate.Created):
        """The asset was registered."""

        institution_id: UUID
        template_id: UUID
        label: str
        metadata: dict[str, object]

    def __init__(
        self,
        institution_id: UUID,
        template_id: UUID,
        label: str,
        metadata: dict[str, object],
    ) -> None:
        self.institution_id = institution_id
        self.template_id = template_id
        self.label = label
        self.metadata: dict[str, object] = deepcopy(metadata)

    @classmethod
    def register(
        cls,
        institution_id: UUID,
        template: AssetTemplate,
        label: object,
        metadata: object = None,
    ) -> Self:
        """Register an asset with a random id; metadata defaults to {}.

        Raises TenancyViolation when the template belongs to another institution.
        """
        if template.institution_id != institution_id:
            raise TenancyViolation("Asset template belongs to another institution")
        errors = ErrorCollector()
        parsed_label = errors.check(
            partial(parse_text, label, "label", max_length=MAX_LABEL_LENGTH)
        )
        parsed_metadata = errors.check(
            partial(validate_metadata, {} if metadata is None else metadata, "metadata")
        )
        errors.raise_if_any()
        assert parsed_label is not None and parsed_metadata is not None
        return cls._create(
            cls.Registered,
            id=uuid4(),
            institution_id=institution_id,
            template_id=template.id,
            label=parsed_label,
            metadata=parsed_metadata,
        )
