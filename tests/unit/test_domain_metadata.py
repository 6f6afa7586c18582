"""Metadata: JSON-object shape, no floats, 64 KB and depth-10 limits, deep copies."""

from decimal import Decimal

import pytest

from escrowgrid.domain.errors import ValidationError
from escrowgrid.domain.metadata import (
    MAX_METADATA_BYTES,
    serialized_size,
    validate_metadata,
)


def nested(depth: int) -> dict[str, object]:
    """An object whose nesting depth (top level = 1) is exactly `depth`."""
    value: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def rejected(value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        validate_metadata(value, "metadata")
    assert [detail.field for detail in caught.value.details] == ["metadata"]
    return caught.value.details[0].message


def test_json_values_are_accepted_and_copied() -> None:
    source: dict[str, object] = {
        "s": "text",
        "i": 3,
        "d": Decimal("1.25"),
        "b": True,
        "n": None,
        "l": [1, "two", {"three": 3}],
        "o": {"k": "v"},
        "unicode": "café ✓",
    }
    copied = validate_metadata(source, "metadata")
    assert copied == source
    inner = source["o"]
    assert isinstance(inner, dict)
    inner["k"] = "changed"
    assert copied["o"] == {"k": "v"}


def test_empty_object_is_fine() -> None:
    assert validate_metadata({}, "metadata") == {}


@pytest.mark.parametrize("value", [[], "text", 1, None, Decimal(1), [{"a": 1}]])
def test_must_be_an_object(value: object) -> None:
    assert "object" in rejected(value)


@pytest.mark.parametrize(
    "value",
    [{"f": 1.5}, {"l": [1, 2.0]}, {"o": {"deep": {"er": 0.1}}}, {"nan": float("nan")}],
)
def test_floats_are_rejected_with_a_clear_message(value: object) -> None:
    assert "float" in rejected(value)


@pytest.mark.parametrize(
    "value",
    [
        {"d": Decimal("NaN")},
        {"d": Decimal("Infinity")},
        {1: "int key"},
        {"t": (1, 2)},
        {"s": {1, 2}},
        {"o": object()},
        {"b": b"bytes"},
        {"nul": "a\x00b"},
        {"a\x00": 1},
        {"lone": "\udc80"},
    ],
)
def test_non_json_values_are_rejected(value: object) -> None:
    rejected(value)


def test_transcoder_keys_are_reserved_in_any_object() -> None:
    assert "reserved" in rejected({"x": {"_type_": "uuid_hex", "_data_": "00"}})
    rejected({"_type_": "decimal_str", "_data_": "1"})
    # With other keys beside them the rebuild's text unwrapping would not be exact.
    assert "reserved" in rejected({"_data_": "1", "_eeee_": "x", "_type_": "decimal_str"})
    assert "reserved" in rejected({"a": [{"_type_": "invoice"}]})
    assert "reserved" in rejected({"_data_": 2})
    assert validate_metadata({"type": "invoice", "data": "_data_"}, "metadata")


def test_depth_ten_is_accepted_and_eleven_rejected() -> None:
    assert validate_metadata(nested(10), "metadata")
    assert "10 levels" in rejected(nested(11))


def test_arrays_count_as_levels() -> None:
    value: object = "leaf"
    for _ in range(9):
        value = [value]
    assert validate_metadata({"a": value}, "metadata")  # 1 object + 9 arrays
    rejected({"a": [value]})


def test_self_reference_is_rejected_not_looped() -> None:
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    rejected(cyclic)


def test_size_exactly_64_kb_is_accepted() -> None:
    # Compact JSON of {"a":"..."} is 8 bytes plus the string.
    value = {"a": "x" * (MAX_METADATA_BYTES - 8)}
    assert serialized_size(value) == 65536
    assert validate_metadata(value, "metadata") == value


def test_one_byte_over_64_kb_is_rejected() -> None:
    value = {"a": "x" * (MAX_METADATA_BYTES - 7)}
    assert serialized_size(value) == 65537
    assert "65536" in rejected(value)


def test_size_counts_utf8_bytes() -> None:
    assert serialized_size({"a": "é"}) == 10
    rejected({"a": "é" * (MAX_METADATA_BYTES // 2)})


def test_decimals_count_as_strings() -> None:
    assert serialized_size({"d": Decimal("1.50")}) == len('{"d":"1.50"}')
