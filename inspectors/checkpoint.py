"""The one seam through which checkpoint bytes are read, and the records it yields.

Every other module asks `open_reader(source)`; none calls TensorFlow's reader
directly, so a second backend (a pure-Python index parser, a Keras HDF5 file)
slots in here without touching callers.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Iterator, Protocol

import numpy as np

from inspectors.errors import CorruptCheckpoint, SourceNotFound
from inspectors.paths import Source

MODEL, OPTIMIZER, BOOKKEEPING = "model", "optimizer", "bookkeeping"
KINDS = (MODEL, OPTIMIZER, BOOKKEEPING)

# Slot suffixes of TF1 optimizers (`var/Adam_1`, `var/part_0/Ftrl`) and of the
# Keras optimizers TF2 Estimators use (`training/Adam/var/m`).
_TF1_SLOTS = (r"Adagrad|AdagradDA|Adam(?:_\d+)?|Ftrl(?:_\d+)?|Momentum|RMSProp(?:_\d+)?|"
              r"Adadelta(?:_\d+)?|ProximalAdagrad|GradientDescent|Nadam(?:_\d+)?|"
              r"gradient_accumulator|gradient_squared_accumulator")
_SLOT_RE = re.compile(rf"(?:^|/)(?:{_TF1_SLOTS})$|/\.OPTIMIZER_SLOT/|^training/[^/]+/.+/"
                      r"(?:m|v|vhat|accumulator|linear|momentum|rms|mg)$")
_BOOKKEEPING_RE = re.compile(
    r"(?:^|/)(?:global_step|beta[12]_power(?:_\d+)?|learning_rate|iter(?:ations)?|"
    r"save_counter|_CHECKPOINTABLE_OBJECT_GRAPH|current_loss_scale|good_steps)(?:/\.ATTRIBUTES/VARIABLE_VALUE)?$")


def kind_of(name: str) -> str:
    """`model`, `optimizer` (a slot) or `bookkeeping` (step counters, learning rates...)."""
    if _BOOKKEEPING_RE.search(name):
        return BOOKKEEPING
    if _SLOT_RE.search(name):
        return OPTIMIZER
    return MODEL


@dataclass(frozen=True)
class VariableInfo:
    """What the index says of one variable; reading it costs no tensor data."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    kind: str
    partitions: int = 1

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * dtype_itemsize(self.dtype)

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record["shape"] = list(self.shape)
        record.update(size=self.size, nbytes=self.nbytes)
        return record


def dtype_itemsize(dtype: str) -> int:
    """Bytes per element; 0 for strings and variants, whose size the index does not tell."""
    sizes = {"bfloat16": 2, "bool": 1, "qint8": 1, "quint8": 1, "qint16": 2, "quint16": 2,
             "qint32": 4, "resource": 0, "string": 0, "variant": 0}
    if dtype in sizes:
        return sizes[dtype]
    try:
        return np.dtype(dtype).itemsize
    except TypeError:
        return 0


class Reader(Protocol):
    """What every backend offers."""

    source: Source

    def variables(self) -> list[VariableInfo]: ...

    def read(self, name: str) -> np.ndarray: ...


class TensorFlowReader:
    """TensorFlow's own checkpoint reader (V1 and V2 bundles)."""

    def __init__(self, source: Source):
        from inspectors import tf_loader

        tf = tf_loader.tensorflow()
        self.source = source
        try:
            self._reader = tf.train.load_checkpoint(source.path)
        except (tf.errors.OpError, ValueError) as error:
            raise CorruptCheckpoint(f"cannot read checkpoint {source.given}: "
                                    f"{_first_line(error)}. Check that all its files are "
                                    f"complete (.index and every .data shard)") from error

    def variables(self) -> list[VariableInfo]:
        shapes = self._reader.get_variable_to_shape_map()
        dtypes = self._reader.get_variable_to_dtype_map()
        return sorted(
            (VariableInfo(name=name, dtype=dtypes[name].name, shape=tuple(shapes[name]),
                          kind=kind_of(name)) for name in shapes),
            key=lambda info: info.name)

    def read(self, name: str) -> np.ndarray:
        if not self._reader.has_tensor(name):
            raise SourceNotFound(f"no variable {name!r} in {self.source.given}")
        try:
            return self._reader.get_tensor(name)
        except Exception as error:  # TF raises several OpError subclasses for bad data
            raise CorruptCheckpoint(f"cannot read variable {name!r} from {self.source.given}: "
                                    f"{_first_line(error)}") from error


def open_reader(source: Source) -> Reader:
    """The reader for a resolved source."""
    if source.format == "keras-h5":
        from inspectors.keras_h5 import KerasH5Reader

        return KerasH5Reader(source)
    return TensorFlowReader(source)


def iter_tensors(reader: Reader, names: list[str]) -> Iterator[tuple[str, np.ndarray]]:
    """Tensors one at a time, so only one is ever held by the caller's loop."""
    for name in names:
        yield name, reader.read(name)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
