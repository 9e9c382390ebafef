"""Powered comparisons of detector heads (issue #17's protocol): paired per-seed results and their intervals."""
