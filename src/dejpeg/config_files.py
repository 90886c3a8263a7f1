"""Config files to frozen dataclasses, for training runs and studies alike: unknown or missing keys are errors,
lists become tuples, nested dataclasses are built, numbers YAML read as strings are numbers."""

from __future__ import annotations

import copy
import dataclasses
import typing
from pathlib import Path
from typing import Any


def _convert(hint: Any, value: Any, where: str) -> Any:
    """YAML value -> field value: nested dataclasses built, lists made tuples, a spec string accepted."""
    if value is None:
        return None
    if dataclasses.is_dataclass(hint):
        if isinstance(value, str):  # a one-string shorthand: the first field (a classifier spec, a data folder)
            return hint(value)
        return dataclass_from_dict(hint, value, where)
    if isinstance(value, list):
        return tuple(_convert(None, v, where) for v in value)
    if isinstance(value, dict):
        return {k: _convert(None, v, where) for k, v in value.items()}
    if hint is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads "5e-4" (no dot) as a string
            return float(value)
        except ValueError:
            raise ValueError(f"{where}: expected a number, got {value!r}") from None
    return value


def dataclass_from_dict(cls: type, raw: Any, where: str = "config") -> Any:
    """Build the dataclass ``cls`` from a mapping; unknown or missing keys are errors; ``raw`` is not modified."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    raw = copy.deepcopy(raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(raw) - set(fields)
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        hint = hints[name]
        inner = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        values[name] = _convert(inner[0] if inner else hint, value, f"{where}.{name}")
    try:
        return cls(**values)
    except TypeError as error:
        raise ValueError(f"{where}: {error}") from None


def read_config(path: str | Path) -> dict[str, Any]:
    """The mapping in a ``.yaml``/``.yml`` or ``.toml`` file (YAML imported here: ``import dejpeg`` needs none)."""
    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(text)
    elif path.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib

        raw = tomllib.loads(text)
    else:
        raise ValueError(f"configs are .yaml, .yml or .toml files, got {path.name}")
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return raw
