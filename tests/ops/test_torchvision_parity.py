"""Where torchvision's kernels run (GPU servers), acrn.ops dispatches to them: both paths must agree.
Also: the pure PyTorch path on CUDA equals itself on CPU. Both are skipped here (no torchvision, no GPU)."""

from __future__ import annotations

import pytest
import torch

from acrn.ops import _backend, batched_nms, nms, roi_align

needs_tv = pytest.mark.skipif(
    not _backend.TORCHVISION_AVAILABLE,
    reason="torchvision is not importable or its compiled ops fail in this environment (CPU-only torch build); "
    "the pure PyTorch path is checked against the naive loop reference in test_roi_align.py / test_nms.py",
)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _inputs(device: str, five_d: bool):
    gen = torch.Generator().manual_seed(0)
    shape = (2, 16, 3, 14, 14) if five_d else (2, 16, 14, 14)
    x = torch.randn(*shape, generator=gen)
    xy = torch.rand(40, 2, generator=gen) * 260 - 20  # some boxes partly outside the 224 px image
    wh = torch.rand(40, 2, generator=gen) * 120
    rois = torch.cat((torch.randint(0, 2, (40, 1), generator=gen).float(), xy, xy + wh), dim=1)
    return x.to(device), rois.to(device)


def _run(use_tv: bool, x: torch.Tensor, rois: torch.Tensor, ratio: int, aligned: bool, monkeypatch):
    monkeypatch.setattr(_backend, "USE_TORCHVISION", use_tv)
    x = x.detach().clone().requires_grad_(True)
    out = roi_align(x, rois, (7, 7), 1 / 16, ratio, aligned)
    (out * torch.linspace(-1, 1, out.numel(), device=out.device).reshape(out.shape)).sum().backward()
    return out.detach(), x.grad


@needs_tv
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("five_d", [False, True])
@pytest.mark.parametrize("ratio,aligned", [(2, False), (0, False), (0, True), (-1, True)])
def test_roi_align_paths_agree(device, five_d, ratio, aligned, monkeypatch):
    x, rois = _inputs(device, five_d)
    out_tv, grad_tv = _run(True, x, rois, ratio, aligned, monkeypatch)
    out_pt, grad_pt = _run(False, x, rois, ratio, aligned, monkeypatch)
    torch.testing.assert_close(out_pt, out_tv, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad_pt, grad_tv, rtol=1e-4, atol=1e-5)


@needs_tv
@pytest.mark.parametrize("device", DEVICES)
def test_nms_paths_agree(device, monkeypatch):
    gen = torch.Generator().manual_seed(1)
    xy = torch.rand(3000, 2, generator=gen) * 300
    boxes = torch.cat((xy, xy + torch.rand(3000, 2, generator=gen) * 80 + 1), dim=1).to(device)
    scores = torch.rand(3000, generator=gen).to(device)  # continuous: no ties, whose order torchvision leaves open
    classes = torch.randint(0, 5, (3000,), generator=gen).to(device)
    for thr in (0.3, 0.5, 0.7):
        monkeypatch.setattr(_backend, "USE_TORCHVISION", True)
        want, want_b = nms(boxes, scores, thr), batched_nms(boxes, scores, classes, thr)
        monkeypatch.setattr(_backend, "USE_TORCHVISION", False)
        assert torch.equal(nms(boxes, scores, thr), want)
        assert torch.equal(batched_nms(boxes, scores, classes, thr), want_b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pure_path_cuda_equals_cpu(monkeypatch):
    monkeypatch.setattr(_backend, "USE_TORCHVISION", False)
    x, rois = _inputs("cpu", True)
    cpu = roi_align(x, rois, 7, 1 / 16, 0, True)
    cuda = roi_align(x.cuda(), rois.cuda(), 7, 1 / 16, 0, True)
    torch.testing.assert_close(cuda.cpu(), cpu, rtol=1e-4, atol=1e-5)
    boxes, scores = rois[:, 1:], torch.rand(len(rois))
    assert torch.equal(nms(boxes.cuda(), scores.cuda(), 0.5).cpu(), nms(boxes, scores, 0.5))


def test_dispatch_plumbing_with_a_stand_in_backend(monkeypatch):
    """Runs everywhere: with USE_TORCHVISION on, the 4D/5D reshaping and argument passing around the
    torchvision call must give the pure path's result (the stand-in records calls and runs the pure kernel)."""
    from types import SimpleNamespace

    from acrn.ops.box_nms import _nms_torch
    from acrn.ops.roi_align import _roi_align_torch

    calls = []

    def fake_roi_align(inp, rois, size, scale, ratio, aligned):
        calls.append((tuple(inp.shape), tuple(rois.shape), size, scale, ratio, aligned))
        return _roi_align_torch(inp, rois, size, scale, ratio, aligned)

    fake = SimpleNamespace(
        roi_align=fake_roi_align,
        nms=lambda b, s, t: _nms_torch(b, s, t),
        batched_nms=lambda b, s, i, t: _nms_torch(b, s, t, i),
    )
    x, rois = _inputs("cpu", True)
    monkeypatch.setattr(_backend, "USE_TORCHVISION", False)
    want = roi_align(x, [rois[rois[:, 0] == 0, 1:], rois[rois[:, 0] == 1, 1:]], (7, 5), 0.25, 0, True)
    monkeypatch.setattr(_backend, "tv_ops", fake)
    monkeypatch.setattr(_backend, "USE_TORCHVISION", True)
    got = roi_align(x, [rois[rois[:, 0] == 0, 1:], rois[rois[:, 0] == 1, 1:]], (7, 5), 0.25, 0, True)
    assert calls == [((2, 16 * 3, 14, 14), (40, 5), (7, 5), 0.25, 0, True)]
    assert got.shape == (40, 16, 3, 7, 5)
    torch.testing.assert_close(got, want)
    assert nms(rois[:, 1:], rois[:, 0], 0.5).dtype == torch.long
