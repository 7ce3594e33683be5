"""A small schema language for JSON metadata: each field's type, range and size, checked before anything uses it.

A schema is a tree of checks built from ``Int``, ``Num``, ``Str``, ``Bool``, ``Nullable``, ``List``, ``Obj`` and
``Either``. ``schema.check(value, "where")`` raises ModelFileError naming the first field that does not fit, as
in ``content.fitted.n_features_in_: expected an integer >= 1, got Infinity``. An ``Obj`` lists the keys it knows;
``extra`` says what other keys may hold (``ANY`` by default, so that a newer writer may add fields), and
extending a schema is adding an entry to its dict. ``ctx`` is passed down unchanged, for checks that need more
than the value (the file's tensor table).
"""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import ModelFileError


def describe(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if len(text) <= 30 else f"a {len(text)}-digit number"
    if isinstance(value, str):
        return repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value)} characters)"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


class Schema:
    """One check of a JSON value; ``what`` says what it expects, for the error message."""

    what = "a JSON value"

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        """Raise ModelFileError naming ``where`` unless ``value`` fits."""

    def fail(self, value: Any, where: str, what: str | None = None) -> None:
        """Raise the error for ``value`` at ``where``."""
        raise ModelFileError(f"{where or 'metadata'}: expected {what or self.what}, got {describe(value)}")


class Anything(Schema):
    """Any JSON value."""


ANY = Anything()


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{lo}, {hi}]"
    return f" >= {lo}" if lo is not None else (f" <= {hi}" if hi is not None else "")


class Int(Schema):
    """An integer (not a boolean) in [min, max]."""

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max
        self.what = "an integer" + _range(min, max)

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or \
                (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            self.fail(value, where)


class Num(Schema):
    """A number (not a boolean) in [min, max]; finite unless ``finite=False``."""

    def __init__(self, min: float | None = None, max: float | None = None, *,
                 finite: bool = True) -> None:
        self.min, self.max, self.finite = min, max, finite
        self.what = ("a finite number" if finite else "a number") + _range(min, max)

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            self.fail(value, where)
        if self.finite and not math.isfinite(value):
            self.fail(value, where)
        if (self.min is not None and not value >= self.min) or (self.max is not None and not value <= self.max):
            self.fail(value, where)


class Str(Schema):
    """A string of at most ``max_len`` characters, one of ``choices`` or matching ``pattern`` when given."""

    def __init__(self, choices: Any = None, *, max_len: int | None = None, pattern: str | None = None) -> None:
        self.choices = None if choices is None else tuple(choices)
        self.max_len = max_len
        self.pattern = None if pattern is None else re.compile(pattern)
        self.what = (f"one of {list(self.choices)}" if self.choices is not None else
                     f"a string matching {pattern}" if pattern else "a string") + \
            (f" of at most {max_len} characters" if max_len else "")

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not isinstance(value, str) or (self.max_len is not None and len(value) > self.max_len) or \
                (self.choices is not None and value not in self.choices) or \
                (self.pattern is not None and not self.pattern.fullmatch(value)):
            self.fail(value, where)


class Bool(Schema):
    """true or false."""

    what = "true or false"

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not isinstance(value, bool):
            self.fail(value, where)


class Nullable(Schema):
    """null, or what ``schema`` accepts."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.what = f"null or {schema.what}"

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if value is not None:
            self.schema.check(value, where, ctx)


class List(Schema):
    """A list of ``min_len`` to ``max_len`` items, each fitting ``item``."""

    def __init__(self, item: Schema = ANY, *, min_len: int = 0, max_len: int | None = None) -> None:
        self.item, self.min_len, self.max_len = item, min_len, max_len
        sizes = f" of {min_len} to {max_len} items" if max_len is not None else \
            (f" of at least {min_len} items" if min_len else "")
        self.what = f"a list{sizes}"

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not isinstance(value, list) or len(value) < self.min_len or \
                (self.max_len is not None and len(value) > self.max_len):
            self.fail(value, where)
        for i, item in enumerate(value):
            self.item.check(item, f"{where}[{i}]", ctx)


class Obj(Schema):
    """An object: ``required`` and ``optional`` keys with their schemas; any other key must fit ``extra``
    (``None``: no other keys allowed); at most ``max_keys`` keys."""

    what = "an object"

    def __init__(self, required: dict[str, Schema] | None = None, optional: dict[str, Schema] | None = None, *,
                 extra: Schema | None = ANY, max_keys: int | None = None) -> None:
        self.required, self.optional = dict(required or {}), dict(optional or {})
        self.extra, self.max_keys = extra, max_keys

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        if not isinstance(value, dict):
            self.fail(value, where)
        if self.max_keys is not None and len(value) > self.max_keys:
            self.fail(value, where, f"an object of at most {self.max_keys} keys")
        missing = [key for key in self.required if key not in value]
        if missing:
            raise ModelFileError(f"{where or 'metadata'}: missing {', '.join(map(repr, missing))}")
        for key, item in value.items():
            schema = self.required.get(key) or self.optional.get(key) or self.extra
            if schema is None:
                raise ModelFileError(f"{where or 'metadata'}: unexpected key {describe(key)}")
            schema.check(item, _join(where, key), ctx)


class Either(Schema):
    """A value that fits one of ``options``."""

    def __init__(self, *options: Schema) -> None:
        self.options = options
        self.what = " or ".join(option.what for option in options)

    def check(self, value: Any, where: str, ctx: Any = None) -> None:
        for option in self.options:
            try:
                option.check(value, where, ctx)
                return
            except ModelFileError:
                continue
        self.fail(value, where)
