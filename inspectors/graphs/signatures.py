"""The signatures of a graph: SignatureDefs, and the SessionBundle ones before them.

Exports made before SavedModel (TF Serving's SessionBundle, TF <= 0.12) keep
their signatures in the `serving_signatures` collection as a packed
`tensorflow.serving.Signatures`. tensorflow_serving's protos are not a
dependency, so that message is read here with the wire-format walker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inspectors.graphs.io import WireError, dtype_name, shape_of, walk


@dataclass(frozen=True)
class TensorSpec:
    alias: str
    tensor: str
    dtype: str | None = None
    shape: tuple[int, ...] | None = None

    def to_dict(self) -> dict:
        return {"alias": self.alias, "tensor": self.tensor, "dtype": self.dtype,
                "shape": None if self.shape is None else list(self.shape)}


@dataclass(frozen=True)
class Signature:
    key: str
    method: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    origin: str  # "signature_def" | "serving_signatures" (SessionBundle)

    def to_dict(self) -> dict:
        return {"key": self.key, "method": self.method, "origin": self.origin,
                "inputs": [t.to_dict() for t in self.inputs],
                "outputs": [t.to_dict() for t in self.outputs]}


def signatures(meta: Any | None) -> tuple[Signature, ...]:
    if meta is None:
        return ()
    found = [_signature_def(key, meta.signature_def[key]) for key in sorted(meta.signature_def)]
    if "serving_signatures" in meta.collection_def:
        for item in meta.collection_def["serving_signatures"].any_list.value:
            if item.type_url.endswith("tensorflow.serving.Signatures"):
                found += _session_bundle_signatures(item.value)
    return tuple(found)


def _signature_def(key: str, definition: Any) -> Signature:
    def specs(mapping: Any) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(alias, _tensor_name(info), dtype_name(info.dtype) if info.dtype else None,
                                shape_of(info.tensor_shape)) for alias, info in sorted(mapping.items()))

    return Signature(key, definition.method_name, specs(definition.inputs),
                     specs(definition.outputs), "signature_def")


def _tensor_name(info: Any) -> str:
    encoding = info.WhichOneof("encoding")
    if encoding == "coo_sparse":
        return info.coo_sparse.values_tensor_name
    return info.name if encoding == "name" else (encoding or "")


def _session_bundle_signatures(raw: bytes) -> list[Signature]:
    """tensorflow.serving.Signatures: 1 default_signature, 2 named_signatures (map)."""
    found = []
    try:
        for number, wire, value, _ in walk(raw):
            if number == 1 and wire == 2:
                found.append(_bundle_signature("default", value))
            elif number == 2 and wire == 2:
                entry = _fields(value)
                key = entry.get(1, [b""])[0].decode("utf-8", errors="replace")
                found.append(_bundle_signature(key, entry.get(2, [b""])[0]))
    except WireError:
        return found
    return found


def _bundle_signature(key: str, raw: bytes) -> Signature:
    """Signature oneof: 1 regression (input, output), 2 classification (input, classes,
    scores), 3 generic (map alias -> TensorBinding; a generic signature named
    `inputs` lists inputs, any other lists outputs)."""
    fields = _fields(raw)
    if 1 in fields:
        parts = _fields(fields[1][0])
        return _bundle("regression", key, parts, {1: "input"}, {2: "output"})
    if 2 in fields:
        parts = _fields(fields[2][0])
        return _bundle("classification", key, parts, {1: "input"}, {2: "classes", 3: "scores"})
    bindings = []
    for entry in _fields(fields.get(3, [b""])[0]).get(1, []):
        item = _fields(entry)
        alias = item.get(1, [b""])[0].decode("utf-8", errors="replace")
        bindings.append(TensorSpec(alias, _binding(item.get(2, [b""])[0])))
    specs = tuple(sorted(bindings, key=lambda t: t.alias))
    if key == "inputs":
        return Signature(key, "generic", specs, (), "serving_signatures")
    return Signature(key, "generic", (), specs, "serving_signatures")


def _bundle(method: str, key: str, parts: dict, inputs: dict, outputs: dict) -> Signature:
    def specs(numbers: dict) -> tuple[TensorSpec, ...]:
        return tuple(TensorSpec(alias, _binding(parts[n][0])) for n, alias in numbers.items()
                     if n in parts)

    return Signature(key, method, specs(inputs), specs(outputs), "serving_signatures")


def _binding(raw: bytes) -> str:
    """TensorBinding: 1 tensor_name."""
    return _fields(raw).get(1, [b""])[0].decode("utf-8", errors="replace")


def _fields(raw: bytes) -> dict[int, list]:
    found: dict[int, list] = {}
    for number, _, value, _ in walk(raw):
        found.setdefault(number, []).append(value)
    return found
