"""See a restoration: before/after comparison pages (``dejpeg compare``) and a local web app (``dejpeg serve``).

The web app (:mod:`dejpeg.viewer.server`) needs the ``serve`` extra (Starlette and uvicorn); nothing here imports
it, so ``dejpeg compare`` and ``import dejpeg`` work without.
"""

from __future__ import annotations

import importlib.util

from dejpeg.viewer.compare import Comparison, compare
from dejpeg.viewer.page import comparison_page, index_page

SERVE_MISSING = 'dejpeg serve needs Starlette and uvicorn, which are not installed: pip install "dejpeg[serve]"'


def serve_available() -> bool:
    """Whether the web app's packages can be imported, without importing them."""
    return all(importlib.util.find_spec(name) is not None for name in ("starlette", "uvicorn"))


__all__ = ["SERVE_MISSING", "Comparison", "compare", "comparison_page", "index_page", "serve_available"]
