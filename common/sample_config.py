"""Configuration that explains itself: a commented TOML file and a reference table, generated
from the typed settings models (every key, its default, unit, allowed values and meaning).

``iotgw gateway config`` / ``iotgw cloud config`` print :func:`render_toml` of the defaults;
``check-config`` prints it for the effective settings (secrets masked); the reference tables in
docs/gateway.md and docs/cloud.md are :func:`reference_table` (``scripts/generate_config_docs.py``
writes them, a test checks they match). The meaning of a key is its ``Field(description=...)``.

>>> from pydantic import BaseModel, Field
>>> class Server(BaseModel):
...     port: int = Field(default=8080, ge=0, le=65535, description="Listen port.")
...     timeout_s: float = Field(default=5.0, description="Per-request deadline.")
>>> class Root(BaseModel):
...     server: Server = Server()
>>> print(render_toml(Root))
[server]
# Listen port. (0 to 65535)
port = 8080
# Per-request deadline. Unit: seconds.
timeout_s = 5.0
<BLANKLINE>
"""

# No ``from __future__ import annotations``: the doctest defines models and their annotations
# must be real classes.

import json
import re
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Literal

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

__all__ = [
    "FieldDoc", "fields_of", "masked", "reference_table", "render_toml", "toml_value"]

#: Field-name suffixes that name a unit.
UNITS = (("_ms", "milliseconds"), ("_s", "seconds"), ("_bytes", "bytes"))

#: Width of the comment lines.
WIDTH = 96

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class FieldDoc:
    """One leaf setting: its dotted key, the value shown and what it means."""

    key: str
    value: Any
    description: str
    unit: str
    choices: tuple[Any, ...]
    bounds: str
    commented: bool  # no value to write (None, or computed at start-up)

    def meaning(self) -> str:
        text = self.description
        if self.choices:
            text += " One of: " + ", ".join(toml_value(c) for c in self.choices) + "."
        if self.bounds:
            text += f" ({self.bounds})"
        if self.unit:
            text += f" Unit: {self.unit}."
        if self.commented and self.value is None:
            text += " Unset by default."
        return text.strip()


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal (strings, numbers, booleans, paths, lists, inline tables)."""
    if isinstance(value, SecretStr):
        return '"***"' if value.get_secret_value() else '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, BaseModel):
        return toml_value(value.model_dump(mode="python"))
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _key(name: str) -> str:
    return name if _BARE_KEY.match(name) else json.dumps(name)


def _unwrap(annotation: Any) -> Any:
    """The annotation without ``None`` in a union."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _model_class(annotation: Any) -> type[BaseModel] | None:
    ann = _unwrap(annotation)
    return ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _list_of_models(annotation: Any) -> type[BaseModel] | None:
    ann = _unwrap(annotation)
    if typing.get_origin(ann) is list:
        return _model_class(typing.get_args(ann)[0])
    return None


def _bounds(info: FieldInfo) -> str:
    low = high = ""
    for m in info.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">")):
            if getattr(m, attr, None) is not None:
                low = f"{sign} {getattr(m, attr)}"
        for attr, sign in (("le", "<="), ("lt", "<")):
            if getattr(m, attr, None) is not None:
                high = f"{sign} {getattr(m, attr)}"
    if low.startswith(">=") and high.startswith("<="):
        return f"{low[3:]} to {high[3:]}"
    return ", ".join(p for p in (low, high) if p)


def _unit(name: str) -> str:
    for suffix, unit in UNITS:
        if name.endswith(suffix):
            return unit
    return ""


