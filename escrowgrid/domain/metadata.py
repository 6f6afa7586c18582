"""Free-form JSON metadata: shape, depth and size limits, copied into plain containers."""

import json
from decimal import Decimal

from escrowgrid.domain.errors import ValidationError
from escrowgrid.domain.text import text_problem

MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 10

# The event store's JSON transcoder decodes any object with exactly these keys as a typed
# value, and the read side's set-based rebuild unwraps its Decimals by plain text replacement,
# which is exact only while no user object holds either key at all.
_TRANSCODER_KEYS = frozenset({"_type_", "_data_"})


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")  # pragma: no cover


def serialized_size(value: object) -> int:
    """Bytes of compact UTF-8 JSON for `value`, with Decimals rendered as strings."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return len(text.encode("utf-8"))


def _copy_json(value: object, path: str, depth: int, field: str) -> object:
    """Deep-copy a JSON-compatible value, raising on the first problem found."""
    if isinstance(value, dict | list) and depth > MAX_METADATA_DEPTH:
        raise ValidationError.single(
            field, f"must be nested at most {MAX_METADATA_DEPTH} levels deep (at {path})"
        )
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        raise ValidationError.single(
            field, f"binary floats are not accepted (at {path}); use decimals or strings"
        )
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError.single(field, f"numbers must be finite (at {path})")
        return value
    if isinstance(value, str):
        problem = text_problem(value)
        if problem is not None:
            raise ValidationError.single(field, f"strings {problem} (at {path})")
        return value
    if isinstance(value, list):
        return [
            _copy_json(item, f"{path}[{index}]", depth + 1, field)
            for index, item in enumerate(value)
        ]
    if isinstance(value, dict):
        return _copy_object(value, path, depth, field)
    raise ValidationError.single(
        field, f"unsupported value of type {type(value).__name__} (at {path})"
    )


def _copy_object(value: dict[object, object], path: str, depth: int, field: str) -> object:
    if not _TRANSCODER_KEYS.isdisjoint(value.keys()):
        raise ValidationError.single(
            field, f'the object keys "_type_" and "_data_" are reserved (at {path})'
        )
    copied: dict[str, object] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise ValidationError.single(field, f"object keys must be strings (at {path})")
        problem = text_problem(key)
        if problem is not None:
            raise ValidationError.single(field, f"object keys {problem} (at {path})")
        copied[key] = _copy_json(item, f"{path}.{key}", depth + 1, field)
    return copied


def validate_metadata(value: object, field: str) -> dict[str, object]:
    """Return a deep copy of a JSON object within 64 KB compact JSON and 10 levels of nesting.

    The top-level object is level 1; every nested object or array adds a level.
    """
    if not isinstance(value, dict):
        raise ValidationError.single(field, "must be a JSON object")
    copied = _copy_json(value, field, 1, field)
    assert isinstance(copied, dict)
    size = serialized_size(copied)
    if size > MAX_METADATA_BYTES:
        raise ValidationError.single(
            field, f"must serialize to at most {MAX_METADATA_BYTES} bytes of JSON (got {size})"
        )
    return copied
