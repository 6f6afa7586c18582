"""Pure escrow domain: validation rules, the position lifecycle and event-sourced aggregates."""

from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.currencies import ISO_CURRENCIES, parse_currency
from escrowgrid.domain.errors import (
    DomainError,
    FieldError,
    ForbiddenTransition,
    KeyNotFound,
    PolicyViolation,
    TenancyViolation,
    ValidationError,
)
from escrowgrid.domain.institution import ApiKeyRecord, Institution
from escrowgrid.domain.lifecycle import ALLOWED, TransitionPlan, is_terminal, plan_transition
from escrowgrid.domain.metadata import validate_metadata
from escrowgrid.domain.money import AMOUNT_PLACES, MAX_AMOUNT, format_amount, parse_amount
from escrowgrid.domain.policies import (
    PositionPolicy,
    check_position_against_policy,
    parse_position_policy,
    policy_id,
)
from escrowgrid.domain.policy import Policy
from escrowgrid.domain.position import LifecycleEntry, Position
from escrowgrid.domain.templates import TemplateCode, TemplateSpec, validate_template
from escrowgrid.domain.vocabulary import (
    ApiKeyRole,
    PositionState,
    Region,
    Vertical,
    parse_api_key_role,
    parse_position_state,
    parse_region,
    parse_vertical,
)

__all__ = [
    "ALLOWED",
    "AMOUNT_PLACES",
    "ISO_CURRENCIES",
    "MAX_AMOUNT",
    "ApiKeyRecord",
    "ApiKeyRole",
    "Asset",
    "AssetTemplate",
    "DomainError",
    "FieldError",
    "ForbiddenTransition",
    "Institution",
    "KeyNotFound",
    "LifecycleEntry",
    "Policy",
    "PolicyViolation",
    "Position",
    "PositionPolicy",
    "PositionState",
    "Region",
    "TemplateCode",
    "TemplateSpec",
    "TenancyViolation",
    "TransitionPlan",
    "ValidationError",
    "Vertical",
    "check_position_against_policy",
    "format_amount",
    "is_terminal",
    "parse_amount",
    "parse_api_key_role",
    "parse_currency",
    "parse_position_policy",
    "parse_position_state",
    "parse_region",
    "parse_vertical",
    "plan_transition",
    "policy_id",
    "validate_metadata",
    "validate_template",
]
