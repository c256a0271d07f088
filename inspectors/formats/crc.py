"""crc32c as TensorFlow's checkpoints use it: plain, and "masked" (core/lib/hash/crc32c.h)
so that a crc of data holding crcs stays well distributed.

The `crc32c` package's __init__ reads its own version through importlib.metadata, which
costs ~20-50 ms per run; the C function is loaded from its extension module directly,
falling back to the package where that module cannot be found.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from typing import Callable

_FUNCTION: Callable[..., int] | None = None


def crc32c(data, value: int = 0) -> int:
    """The crc32c of a bytes-like object, continuing from `value`."""
    global _FUNCTION
    if _FUNCTION is None:
        _FUNCTION = _load()
    return _FUNCTION(data, value)


def mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def masked_crc32c(data) -> int:
    return mask(crc32c(data))


def _load() -> Callable[..., int]:
    spec = importlib.util.find_spec("crc32c")
    for directory in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(directory, "_crc32c" + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader("crc32c._crc32c", path)
                module = importlib.util.module_from_spec(
                    importlib.util.spec_from_loader("crc32c._crc32c", loader))
                loader.exec_module(module)
                return module.crc32c
    import crc32c as package

    return package.crc32c
