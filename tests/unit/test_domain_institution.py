"""Institution registration and API key issue/revoke."""

import hashlib

import pytest

from escrowgrid.domain.errors import KeyNotFound, ValidationError
from escrowgrid.domain.institution import Institution

HASH = hashlib.sha256(b"token").hexdigest()


def fields_of(error: ValidationError) -> list[str]:
    return [detail.field for detail in error.details]


def test_register() -> None:
    institution = Institution.register("Acme Build", ["US", "EU_UK"], ["CONSTRUCTION"])
    assert institution.name == "Acme Build"
    assert institution.regions == ["US", "EU_UK"]
    assert institution.verticals == ["CONSTRUCTION"]
    assert institution.api_keys == {}
    assert institution.version == 1
    assert institution.created_at == institution.updated_at
    assert institution.created_at.tzinfo is not None
    assert [type(e).__qualname__ for e in institution.collect_events()] == [
        "Institution.Registered"
    ]


def test_ids_are_random() -> None:
    assert Institution.register("A", ["US"]).id != Institution.register("A", ["US"]).id


def test_duplicates_are_dropped_keeping_order() -> None:
    institution = Institution.register(
        "A", ["SG", "US", "SG", "UAE", "US"], ["TRADE_FINANCE", "CONSTRUCTION", "TRADE_FINANCE"]
    )
    assert institution.regions == ["SG", "US", "UAE"]
    assert institution.verticals == ["TRADE_FINANCE", "CONSTRUCTION"]


def test_verticals_omitted_means_both() -> None:
    assert Institution.register("A", ["US"]).verticals == ["CONSTRUCTION", "TRADE_FINANCE"]
    assert Institution.register("A", ["US"], None).verticals == ["CONSTRUCTION", "TRADE_FINANCE"]


def test_an_explicit_empty_list_of_verticals_is_kept() -> None:
    assert Institution.register("A", ["US"], []).verticals == []


def test_ten_regions_are_allowed_eleven_are_not() -> None:
    assert Institution.register("A", ["US"] * 10).regions == ["US"]
    with pytest.raises(ValidationError) as caught:
        Institution.register("A", ["US"] * 11)
    assert fields_of(caught.value) == ["regions"]


@pytest.mark.parametrize(
    ("name", "regions", "verticals", "fields"),
    [
        ("", ["US"], None, ["name"]),
        ("   ", ["US"], None, ["name"]),
        ("x" * 256, ["US"], None, ["name"]),
        (None, ["US"], None, ["name"]),
        ("A", [], None, ["regions"]),
        ("A", "US", None, ["regions"]),
        ("A", None, None, ["regions"]),
        ("A", ["US", "MARS", "us"], None, ["regions[1]", "regions[2]"]),
        ("A", ["US"], ["RETAIL"], ["verticals[0]"]),
        ("A", ["US"], "CONSTRUCTION", ["verticals"]),
        ("", [], ["X"], ["name", "regions", "verticals[0]"]),
    ],
)
def test_bad_registrations(
    name: object, regions: object, verticals: object, fields: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        Institution.register(name, regions, verticals)
    assert fields_of(caught.value) == fields


def test_name_of_255_characters() -> None:
    assert Institution.register("n" * 255, ["US"]).name == "n" * 255


def test_issue_and_revoke_api_key() -> None:
    institution = Institution.register("A", ["US"])
    record = institution.issue_api_key("key-1", "ops", "admin", HASH)
    assert (record.id, record.label, record.role, record.key_hash) == (
        "key-1",
        "ops",
        "admin",
        HASH,
    )
    assert record.revoked_at is None and record.is_active
    assert record.created_at == institution.updated_at
    assert institution.version == 2
    assert institution.active_api_keys() == [record]

    revoked = institution.revoke_api_key("key-1")
    assert revoked.revoked_at is not None and not revoked.is_active
    assert revoked.created_at == record.created_at
    assert institution.api_keys["key-1"] == revoked
    assert institution.active_api_keys() == []
    assert institution.version == 3


def test_revoking_unknown_or_revoked_keys() -> None:
    institution = Institution.register("A", ["US"])
    with pytest.raises(KeyNotFound):
        institution.revoke_api_key("missing")
    institution.issue_api_key("key-1", "ops", "read_only", HASH)
    institution.revoke_api_key("key-1")
    version = institution.version
    with pytest.raises(KeyNotFound) as caught:
        institution.revoke_api_key("key-1")
    assert caught.value.key_id == "key-1"
    assert institution.version == version


@pytest.mark.parametrize(
    ("label", "role", "fields"),
    [
        ("", "admin", ["label"]),
        ("x" * 256, "admin", ["label"]),
        ("ops", "ADMIN", ["role"]),
        ("ops", "owner", ["role"]),
        (None, None, ["label", "role"]),
    ],
)
def test_bad_key_input_is_a_validation_error(
    label: object, role: object, fields: list[str]
) -> None:
    institution = Institution.register("A", ["US"])
    with pytest.raises(ValidationError) as caught:
        institution.issue_api_key("key-1", label, role, HASH)
    assert fields_of(caught.value) == fields
    assert institution.version == 1 and institution.api_keys == {}


@pytest.mark.parametrize(
    ("key_id", "key_hash"),
    [
        ("key-1", HASH.upper()),
        ("key-1", HASH[:-1]),
        ("key-1", "token-in-clear"),
        ("", HASH),
        ("k" * 65, HASH),
    ],
)
def test_bad_server_generated_values_are_programming_errors(key_id: str, key_hash: str) -> None:
    institution = Institution.register("A", ["US"])
    with pytest.raises(ValueError, match="key"):
        institution.issue_api_key(key_id, "ops", "admin", key_hash)
    assert institution.version == 1


def test_key_ids_are_unique() -> None:
    institution = Institution.register("A", ["US"])
    institution.issue_api_key("key-1", "ops", "admin", HASH)
    with pytest.raises(ValueError, match="already"):
        institution.issue_api_key("key-1", "ops", "admin", HASH)
