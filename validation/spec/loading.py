"""Loading a spec: a profile by name, a YAML file or a dict, with errors that name every bad key path."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from pydantic import ValidationError

from validation.spec.base import SpecError
from validation.spec.model import Spec

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
MAX_SPEC_BYTES = 1 << 20  # a spec is a page of YAML; a huge file is a mistake, refused before parsing


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def _format(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        # pydantic appends the union branch / validator name to loc for some errors; drop those
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        lines.append(f"{_loc(loc)}: {msg}")
    return f"spec {source}: " + "; ".join(lines)


def _deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def _read(source: str | Path | dict) -> tuple[str, dict]:
    if isinstance(source, dict):
        return "<dict>", source
    path = Path(source)
    if isinstance(source, str) and source in profile_names():
        path = PROFILES_DIR / f"{source}.yaml"
    elif not path.is_file():
        raise SpecError(f"spec {source}: no such file or profile (profiles: {', '.join(profile_names())})")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"spec {path}: {size:,} bytes, larger than a spec may be ({MAX_SPEC_BYTES:,})")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"spec {path}: not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"spec {path}: cannot read: {e}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec {path}: expected a mapping of sections at the top level")
    return str(path), data


def load_spec(profile: str | Path | dict = "standard", *, overrides: dict | None = None) -> Spec:
    """Load a profile by name (`smoke`, `standard`, `nightly`), a YAML file, or a dict.

    `overrides` is merged in depth first (e.g. `{"provider": "e2b", "stress": {"tasks": 50}}`).
    Raises `SpecError` whose message names the source and every bad key path.
    """
    name, data = _read(profile)
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return Spec.model_validate(data)
    except ValidationError as e:
        raise SpecError(_format(name, e)) from None


def json_schema() -> dict:
    """The JSON Schema of a spec file."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tradeswarm certification spec"
    return schema
