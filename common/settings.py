"""The one settings loader: a TOML file plus environment variables, validated at start-up.

Every deployable (``iotgw gateway``, ``iotgw cloud``, ``iotgw detect``) loads its typed settings
through :func:`load`, from two pydantic-settings sources: :class:`TomlFileSource` (the file) and
:class:`MappingEnvSource` (environment variables, read from a mapping handed in; the process
environment is read, never written). The environment beats the file; explicit ``overrides``
beat both. Nested keys use ``__`` in variable names: ``<PREFIX><SECTION>__<KEY>``.

A bad configuration raises :class:`ConfigError` whose message is one line in one format::

    FILE: section.key: message            (a bad value in the file, or a default)
    VARIABLE: section.key: message        (a bad value from the environment)
    FILE: cannot read: message            (missing, unreadable or not TOML)

and every command exits with :data:`EXIT_CONFIG` on it.

>>> from pydantic_settings import BaseSettings
>>> class Demo(BaseSettings):
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

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "EXIT_CONFIG",
    "ConfigError",
    "MappingEnvSource",
    "TomlFileSource",
    "describe",
    "load",
    "read_toml",
]

#: Exit status of every command given a bad configuration (the same as a command-line usage
#: error: the invocation is wrong, running it again unchanged will fail again).
EXIT_CONFIG = 2

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


class TomlFileSource(InitSettingsSource):
    """Settings from a TOML file (or one table of it, ``section``); none when ``path`` is None."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | str | None,
                 section: str | None = None) -> None:
        data = read_toml(path) if path is not None else {}
        if section is not None:
            table = data.get(section, {})
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: {section}: must be a table [{section}]")
            data = {section: table}
        super().__init__(settings_cls, data)


class MappingEnvSource(EnvSettingsSource):
    """Environment variables read from ``env`` (default: the process environment, read only)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str] | None) -> None:
        self._mapping: Mapping[str, str] = os.environ if env is None else env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._mapping)
        return {key.lower(): value for key, value in self._mapping.items()}


def _root(model: type[BaseModel], section: str | None) -> type[BaseSettings]:
    """The BaseSettings class to build: ``model`` itself, or a root holding it as ``section``."""
    if section is None:
        if not issubclass(model, BaseSettings):
            raise TypeError("load() without a section needs a BaseSettings class")
        return model
    fields: Any = {section: (model, Field(default_factory=model))}
    return create_model(f"{model.__name__}Root", __base__=BaseSettings, **fields)


def load(model: type[M], path: Path | str | None, *, env_prefix: str,
         env: Mapping[str, str] | None = None, section: str | None = None,
         overrides: Mapping[str, Any] | None = None) -> M:
    """Validated ``model`` from the TOML file ``path``, the environment ``env`` and
    ``overrides``; raises :class:`ConfigError` with one line in the format above.

    With ``section``, ``model`` is one table of the file (``[section]``), still overridden by
    ``<env_prefix><SECTION>__<KEY>`` variables, and errors name ``section.key``.
    """
    base = _root(model, section)

    class _Loaded(base):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(
            env_prefix=env_prefix, env_nested_delimiter="__", extra="forbid")

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                MappingEnvSource(settings_cls, env),
                TomlFileSource(settings_cls, path, section),
            )

    try:
        loaded = _Loaded(**dict(overrides or {}))
        # A plain instance of ``model`` (not of the throw-away subclass), validated once more.
        root = base.model_validate(loaded.model_dump())
    except ValidationError as exc:
        raise ConfigError(describe(exc, path, env_prefix, env)) from None
    result = getattr(root, section) if section is not None else root
    if not isinstance(result, model):  # pragma: no cover - guarded by the types above
        raise TypeError(f"expected {model.__name__}")
    return result


def _variable(loc: tuple[Any, ...], env_prefix: str, env: Mapping[str, str] | None) -> str | None:
    """The environment variable that set the value at ``loc`` (or a table above it), if any."""
    names = {key.upper(): key for key in (os.environ if env is None else env)}
    for depth in range(len(loc), 0, -1):
        name = (env_prefix + "__".join(str(p) for p in loc[:depth])).upper()
        if name in names:
            return names[name]
    return None


def describe(exc: ValidationError, path: Path | str | None, env_prefix: str = "",
             env: Mapping[str, str] | None = None) -> str:
    """One line naming where and which key, e.g. ``gateway.toml: mqtt.url: must look like``."""
    errors = exc.errors()
    err = errors[0]
    loc = tuple(err["loc"])
    key = ".".join(str(p) for p in loc) or "(root)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    variable = _variable(loc, env_prefix, env) if env_prefix and loc else None
    where = f"{variable}: " if variable else (f"{path}: " if path is not None else "")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}{key}: {msg}{more}"
