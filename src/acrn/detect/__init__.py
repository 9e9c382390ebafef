"""Detection on a user's own videos: decode -> persons -> tracks -> actions -> outputs.

Each stage is a module with a typed input and output; :mod:`acrn.detect.pipeline` calls them in order.
"""

from acrn.detect.pipeline import TrackOptions, detect_video

__all__ = ["TrackOptions", "detect_video"]
