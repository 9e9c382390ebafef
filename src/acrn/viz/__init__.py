"""Visualisation: drawing boxes and relation heatmaps, report figures, Markdown/HTML reports."""
