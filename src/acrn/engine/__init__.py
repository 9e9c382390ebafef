"""The engine: training loop, checkpoints, distributed helpers, inference, detection on videos, export.

- :func:`acrn.engine.schedule.lr_at` / ``build_schedule``: the section 4.1 learning-rate schedule.
- :mod:`acrn.engine.checkpoint`: ``save_checkpoint`` (atomic), ``load_checkpoint`` (weights_only, verified).
- :func:`acrn.engine.train.train`: the training loop (DDP under torchrun, exact ``--resume``).
- :mod:`acrn.engine.distributed`: torchrun detection, sharding and gathering.
"""
