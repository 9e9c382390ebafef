"""Checkpoints: weights_only round trip, RNG states, refusal of damaged files, atomic replacement."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from toy import ToyDetector

from acrn.config import Config, from_dict, to_dict
from acrn.engine import checkpoint as ckpt
from acrn.errors import InputError


def _payload(step: int = 7) -> dict:
    torch.manual_seed(step)
    model = ToyDetector()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.fc.weight.sum().backward()
    opt.step()
    return ckpt.make_checkpoint(step=step, model_state=ckpt.model_state_for_save(model),
                                optimizer_state=opt.state_dict(), config=to_dict(Config()),
                                rng={"ranks": [ckpt.rng_state()]}, extra={"losses": {"loss": 0.5}})


def test_round_trip_weights_only(tmp_path: Path) -> None:
    p = _payload()
    path = ckpt.save_checkpoint(tmp_path / "c.pt", p)
    # Loads with the safe unpickler alone.
    raw = torch.load(path, weights_only=True)
    assert raw["step"] == 7 and raw["code_version"].startswith("acrn ")
    back = ckpt.load_checkpoint(path)
    for k, v in p["model"].items():
        assert torch.equal(back["model"][k], v)
    assert torch.equal(back["optimizer"]["state"][2]["momentum_buffer"], p["optimizer"]["state"][2]["momentum_buffer"])
    assert from_dict(back["config"]) == Config()
    assert back["extra"] == {"losses": {"loss": 0.5}}
    assert not [f for f in tmp_path.iterdir() if f.name != "c.pt"]  # no temp files left


def test_rng_state_round_trip() -> None:
    state = ckpt.rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    ckpt.set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


@pytest.mark.parametrize("damage", ["truncate", "flip_tensor_byte", "garbage", "empty"])
def test_damaged_file_refused_and_good_one_kept(tmp_path: Path, damage: str) -> None:
    good = ckpt.save_checkpoint(tmp_path / "last.pt", _payload(3))
    good_bytes = good.read_bytes()
    bad = tmp_path / "bad.pt"
    if damage == "truncate":
        bad.write_bytes(good_bytes[: len(good_bytes) // 2])
    elif damage == "flip_tensor_byte":
        # Change one weight value in place: the zip stays readable, only the digest can tell.
        data = bytearray(good_bytes)
        w = _payload(3)["model"]["fc.weight"].numpy().tobytes()
        at = bytes(data).find(w)
        assert at > 0
        data[at + 1] ^= 0x40
        bad.write_bytes(bytes(data))
    elif damage == "garbage":
        bad.write_bytes(b"not a checkpoint at all" * 10)
    else:
        bad.write_bytes(b"")
    with pytest.raises(InputError, match="bad.pt: .*(truncated|corrupted)"):
        ckpt.load_checkpoint(bad)
    assert good.read_bytes() == good_bytes
    assert ckpt.load_checkpoint(good)["step"] == 3


def test_failed_save_never_replaces_good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = ckpt.save_checkpoint(tmp_path / "last.pt", _payload(3))
    before = good.read_bytes()
    real_save = torch.save

    def half_write(obj, f, *a, **k):  # a crash (disk full, kill) in the middle of the write
        real_save(obj, f, *a, **k)
        f.truncate(f.tell() // 2)
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", half_write)
    with pytest.raises(OSError, match="No space"):
        ckpt.save_checkpoint(good, _payload(4))
    assert good.read_bytes() == before
    assert [f.name for f in tmp_path.iterdir()] == ["last.pt"]


def test_save_verifies_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = ckpt.save_checkpoint(tmp_path / "last.pt", _payload(3))
    before = good.read_bytes()
    p = _payload(4)
    p["step"] = 5  # digest no longer matches: what a silently bad write would look like
    with pytest.raises(InputError, match="corrupted"):
        ckpt.save_checkpoint(good, p)
    assert good.read_bytes() == before


def test_wrong_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        ckpt.load_checkpoint(tmp_path / "missing.pt")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an acrn checkpoint"):
        ckpt.load_checkpoint(tmp_path / "other.pt")
    model = ToyDetector(num_classes=5)
    ckpt.save_checkpoint(tmp_path / "c.pt", _payload())
    with pytest.raises(InputError, match="do not fit this model"):
        ckpt.load_model_weights(tmp_path / "c.pt", model)
