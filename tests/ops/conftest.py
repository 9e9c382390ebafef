"""Make reference_ops (the naive loop references) importable from the ops tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
