"""Trainable tasks: one module per task, named by ``config.task``.

Each module exposes ``create_model``, ``load_dataset``, ``make_batch``, ``loss_fn``
and ``evaluate`` (see docs/DESIGN.md, "Tasks"); ``jaxseg.train.trainer`` trains any of them.
"""
