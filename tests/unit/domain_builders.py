"""Small builders of valid domain objects for the domain unit tests."""

from decimal import Decimal
from uuid import UUID, uuid4

from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.policies import PositionPolicy
from escrowgrid.domain.position import Position

VALID_CONFIGS: dict[str, dict[str, object]] = {
    "CONSTR_ESCROW": {"currency": "USD", "region": "US"},
    "CONSTR_RETAINAGE": {"currency": "USD", "retainagePercentage": 10},
    "TF_INVOICE": {"currency": "USD", "maxTenorDays": 90, "country": "SG"},
    "TF_LC": {"currency": "USD", "issuingBankCountry": "AE", "maxTenorDays": 180},
}

VERTICAL_OF: dict[str, str] = {
    "CONSTR_ESCROW": "CONSTRUCTION",
    "CONSTR_RETAINAGE": "CONSTRUCTION",
    "TF_INVOICE": "TRADE_FINANCE",
    "TF_LC": "TRADE_FINANCE",
}


def make_template(
    institution_id: UUID,
    code: str = "CONSTR_ESCROW",
    config: dict[str, object] | None = None,
) -> AssetTemplate:
    return AssetTemplate.define(
        institution_id,
        code=code,
        name=f"{code} template",
        vertical=VERTICAL_OF[code],
        region="US",
        config=VALID_CONFIGS[code] if config is None else config,
    )


def make_asset(institution_id: UUID, template: AssetTemplate) -> Asset:
    return Asset.register(institution_id, template, "Tower A", {"floor": 3})


def open_position(
    amount: object = "1000",
    currency: object = "USD",
    *,
    template_config: dict[str, object] | None = None,
    policy: PositionPolicy | None = None,
    external_reference: object = None,
) -> Position:
    institution_id = uuid4()
    template = make_template(institution_id, config=template_config)
    asset = make_asset(institution_id, template)
    return Position.open(
        institution_id,
        asset=asset,
        template=template,
        holder_reference="holder-1",
        currency=currency,
        amount=amount,
        external_reference=external_reference,
        policy=policy,
    )


def funded_position(amount: object = "1000") -> Position:
    position = open_position(amount)
    assert position.move("FUNDED")
    return position


def d(text: str) -> Decimal:
    return Decimal(text)
