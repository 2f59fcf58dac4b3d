"""The shape of parsed JSON, looked at level by level without recursion.

Later stages recurse through what they read (FHIR model building takes about six stack
frames per level: deep `extension` chains overflowed the stack), so what they read is
measured first, cheaply and without recursing itself.
"""

from __future__ import annotations

from typing import Any

# Real requests nest about 13 levels (a Synthea Bundle in prefetch); 64 leaves room to spare.
MAX_JSON_DEPTH = 64


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` holds objects or arrays more than `limit` levels deep."""
    level = _containers([value])
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = _containers(item for container in level for item in _items(container))
    return False


def values_of_type(value: Any, kind: type, with_keys: bool = False) -> list[Any]:
    """Every value of exactly type `kind` anywhere in `value` (object keys too, if asked)."""
    found: list[Any] = []
    level = [value]
    while level:
        deeper: list[Any] = []
        for item in level:
            # json and orjson make exact dicts and lists: `type() is` beats isinstance here.
            if type(item) is dict:
                if with_keys:
                    found.extend(item)
                deeper.extend(item.values())
            elif type(item) is list:
                deeper.extend(item)
            elif type(item) is kind:
                found.append(item)
        level = deeper
    return found


def _items(container: dict | list) -> Any:
    return container.values() if type(container) is dict else container


def _containers(items: Any) -> list[Any]:
    return [item for item in items if type(item) is dict or type(item) is list]
