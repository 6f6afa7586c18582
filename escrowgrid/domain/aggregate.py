"""The base of escrowgrid's aggregates: the library's Aggregate with the contract's timestamps."""

from datetime import datetime

from eventsourcing.domain import Aggregate


class LedgerAggregate(Aggregate):
    """An aggregate whose answers carry `createdAt` and `updatedAt`: its first and latest event."""

    @property
    def created_at(self) -> datetime:
        """When the aggregate was registered, defined, opened or first set."""
        return self.created_on

    @property
    def updated_at(self) -> datetime:
        """When its latest event happened (an institution's key events included)."""
        return self.modified_on
