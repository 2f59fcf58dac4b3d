"""Marshmallow fields shared by the knowledge schemas, and error flattening.

Every validation error ends up as "file: field.path: message" (see `KnowledgeError`), so the
fields here report errors keyed by the names an informaticist sees in the YAML.
"""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

NAME = validate.Regexp(r"^[a-z0-9][a-z0-9_-]*$", error="Use lower-case letters, digits, - or _.")
TEXT = validate.Length(min=1, error="Must not be empty.")


def enum_field(enum_type: type[enum.Enum], **kwargs: Any) -> fields.Enum:
    return fields.Enum(enum_type, by_value=True, **kwargs)


def source_ids(**kwargs: Any) -> fields.List:
    """Source ids (S1...): checked against the register of manifest.yaml by the loader."""
    return fields.List(fields.String(validate=TEXT), **kwargs)


class Keyed(fields.Field):
    """A mapping of names to values whose errors are keyed by the name itself.

    (`fields.Dict` would add a "value" level to the path.) `require` lists the keys that must
    be present, e.g. every member of an enum.
    """

    def __init__(
        self,
        values: Schema | fields.Field,
        keys: fields.Field | None = None,
        require: Iterable[Any] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.values = values
        self.keys = keys
        self.require = tuple(require)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict:
        if not isinstance(value, Mapping):
            raise ValidationError("Must be a mapping of names to entries.")
        result: dict[Any, Any] = {}
        errors: dict[str, Any] = {}
        for name, item in value.items():
            try:
                key = self.keys.deserialize(name) if self.keys is not None else str(name)
                result[key] = self._value(item)
            except ValidationError as error:
                errors[str(name)] = error.messages
        missing = [_plain(key) for key in self.require if key not in result]
        if missing and not errors:
            raise ValidationError(f"Missing entries for: {', '.join(missing)}.")
        if errors:
            raise ValidationError(errors)
        return result

    def _value(self, item: Any) -> Any:
        if isinstance(self.values, Schema):
            return self.values.load(item)
        return self.values.deserialize(item)


def _plain(key: Any) -> str:
    return str(key.value) if isinstance(key, enum.Enum) else str(key)


class Regex(fields.String):
    """A case-insensitive regular expression, compiled at load time."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> re.Pattern:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            pattern = re.compile(text, re.IGNORECASE)
        except re.error as error:
            raise ValidationError(f"Not a valid regular expression: {error}.") from None
        if pattern.search(""):
            raise ValidationError("Matches every text (it matches the empty string).")
        return pattern


class Template(fields.String):
    """A str.format template that may use only the named fields its reader fills in."""

    def __init__(self, allowed: Iterable[str], **kwargs: Any) -> None:
        super().__init__(validate=TEXT, **kwargs)
        self.allowed = tuple(allowed)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        for name in template_fields(text):
            if name not in self.allowed:
                raise ValidationError(
                    f"Unknown template field {{{name}}}; allowed: "
                    + ", ".join(f"{{{field}}}" for field in self.allowed)
                    + "."
                )
        return text


def template_fields(text: str) -> Iterator[str]:
    """The field names of a template; only plain `{name}` is accepted."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as error:
        raise ValidationError(f"Not a valid template: {error} (write {{{{ for a brace).") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValidationError(f"Template fields must be plain {{name}}, got {{{name}}}.")
        yield name


def flatten(messages: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """Marshmallow's nested error messages as (dotted.path, message) pairs."""
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = prefix if key == "_schema" else (*prefix, str(key))
            yield from flatten(value, path)
    elif isinstance(messages, list | tuple):
        for message in messages:
            yield from flatten(message, prefix)
    else:
        yield ".".join(prefix), str(messages)
