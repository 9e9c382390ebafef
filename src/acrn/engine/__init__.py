"""The engine: training loop, checkpoints, distributed helpers, inference over datasets, export.

Detection on a user's own videos is :mod:`acrn.detect` (decode -> persons -> tracks -> actions -> outputs).

- :mod:`acrn.engine.schedule`: ``lr_at`` / ``build_schedule``, the section 4.1 learning-rate schedule.
- :mod:`acrn.engine.checkpoint`: ``save_checkpoint`` (atomic, verified), ``load_checkpoint`` (weights_only).
- :mod:`acrn.engine.data_order`: data order and per-clip augmentation seeds as functions of (seed, step).
- :mod:`acrn.engine.train`: ``train(cfg, model, criterion, train_set, collate_fn, ...)`` (DDP under torchrun).
- :mod:`acrn.engine.distributed`: torchrun detection, sharding and gathering.
- :mod:`acrn.engine.infer`: ``predict``, ``video_dataset``, ``load_detector``, AVA CSV / proposals writers.
- :mod:`acrn.engine.evaluate`: ``score_detections``, ``make_evaluator`` (AVA frame-AP, ACT frame/video-AP).
- :mod:`acrn.engine.proposals`, :mod:`acrn.engine.export`: person proposals; ONNX / TorchScript export.
"""
