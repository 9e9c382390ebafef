"""Optional torchvision kernels.

Where torchvision imports and its compiled ops run (GPU servers), ``nms`` and ``roi_align`` dispatch to
them; elsewhere (this CPU-only environment has no torchvision) the pure PyTorch versions run. Both give
the same results (tests/ops/test_torchvision_parity.py). Set ``USE_TORCHVISION = False`` to force the
pure PyTorch path, e.g. to compare the two.
"""

from __future__ import annotations

import torch


def _probe_torchvision():
    """The ``torchvision.ops`` module if it imports and its kernels run on a tiny CPU input, else None."""
    try:
        import torchvision.ops as tv_ops

        # A torchvision built for another torch version imports fine but fails on first use: run both ops.
        tv_ops.nms(torch.zeros(1, 4), torch.zeros(1), 0.5)
        tv_ops.roi_align(torch.zeros(1, 1, 2, 2), torch.zeros(1, 5), 1)
    except Exception:
        return None
    return tv_ops


tv_ops = _probe_torchvision()
# True when torchvision's kernels are usable here.
TORCHVISION_AVAILABLE: bool = tv_ops is not None
# Module flag read at each call; tests switch it to compare the two paths.
USE_TORCHVISION: bool = TORCHVISION_AVAILABLE