class _Required:
    """The "default" of a key that has none: the file must give it."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def _default(info: FieldInfo) -> tuple[Any, bool]:
    """The default value and whether it is computed at start-up (so not written out);
    :data:`REQUIRED` (commented out) for a key without a default."""
    if info.is_required():
        return REQUIRED, True
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        return value, not isinstance(value, BaseModel | list | dict)
    return info.default, False


def _leaf(key: str, name: str, info: FieldInfo, value: Any, computed: bool) -> FieldDoc:
    ann = _unwrap(info.annotation)
    choices = typing.get_args(ann) if typing.get_origin(ann) is Literal else ()
    return FieldDoc(key, value, info.description or "", _unit(name), choices, _bounds(info),
                    commented=value is None or computed)


def fields_of(model: type[BaseModel], values: BaseModel | None = None,
              prefix: str = "") -> Iterator[FieldDoc | tuple[str, type[BaseModel], list[Any]]]:
    """Leaves of ``model`` in order; a nested table or array of tables comes out as
    ``(key, model class, [instances or None])`` for the caller to descend into."""
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        if values is not None:
            value, computed = getattr(values, name), False
        else:
            value, computed = _default(info)
        sub = _model_class(info.annotation)
        many = _list_of_models(info.annotation)
        if sub is not None and (value is not None or values is None):
            yield key, sub, [value if values is not None else None]
        elif many is not None:
            yield key, many, [] if value is REQUIRED else list(value or [])
        else:
            yield _leaf(key, name, info, value, computed)


def _doc_lines(model: type[BaseModel]) -> list[str]:
    doc = (model.__doc__ or "").strip()
    if not doc or doc.startswith(("Usage docs", "A base class")):
        return []
    first = doc.split("\n\n", 1)[0]
    return ["# " + line.strip() for line in first.splitlines()]


def _render_table(model: type[BaseModel], values: BaseModel | None, key: str,
                  header: str) -> list[str]:
    lines = [header] if header else []
    if header:
        lines[:0] = _doc_lines(model)
    nested: list[tuple[str, type[BaseModel], list[Any], bool]] = []
    for item in fields_of(model, values, f"{key}." if key else ""):
        if isinstance(item, FieldDoc):
            lines.extend(textwrap.wrap(item.meaning(), WIDTH, initial_indent="# ",
                                       subsequent_indent="# ", break_on_hyphens=False))
            name = item.key.rsplit(".", 1)[-1]
            shown = "" if item.value is None or item.value is REQUIRED \
                else toml_value(item.value)
            lines.append(f"# {name} = {shown}".rstrip() if item.commented else f"{name} = {shown}")
        else:
            sub_key, sub_model, instances = item
            field = model.model_fields[sub_key.rsplit(".", 1)[-1]]
            is_array = _list_of_models(field.annotation) is not None
            nested.append((sub_key, sub_model, instances, is_array))
    for sub_key, sub_model, instances, is_array in nested:
        for inst in instances:
            lines.append("")
            head = f"[[{sub_key}]]" if is_array else f"[{sub_key}]"
            lines.extend(_render_table(sub_model, inst, sub_key, head))
    return lines


def render_toml(model: type[BaseModel], values: BaseModel | None = None,
                title: str = "") -> str:
    """A commented TOML file of ``model``: its defaults, or the settings in ``values``
    (secrets shown as ``"***"``). Keys without a value to write are commented out."""
    lines = [f"# {line}" if line else "#" for line in title.splitlines()]
    body = _render_table(model, values, "", "")
    while body and body[0] == "":
        body.pop(0)
    return "\n".join([*lines, *([""] if lines else []), *body]) + "\n"


def _rows(model: type[BaseModel], prefix: str = "") -> Iterator[FieldDoc]:
    for item in fields_of(model, None, prefix):
        if isinstance(item, FieldDoc):
            yield item
        else:
            sub_key, sub_model, _ = item
            many = _list_of_models(model.model_fields[sub_key.rsplit(".", 1)[-1]].annotation)
            yield from _rows(sub_model, f"{sub_key}[]." if many else f"{sub_key}.")


def reference_table(model: type[BaseModel]) -> str:
    """A Markdown table of every key of ``model``: key, default, meaning."""
    out = ["| key | default | meaning |", "|---|---|---|"]
    for f in _rows(model):
        if f.value is REQUIRED:
            default = "(required)"
        elif f.commented:
            default = "(computed)" if f.value is not None else "(unset)"
        else:
            default = f"`{toml_value(f.value)}`"
        meaning = f.meaning().replace("|", "\\|")
        out.append(f"| `{f.key}` | {default.replace('|', chr(92) + '|')} | {meaning} |")
    return "\n".join(out) + "\n"


def masked(settings: BaseModel) -> dict[str, Any]:
    """``settings`` as plain JSON data with every non-empty secret replaced by ``***``."""
    return _mask(settings.model_dump(mode="json"), settings)


def _mask(data: dict[str, Any], model: BaseModel) -> dict[str, Any]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            data[name] = "***" if value.get_secret_value() else ""
        elif isinstance(value, BaseModel):
            data[name] = _mask(data[name], value)
        elif isinstance(value, list):
            data[name] = [_mask(d, v) if isinstance(v, BaseModel) else d
                          for d, v in zip(data[name], value, strict=True)]
    return data
