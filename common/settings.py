"""The one settings loader: a TOML file plus environment variables, validated at start-up.

Every deployable (``iotgw gateway``, ``iotgw cloud``, ``iotgw detect``) loads its typed settings
through :func:`load`, from two sources: the TOML file and environment variables
(:func:`env_values`, read from a mapping handed in; the process environment is read, never
written), validated by pydantic. The environment beats the file; explicit ``overrides``
beat both. Nested keys use ``__`` in variable names: ``<PREFIX><SECTION>__<KEY>``.

A bad configuration raises :class:`ConfigError` whose message is one line in one format::

    FILE: section.key: message            (a bad value in the file, or a default)
    VARIABLE: section.key: message        (a bad value from the environment)
    FILE: cannot read: message            (missing, unreadable or not TOML)

and every command exits with :data:`EXIT_CONFIG` on it.

>>> class Demo(BaseModel):
...     port: int = 8080
>>> load(Demo, None, env_prefix="DEMO_", env={"DEMO_PORT": "9000"}).port
9000
>>> load(Demo, None, env_prefix="DEMO_", env={"DEMO_PORT": "many"})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
common.settings.ConfigError: DEMO_PORT: port: Input should be a valid integer, ...
>>> load(Demo, "/nonexistent/demo.toml", env_prefix="DEMO_", env={})
Traceback (most recent call last):
...
common.settings.ConfigError: /nonexistent/demo.toml: cannot read: no such file
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

__all__ = [
    "EXIT_CONFIG",
    "ConfigError",
    "describe",
    "env_values",
    "load",
    "read_toml",
]

#: Exit status of every command given a bad configuration (the same as a command-line usage
#: error: the invocation is wrong, running it again unchanged will fail again).
EXIT_CONFIG = 2
#: Separates nested keys in variable names: ``<PREFIX><SECTION>__<KEY>``.
NESTED = "__"

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A setting is missing or invalid, or the file cannot be read: one line saying where."""


def read_toml(path: Path | str) -> dict[str, Any]:
    """The tables of a TOML file; :class:`ConfigError` (one line) if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: cannot read: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: cannot read: is a directory") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: cannot read: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: cannot read: not UTF-8 text") from None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds (``Model`` or ``Model | None``), if any."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _structured(annotation: Any) -> bool:
    """Whether a variable for this field holds JSON (a table, list or mapping)."""
    kinds = [annotation, *get_args(annotation)] if get_origin(annotation) in (Union, UnionType) \
        else [annotation]
    return any(_model_in(k) is not None or get_origin(k) in (list, dict, tuple, set)
               or k in (list, dict, tuple, set) for k in kinds)


def _annotation(model: type[BaseModel], path: list[str]) -> Any:
    """The annotation at ``path`` below ``model`` (None past a leaf or an unknown key)."""
    annotation: Any = model
    for key in path:
        sub = _model_in(annotation)
        field = sub.model_fields.get(key) if sub is not None else None
        if field is None:
            return None
        annotation = field.annotation
    return annotation


def env_values(model: type[BaseModel], env_prefix: str,
               env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings ``<env_prefix><KEY>[__<KEY>...]`` variables give ``model``, as nested
    tables (names match whatever their case). A variable for a table or a list holds JSON;
    the rest are strings that validation converts. Variables whose first key is not a
    setting of ``model`` are not ours and are ignored; an unknown key deeper down is kept, so
    validation names it."""
    prefix = env_prefix.lower()
    out: dict[str, Any] = {}
    for name, raw in sorted((os.environ if env is None else env).items()):
        key = name.lower()
        if not key.startswith(prefix) or len(key) == len(prefix):
            continue
        path = key[len(prefix):].split(NESTED)
        if path[0] not in model.model_fields or not all(path):
            continue
        value: Any = raw
        annotation = _annotation(model, path)
        if annotation is not None and _structured(annotation):
            try:
                value = json.loads(raw)
            except ValueError:
                raise ConfigError(f"{name}: {'.'.join(path)}: not valid JSON") from None
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = _merge(node.get(path[-1]), value)
    return out


def _merge(low: Any, high: Any) -> Any:
    """``high`` over ``low``; tables are merged key by key."""
    if isinstance(low, dict) and isinstance(high, dict):
        return {**low, **{k: _merge(low.get(k), v) for k, v in high.items()}}
    return high


def load(model: type[M], path: Path | str | None, *, env_prefix: str,
         env: Mapping[str, str] | None = None, section: str | None = None,
         overrides: Mapping[str, Any] | None = None) -> M:
    """Validated ``model`` from the TOML file ``path``, the environment ``env`` and
    ``overrides`` (highest; then the environment, then the file); raises
    :class:`ConfigError` with one line in the format above.

    With ``section``, ``model`` is one table of the file (``[section]``), still overridden by
    ``<env_prefix><SECTION>__<KEY>`` variables (and ``overrides[section]``), and errors name
    ``section.key``.
    """
    data = read_toml(path) if path is not None else {}
    if section is not None:
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: must be a table [{section}]")
        values = _merge(table, env_values(model, f"{env_prefix}{section}{NESTED}", env))
        values = _merge(values, dict((overrides or {}).get(section) or {}))
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(describe(exc, path, env_prefix, env, (section,))) from None
    values = _merge(_merge(data, env_values(model, env_prefix, env)), dict(overrides or {}))
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(describe(exc, path, env_prefix, env)) from None


def _variable(loc: tuple[Any, ...], env_prefix: str, env: Mapping[str, str] | None) -> str | None:
    """The environment variable that set the value at ``loc`` (or a table above it), if any."""
    names = {key.upper(): key for key in (os.environ if env is None else env)}
    for depth in range(len(loc), 0, -1):
        name = (env_prefix + "__".join(str(p) for p in loc[:depth])).upper()
        if name in names:
            return names[name]
    return None


def describe(exc: ValidationError, path: Path | str | None, env_prefix: str = "",
             env: Mapping[str, str] | None = None, within: tuple[str, ...] = ()) -> str:
    """One line naming where and which key, e.g. ``gateway.toml: mqtt.url: must look like``
    (``within``: the table the validated model is, when it is one)."""
    errors = exc.errors()
    err = errors[0]
    loc = within + tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    variable = _variable(loc, env_prefix, env) if env_prefix and loc else None
    where = f"{variable}: " if variable else (f"{path}: " if path is not None else "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{key}: {msg}{more}"
