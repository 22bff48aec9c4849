"""The compiled Smart Data Models, cached on disk so that an ingest worker starts in a moment.

Compiling the five models ombud ingests means parsing pysmartdatamodels' whole attribute
database (110 MB of JSON, 1.5-1.8 s on the reference machine) — most of the time an ``ombud
ingest mqtt`` worker took to come back after a crash, while the broker queued its share of the
fleet. The compiled specs are a few kilobytes; this module keeps them as JSON in the
deployment's ``cache/`` folder, keyed by the SHA-256 of the package's model files and of the
code that compiles them.

Threat model: the cache decides what a valid observation looks like, so it is only ever a copy
of what ``load_models`` compiles: it is used only when its key matches the model files and the
compiling code on disk (an upgrade, a change to the validators or a corrupted file means a
recompilation, never a stale validator), it is parsed as plain JSON (no pickle, nothing
executable), and it is written atomically. Whoever can write the data directory can change it —
as they could the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ombud.errors import MalformedError
from ombud.ingest import models
from ombud.ingest.models import MODELS, AttributeSpec, ModelSpec, _package_assets, load_models

__all__ = ["CACHE_FILE", "cached_models", "models_digest"]

logger = logging.getLogger("ombud.ingest.models")

CACHE_FILE = "cache/smart-data-models.json"
"""The cache, relative to the data directory."""
_FORMAT = 1
_SOURCES = ("smartdatamodels.json.gz", "datamodels_metadata.json")


def models_digest() -> str:
    """What the compiled models depend on (SHA-256, hex): pysmartdatamodels' model files, the
    code that compiles them (``ombud.ingest.models``) and this module, so that neither an
    upgrade nor a change to the validators can leave a stale copy in use."""
    assets = _package_assets()
    digest = hashlib.sha256(f"ombud-models/{_FORMAT}\n{','.join(MODELS)}\n".encode())
    for path in (*(assets / name for name in _SOURCES), Path(models.__file__), Path(__file__)):
        content = path.read_bytes()
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


def _to_json(models: Mapping[str, ModelSpec], key: str) -> dict[str, Any]:
    return {
        "format": _FORMAT,
        "key": key,
        "models": {
            name: {
                "version": spec.version,
                "required": list(spec.required),
                "attributes": [
                    {
                        "name": a.name,
                        "json_type": a.json_type,
                        "ngsi_type": a.ngsi_type,
                        "enum": None if a.enum is None else list(a.enum),
                        "format": a.format,
                        "units": a.units,
                    }
                    for a in spec.attributes.values()
                ],
            }
            for name, spec in models.items()
        },
    }


def _from_json(value: Any, key: str) -> Mapping[str, ModelSpec]:
    if not isinstance(value, dict) or value.get("format") != _FORMAT or value.get("key") != key:
        raise MalformedError("the cache is of another format or other model files")
    out: dict[str, ModelSpec] = {}
    for name, spec in value["models"].items():
        attributes = {
            a["name"]: AttributeSpec(
                name=a["name"],
                json_type=a["json_type"],
                ngsi_type=a["ngsi_type"],
                enum=None if a["enum"] is None else tuple(a["enum"]),
                format=a["format"],
                units=a["units"],
            )
            for a in spec["attributes"]
        }
        out[name] = ModelSpec(
            name, spec["version"], tuple(spec["required"]), MappingProxyType(attributes)
        )
    if set(out) != set(MODELS):
        raise MalformedError("the cache does not hold every model")
    return MappingProxyType(out)


def cached_models(data_dir: Path) -> Mapping[str, ModelSpec]:
    """The compiled models, from ``data_dir/cache`` when it holds them for these model files;
    otherwise compiled (``load_models``) and cached for the next start. A cache that cannot be
    read or written is only a slower start."""
    path = data_dir / CACHE_FILE
    try:
        key = models_digest()
    except OSError:
        return load_models()  # load_models says what is wrong with the package
    try:
        return _from_json(json.loads(path.read_bytes()), key)
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.info("recompiling the Smart Data Models (%s: %s)", path, exc)
    models = load_models()
    try:
        path.parent.mkdir(mode=0o755, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".models-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(_to_json(models, key), f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.info("cannot cache the compiled Smart Data Models in %s: %s", path, exc)
    return models
