"""Helpers for tests that read the committed fixture corpus in fixtures/<case>/."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
GENERATOR = FIXTURES / "generate.py"


def case_names() -> list[str]:
    """Every fixture case: a folder of fixtures/ holding a case.json."""
    return sorted(p.parent.name for p in FIXTURES.glob("*/case.json"))


def case_dir(case: str) -> Path:
    return FIXTURES / case


def load_case(case: str) -> dict:
    return json.loads((FIXTURES / case / "case.json").read_text())


def load_predictions(case: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / case / "predictions.npz", allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def split_predictions(arrays: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """{'x:age': ..., 'y:logits': ...} -> ({'age': ...}, {'logits': ...})."""
    x = {k[2:]: v for k, v in arrays.items() if k.startswith("x:")}
    y = {k[2:]: v for k, v in arrays.items() if k.startswith("y:")}
    return x, y


def state_files(case: str) -> list[Path]:
    """Every `checkpoint` state file under a case folder."""
    return sorted(p for p in (FIXTURES / case).rglob("checkpoint") if p.is_file())


def listed_checkpoints(state: Path) -> list[Path]:
    """The checkpoints a state file names (a V2 prefix or a V1 file), resolved to paths."""
    paths = []
    for line in state.read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "all_model_checkpoint_paths":
            paths.append(state.parent / json.loads(value.strip()))
    return paths


def use_keras_2_in_legacy_env() -> None:
    """Drop TF_USE_LEGACY_KERAS where the tf_keras package is absent (the legacy env).

    With the flag set, TensorFlow 2.15 routes tf.keras to tf_keras and tensorflow_estimator
    cannot import; keras 2.15 is the legacy Keras there. TF reads the flag when tf.keras is
    first touched, so call this right before.
    """
    if importlib.util.find_spec("tf_keras") is None:
        os.environ.pop("TF_USE_LEGACY_KERAS", None)


@lru_cache(maxsize=1)
def load_generator():
    """fixtures/generate.py as a module, loaded by path without writing __pycache__."""
    use_keras_2_in_legacy_env()
    spec = importlib.util.spec_from_file_location("tfckpt_fixtures_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


def assert_same_outputs(expected: dict, actual: dict, *, atol: float = 1e-6,
                        exact: tuple[str, ...] = ()) -> None:
    """Same keys, same shapes, same dtypes; floats within `atol` (keys in `exact`: equal),
    everything else equal.

    One layout may differ, and only this one: TensorFlow hands a `tf.string` tensor back
    as a numpy object array of `bytes` (numpy has no variable-width bytes dtype), while
    the recorded arrays are fixed-width `S`. Such an output must hold `bytes` in every
    element and is compared as bytes; no other dtype is converted and nothing is reshaped.
    """
    assert sorted(actual) == sorted(expected), ("output keys differ", sorted(actual), sorted(expected))
    for key, want in expected.items():
        got = np.asarray(actual[key])
        assert got.shape == want.shape, (key, "shape", got.shape, want.shape)
        if want.dtype.kind == "S" and got.dtype.kind == "O":
            assert all(isinstance(item, bytes) for item in got.ravel()), (key, "not bytes", got)
            got = got.astype(want.dtype)
        assert got.dtype == want.dtype, (key, "dtype", got.dtype, want.dtype)
        if want.dtype.kind == "f" and key not in exact:
            np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=key)
        else:
            np.testing.assert_array_equal(got, want, err_msg=key)


def _to_rank(value: np.ndarray, rank: int | None) -> np.ndarray:
    """A feature recorded as one value per row ([rows]) goes in as [rows, 1] where the
    model declares that rank: the only change made to the recorded inputs."""
    value = np.asarray(value)
    if rank is None or value.ndim >= rank:
        return value
    return value.reshape(value.shape[:1] + (1,) * (rank - value.ndim) + value.shape[1:])


def plain_saved_model_predict(path, inputs: dict) -> dict:
    """A SavedModel as TensorFlow 2.21 serves it, no tfckpt code: `tf.saved_model.load`,
    its serving_default signature called on `inputs` (which must be exactly its inputs)."""
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    specs = function.structured_input_signature[1]
    assert sorted(specs) == sorted(inputs), (sorted(specs), sorted(inputs))
    feeds = {name: tf.constant(_to_rank(value, specs[name].shape.rank), dtype=specs[name].dtype)
             for name, value in inputs.items()}
    return {key: value.numpy() for key, value in function(**feeds).items()}


def plain_frozen_predict(path, inputs: dict) -> dict:
    """A frozen GraphDef run by plain TensorFlow: every Placeholder fed the input of its
    name, every sink (a node no other node reads, the graph's results) fetched by name."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(Path(path).read_bytes())
    read = {name.lstrip("^").split(":")[0] for node in graph_def.node for name in node.input}
    placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
    assert sorted(placeholders) == sorted(inputs), (sorted(placeholders), sorted(inputs))
    sinks = [node.name for node in graph_def.node if node.name not in read
             and node.op not in ("NoOp", "Placeholder", "Const")]
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    feeds = {}
    for name in placeholders:
        tensor = graph.get_tensor_by_name(name + ":0")
        feeds[tensor] = _to_rank(inputs[name], tensor.shape.rank)
    with tf.compat.v1.Session(graph=graph) as session:
        # initializers of tables the freeze kept (string vocabularies) are part of the graph
        init = [op for op in graph.get_operations() if op.type == "NoOp" and op.name == "init_all_tables"]
        if init:
            session.run(init)
        return session.run({name: name + ":0" for name in sinks}, feeds)


def keras_weights(path: Path) -> dict[str, np.ndarray]:
    """layer/weight -> value, read by h5py the way Keras loads (layer_names, weight_names)."""
    import h5py

    found = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        for layer in root.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            for weight in root[layer].attrs["weight_names"]:
                weight = weight.decode() if isinstance(weight, bytes) else weight
                found[f"{layer}/{weight}".removesuffix(":0")] = root[layer][weight][()]
    return found


def keras_optimizer_weights(path: Path) -> dict[str, np.ndarray]:
    """A Keras model.save file's optimizer state by h5py: optimizer_weights/<weight name>."""
    import h5py

    with h5py.File(path, "r") as handle:
        if "optimizer_weights" not in handle:
            return {}
        group = handle["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        return {f"optimizer_weights/{name.removesuffix(':0')}": group[name][()] for name in names}


def lone_slice(tf, prefix: str, name: str):
    """The one stored slice of a slot TF 1.x saved with its whole variable's shape, read
    with plain TensorFlow: the slice's place comes from the VariableDef's save_slice_info
    in the `.meta` beside the checkpoint, the value from the RestoreV2 op."""
    from tensorflow.core.framework import variable_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString(Path(prefix + ".meta").read_bytes())
    for raw in meta.collection_def["variables"].bytes_list.value:
        variable = variable_pb2.VariableDef.FromString(raw)
        if variable.save_slice_info_def.full_name == name:  # the key the Saver wrote it under
            info = variable.save_slice_info_def
            break
    else:
        raise AssertionError(f"{name}: TensorFlow cannot read it whole and the .meta has no slice for it")
    spec = " ".join(map(str, info.full_shape)) + " " + ":".join(
        f"{start},{length}" for start, length in zip(info.var_offset, info.var_shape))
    dtype = tf.train.load_checkpoint(prefix).get_variable_to_dtype_map()[name]
    [value] = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name],
                                   shape_and_slices=[spec], dtypes=[dtype])
    return value.numpy()


def tf_values(tf, prefix: str) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint by TensorFlow's reader; a slot stored as one slice of
    its variable's shape (TF 1.x partitions) read as that slice (see lone_slice)."""
    reader = tf.train.load_checkpoint(prefix)
    values = {}
    for name in reader.get_variable_to_shape_map():
        try:
            values[name] = np.asarray(reader.get_tensor(name))
        except ValueError:  # "Does not have sufficient slices for partitioned tensor"
            values[name] = lone_slice(tf, prefix, name)
    return values
