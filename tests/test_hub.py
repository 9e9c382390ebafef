"""Registered weights: cache location, SHA-256 checks, downloads that fail or deliver the wrong bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from acrn import hub
from acrn.cli.main import main
from acrn.errors import InputError


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ACRN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _register(monkeypatch: pytest.MonkeyPatch, data: bytes, url: str, sha: str | None = None) -> hub.WeightFile:
    w = hub.WeightFile("toy", "toy.bin", url, sha or hashlib.sha256(data).hexdigest(), "MIT", "a toy file")
    monkeypatch.setitem(hub.REGISTRY, "toy", w)
    return w


def test_cache_folder_follows_acrn_home(home: Path) -> None:
    assert hub.cache_dir() == home / "weights"
    assert hub.cached_path("fastestdet") == home / "weights" / "FastestDet-AP05-0.2532.pth"


def test_download_verifies_and_renames(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "upstream.bin"
    src.write_bytes(b"weights" * 100)
    _register(monkeypatch, src.read_bytes(), src.as_uri())
    path = hub.weight_path("toy")
    assert path == home / "weights" / "toy.bin" and path.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["toy.bin"]  # no temporary file left


def test_wrong_sha256_is_refused_and_nothing_is_kept(home: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "upstream.bin"
    src.write_bytes(b"not the registered bytes")
    _register(monkeypatch, b"", src.as_uri(), sha="0" * 64)
    with pytest.raises(InputError, match=r"the downloaded file has SHA-256 [0-9a-f]{64}, expected 0{64}"):
        hub.weight_path("toy")
    assert not (home / "weights").exists() or list((home / "weights").iterdir()) == []


def test_a_cached_file_that_differs_is_refused(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, b"good", "file:///nowhere")
    (home / "weights").mkdir(parents=True)
    (home / "weights" / "toy.bin").write_bytes(b"bad")
    with pytest.raises(InputError, match=r"toy.bin: the cached file has SHA-256 .*delete it"):
        hub.weight_path("toy")


def test_failed_download_says_where_to_put_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _register(monkeypatch, b"x", "http://127.0.0.1:9/toy.bin")  # the discard port: connection refused
    with pytest.raises(InputError, match=r"download of weights 'toy' failed .* copy toy\.bin .* to .*toy\.bin"):
        hub.weight_path("toy")
    assert not (home / "weights").exists() or list((home / "weights").iterdir()) == []


def test_unknown_name_lists_the_registered_ones() -> None:
    with pytest.raises(InputError, match="registered: fastestdet, fastestdet-onnx"):
        hub.registered("yolo")


def test_seed_copies_only_matching_files(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "toy.bin").write_bytes(b"good")
    _register(monkeypatch, b"good", "file:///nowhere")
    assert hub.seed(folder) == [home / "weights" / "toy.bin"]
    assert hub.weight_path("toy", download=False).read_bytes() == b"good"
    (folder / "toy.bin").write_bytes(b"evil")
    (home / "weights" / "toy.bin").unlink()
    with pytest.raises(InputError, match="the file to seed from has SHA-256"):
        hub.seed(folder)
    assert not (home / "weights" / "toy.bin").exists()


def test_weights_cli_lists_and_reports_errors(home: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert f"cache folder: {home / 'weights'}" in out and "fastestdet " in out and "not downloaded" in out
    assert hub.REGISTRY["fastestdet"].sha256 in out
    _register(monkeypatch, b"x", "http://127.0.0.1:9/toy.bin")
    assert main(["weights", "download", "toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("acrn weights: error: http://127.0.0.1:9/toy.bin: download")


def test_shared_weights_match_the_registry(fastestdet_weights: Path) -> None:
    assert hub.sha256_of(fastestdet_weights) == hub.REGISTRY["fastestdet"].sha256
