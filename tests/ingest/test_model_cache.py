"""The compiled Smart Data Models cached in the data directory: the same validators as
compiling them, used only while they match the model files and the compiling code."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from ombud.ingest import model_cache
from ombud.ingest.model_cache import CACHE_FILE, cached_models
from ombud.ingest.models import ModelSpec, load_models


def _no_compiling() -> Mapping[str, ModelSpec]:
    raise AssertionError("compiled again although the cache matches")


def test_the_cache_holds_exactly_what_compiling_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cached_models(tmp_path)
    assert first == load_models()
    assert (tmp_path / CACHE_FILE).is_file()
    monkeypatch.setattr(model_cache, "load_models", _no_compiling)
    again = cached_models(tmp_path)
    assert again == load_models()
    assert again is not load_models()  # read from the file


def test_a_cache_of_other_model_files_or_code_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached_models(tmp_path)
    path = tmp_path / CACHE_FILE
    stale = json.loads(path.read_text())
    stale["models"]["NoiseLevelObserved"]["required"] = ["id"]  # what an old version said
    stale["key"] = "0" * 64
    path.write_text(json.dumps(stale))
    assert cached_models(tmp_path) == load_models()
    assert json.loads(path.read_text())["key"] == model_cache.models_digest()


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b'{"format": 1, "key": "x"}', b"\xff"])
def test_a_broken_cache_is_compiled_again(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / CACHE_FILE
    path.parent.mkdir()
    path.write_bytes(content)
    assert cached_models(tmp_path) == load_models()


def test_a_cache_that_cannot_be_written_is_only_a_slower_start(tmp_path: Path) -> None:
    (tmp_path / "cache").write_text("a file where the folder would go")
    assert cached_models(tmp_path) == load_models()
