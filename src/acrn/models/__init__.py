"""Models: the action detector (``build_model``), its backbones, heads, losses and post-processing."""

from acrn.models.build import build_model

__all__ = ["build_model"]
