"""Import TensorFlow once, quietly, with the settings old graphs need.

Kept apart so that nothing imports TensorFlow at module load: `tfckpt --help`
and path errors must answer without paying its ~5 s start-up.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import Iterator

from inspectors.errors import UnsupportedSource


def tensorflow() -> ModuleType:
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    # Before the import: C++ logs off unless asked for, and tf-keras (Keras 2)
    # behind tf.compat.v1.layers, which is what TF1 model code calls.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    use_legacy_keras()
    try:
        with _silenced_stderr(os.environ.get("TFCKPT_TF_LOGS") != "1"):
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # its CUDA probe logs an error on CPU machines
    except ImportError as error:
        raise UnsupportedSource(f"TensorFlow cannot be imported ({error}). "
                                f"Install tfckpt with its dependencies: pip install tfckpt") from error
    tf.get_logger().setLevel("ERROR")
    return tf


def use_legacy_keras() -> None:
    """Route tf.keras to tf-keras where it is installed (TF 2.16+ with Keras 3).

    Without tf-keras the variable must stay unset: TF 2.15 would look for the
    missing package and fail to import Keras (and tensorflow-estimator with it).
    """
    if importlib.util.find_spec("tf_keras") is not None:
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


@contextlib.contextmanager
def _silenced_stderr(active: bool) -> Iterator[None]:
    """Mute file descriptor 2 while TensorFlow loads.

    Its C++ start-up banner (oneDNN, CUDA, absl) is written before
    TF_CPP_MIN_LOG_LEVEL is honoured, and would bury our one-line messages.
    TFCKPT_TF_LOGS=1 lets it through.
    """
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
