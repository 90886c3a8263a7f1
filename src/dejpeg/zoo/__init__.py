"""Shipped pretrained weights (``weights/*.safetensors``) and the tool that exports them from a run.

Each file's record (sha256, training command, data, steps, time, scores) is a
:class:`dejpeg.models.Weights` next to its architecture; ``docs/models.md`` has
the model cards and ``docs/notebook.md`` the record of the runs.
"""
