"""acrn: spatio-temporal action detection with Actor-Centric Relation Networks (Sun et al., ECCV 2018).

Python API entry points (see README "Python API"):

- :mod:`acrn.config`: ``load_config``, typed ``Config`` dataclasses.
- :mod:`acrn.structures`: ``Sample``, ``Batch``, ``Detections`` and the box convention.
- :mod:`acrn.ops`: box ops, NMS and ROI align in pure PyTorch.
"""

__version__ = "0.1.0"
