"""The docstring examples run as tests (those that need a file on disk are marked ``# doctest: +SKIP``).

They run on the package as imported, so a regular install (as CI and the README's quick start do) and an editable
one are tested alike; pytest's ``--doctest-modules`` on ``src/`` would collide with an installed copy.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dejpeg

MODULES = sorted(info.name for info in pkgutil.walk_packages(dejpeg.__path__, "dejpeg.") if "__main__" not in info.name)


def test_the_walk_finds_the_modules_with_examples() -> None:
    assert {"dejpeg.api", "dejpeg.codec.jpeg", "dejpeg.metrics.psnr"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
