"""The records every checkpoint backend yields: variable facts and their kinds.

Its own module so that the backends (bundle indexes, Keras HDF5) and the seam
that chooses between them (`checkpoint.open_reader`) can all use them without
importing each other. Imports only `inspectors.sources`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from inspectors.sources.paths import Source

if TYPE_CHECKING:
    import numpy as np

MODEL, OPTIMIZER, BOOKKEEPING = "model", "optimizer", "bookkeeping"

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


# Hyperparameters and counters of the Keras optimizers of TF2 Estimators
# (`training/Adam/beta_1`, `training/Adagrad/iter`) and of object-based checkpoints
# (`optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE`); the rest under `optimizer/`
# (`optimizer/_variables/3/...`, `.OPTIMIZER_SLOT`) are slots.
_OPTIMIZER_SCALAR_RE = re.compile(r"^(?:training/[^/]+/[^/]+|optimizer/[^/]+/\.ATTRIBUTES/VARIABLE_VALUE)$")


def kind_of(name: str) -> str:
    """`model`, `optimizer` (a slot) or `bookkeeping` (step counters, learning rates...)."""
    if _BOOKKEEPING_RE.search(name) or _OPTIMIZER_SCALAR_RE.match(name):
        return BOOKKEEPING
    if _SLOT_RE.search(name) or name.startswith("optimizer/"):
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
    return _ITEMSIZES.get(dtype, 0)


# A table, not numpy: checking an index must not pay for importing numpy.
_ITEMSIZES = {"bfloat16": 2, "bool": 1, "qint8": 1, "quint8": 1, "qint16": 2, "quint16": 2,
              "qint32": 4, "float16": 2, "float32": 4, "float64": 8, "complex64": 8,
              "complex128": 16, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1,
              "uint16": 2, "uint32": 4, "uint64": 8, "float8_e5m2": 1, "float8_e4m3fn": 1}


class Reader(Protocol):
    """What every backend offers."""

    source: Source

    def variables(self) -> list[VariableInfo]: ...

    def read(self, name: str) -> np.ndarray: ...
