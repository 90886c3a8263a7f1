"""Shipped pretrained weights (``weights/*.safetensors``) and the tool that exports them from a run.

Each file's record (sha256, training command, data, steps, time, scores) is a
:class:`dejpeg.models.Weights` next to its architecture; ``docs/training.md`` has the full log.
"""
