"""The one parser of ``--config_overrides`` (``train_mlm.py``, ``finetune_ss.py``, benchmarks).

``"name=value,name=value"``: items are separated by commas outside brackets and quotes, each value
is read as JSON (``5``, ``0.1``, ``true``, ``["bpp:turner2004", "mfe:turner2004"]``, ``"x"``) and
otherwise kept as a plain string, then checked against the configuration class: an
unknown field name, or a value whose type does not fit the field's default (an int is accepted for
a float field), is a ``ValueError`` naming the item.
"""

from __future__ import annotations

import json
from typing import Any

from ..configuration_ssrlm import SSRLMConfig

__all__ = ["parse_config_overrides"]


def parse_config_overrides(text: str | None, config_class: type = SSRLMConfig) -> dict[str, Any]:
    """Parse ``text`` into ``{field: value}`` for ``config_class`` (empty or ``None`` → ``{}``)."""
    reference = config_class()
    overrides: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in _split_items(text or ""))):
        name, separator, raw = item.partition("=")
        name = name.strip()
        if not separator or not name:
            raise ValueError(f"config override {item!r} is not of the form name=value")
        if not hasattr(reference, name):
            raise ValueError(f"config override {item!r}: {config_class.__name__} has no field {name!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip()
        overrides[name] = _fit_type(item, value, getattr(reference, name))
    return overrides


def _fit_type(item: str, value: Any, default: Any) -> Any:
    """``value`` converted to the type of ``default`` where that is lossless; ``ValueError`` otherwise."""
    if default is None or value is None:
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        if isinstance(default, bool) and isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, (int, float)):
        return float(value)
    elif isinstance(default, (list, tuple)) and isinstance(value, list):
        return type(default)(value)
    elif isinstance(value, type(default)):
        return value
    raise ValueError(f"config override {item!r}: expected a value of type {type(default).__name__}")


def _split_items(text: str) -> list[str]:
    """Split at the commas that are outside ``[]`` / ``{}`` and outside double quotes."""
    items, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "[{":
            depth += 1
        elif not quoted and char in "]}":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            items.append(text[start:index])
            start = index + 1
    return items + [text[start:]]
