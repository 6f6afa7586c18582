"""AssetTemplate definition and Asset registration, including tenancy."""

from uuid import uuid4

import pytest

from escrowgrid.domain.asset import Asset
from escrowgrid.domain.asset_template import AssetTemplate
from escrowgrid.domain.errors import TenancyViolation, ValidationError
from tests.unit.domain_builders import VALID_CONFIGS, make_template


def test_define_template() -> None:
    institution_id = uuid4()
    config = {**VALID_CONFIGS["TF_INVOICE"], "onchain": {"enabled": True, "chainId": 1}}
    template = AssetTemplate.define(
        institution_id,
        code="TF_INVOICE",
        name="Invoices",
        vertical="TRADE_FINANCE",
        region="SG",
        config=config,
    )
    assert template.institution_id == institution_id
    assert (template.code, template.name, template.vertical, template.region) == (
        "TF_INVOICE",
        "Invoices",
        "TRADE_FINANCE",
        "SG",
    )
    assert template.config == config
    assert template.config is not config
    assert template.version == 1
    assert template.created_at == template.updated_at
    assert [type(e).__qualname__ for e in template.collect_events()] == ["AssetTemplate.Defined"]


def test_template_state_does_not_alias_the_event() -> None:
    template = make_template(uuid4())
    (event,) = template.collect_events()
    template.config["currency"] = "EUR"
    assert isinstance(event, AssetTemplate.Defined)
    assert event.config["currency"] == "USD"


def test_invalid_template_is_rejected() -> None:
    with pytest.raises(ValidationError):
        AssetTemplate.define(
            uuid4(), code="TF_LC", name="x", vertical="CONSTRUCTION", region="US", config={}
        )


def test_register_asset() -> None:
    institution_id = uuid4()
    template = make_template(institution_id)
    asset = Asset.register(institution_id, template, "Tower A", {"floor": 3})
    assert asset.institution_id == institution_id
    assert asset.template_id == template.id
    assert asset.label == "Tower A"
    assert asset.metadata == {"floor": 3}
    assert asset.created_at == asset.updated_at


def test_metadata_defaults_to_empty_object() -> None:
    institution_id = uuid4()
    assert Asset.register(institution_id, make_template(institution_id), "A").metadata == {}


def test_template_of_another_institution_is_a_tenancy_violation() -> None:
    template = make_template(uuid4())
    with pytest.raises(TenancyViolation):
        Asset.register(uuid4(), template, "Tower A")


@pytest.mark.parametrize(
    ("label", "metadata", "fields"),
    [
        ("", None, ["label"]),
        ("x" * 256, None, ["label"]),
        (7, None, ["label"]),
        ("ok", [], ["metadata"]),
        ("ok", {"f": 0.5}, ["metadata"]),
        ("", "x", ["label", "metadata"]),
    ],
)
def test_bad_assets(label: object, metadata: object, fields: list[str]) -> None:
    institution_id = uuid4()
    template = make_template(institution_id)
    with pytest.raises(ValidationError) as caught:
        Asset.register(institution_id, template, label, metadata)
    assert [detail.field for detail in caught.value.details] == fields
