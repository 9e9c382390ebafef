"""The demo and the paper's ablations on the synthetic relational benchmark (``acrn demo``, ``acrn ablate``)."""
