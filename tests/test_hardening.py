"""Regression tests for what the fuzz suite found: each input used to abort the
process in TensorFlow's C++ reader, allocate gigabytes, or end in a traceback.
Now each is refused with exit 2 and one line naming what is wrong."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, REAL_WORLD, REPO
from fuzz import tables

SHARDED = FIXTURES / "saver-v2-sharded"
PARTITIONED = FIXTURES / "partitioned"
SAVER_V1 = FIXTURES / "saver-v1"
KERAS_WEIGHTS = REAL_WORLD / "keras1-weights-only-h5-json/successful_models/nvidia_33_17.h5"


def _copy(source, target, pattern="*"):
    target.mkdir(exist_ok=True)
    for path in source.glob(pattern):
        if path.is_file():
            shutil.copyfile(path, target / path.name)
    return target


def _edit_v2(index_path, name: str, edit) -> None:
    """Rewrite one entry of a V2 index with `edit(BundleEntryProto)`."""
    bundle, _ = tables.protos()
    entries = tables.read_entries(index_path)
    for i, (key, value) in enumerate(entries):
        if key == name.encode():
            proto = bundle.BundleEntryProto()
            proto.ParseFromString(value)
            edit(proto)
            entries[i] = (key, proto.SerializeToString())
    tables.write_table(index_path, entries)


def _set_dims(shape, dims):
    del shape.dim[:]
    for dim in dims:
        shape.dim.add().size = dim


def _error(run, message: str) -> None:
    assert (run.code, run.out) == (2, ""), run
    assert run.err == f"tfckpt: error: {message}\n"


@pytest.fixture
def sharded(tmp_path, tf):
    return _copy(SHARDED, tmp_path / "ckpt")


def test_shape_overflowing_int64_is_refused_before_tensorflow_aborts(tfckpt, sharded):
    index = sharded / "model.ckpt-7.index"
    _edit_v2(index, "layer1/biases", lambda p: _set_dims(p.shape, [2] * 64))
    _error(tfckpt("show", sharded / "model.ckpt-7", "--stats"),
           f"variable 'layer1/biases' in {index} declares an impossible shape "
           f"[2, 2, 2, 2, 2, 2, 2, 2, ... (64 dims)]. The index is damaged: copy the checkpoint again")


def test_overflowing_shape_in_a_child_process_exits_2_not_sigabrt(tmp_path, tf):
    """The process boundary is the point: opening TensorFlow's reader (needed for
    the string entry) used to abort the process (SIGABRT) on any such entry."""
    ckpt = _copy(FIXTURES / "tf2-object-checkpoint", tmp_path / "obj")
    kernel = "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    _edit_v2(ckpt / "ckpt-2.index", kernel, lambda p: _set_dims(p.shape, [2] * 64))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-m", "migrate.cli", "show", str(ckpt / "ckpt-2"),
                           "_CHECKPOINTABLE_OBJECT_GRAPH"], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"tfckpt: error: variable {kernel!r} in {ckpt / 'ckpt-2.index'} declares "
                           f"an impossible shape [2, 2, 2, 2, 2, 2, 2, 2, ... (64 dims)]. The index "
                           f"is damaged: copy the checkpoint again\n")


def test_negative_dimension(tfckpt, sharded):
    index = sharded / "model.ckpt-7.index"
    _edit_v2(index, "layer1/weights", lambda p: _set_dims(p.shape, [-3, 6]))
    _error(tfckpt("show", sharded / "model.ckpt-7", "layer1/weights"),
           f"variable 'layer1/weights' in {index} has a negative dimension in its shape [-3, 6]. "
           f"The index is damaged: copy the checkpoint again")


def test_shape_larger_than_the_stored_bytes(tfckpt, sharded):
    index = sharded / "model.ckpt-7.index"
    _edit_v2(index, "layer1/biases", lambda p: _set_dims(p.shape, [1 << 40]))
    _error(tfckpt("show", sharded / "model.ckpt-7", "layer1/biases"),
           f"variable 'layer1/biases' in {index} holds 24 bytes but its shape [1099511627776] of "
           f"float32 needs 4398046511104. The index is damaged: copy the checkpoint again")


def test_partition_with_another_dtype_than_its_variable(tfckpt, tmp_path, tf):
    ckpt = _copy(PARTITIONED, tmp_path / "p")
    index = ckpt / "model.ckpt-0.index"
    _edit_v2(index, "proj/biases", lambda p: setattr(p, "dtype", 12))  # quint8
    _error(tfckpt("show", ckpt / "model.ckpt-0", "--stats"),
           f"variable 'proj/biases' in {index} is quint8 but a stored slice of it is float32. "
           f"The index is damaged: copy the checkpoint again")


def test_slice_outside_its_shape(tfckpt, sharded):
    index = sharded / "model.ckpt-7.index"

    def add_slice(proto):
        extent = proto.slices.add().extent.add()
        extent.start, extent.length = 1 << 40, 5

    _edit_v2(index, "layer1/biases", add_slice)
    _error(tfckpt("show", sharded / "model.ckpt-7", "layer1/biases"),
           f"variable 'layer1/biases' in {index} has a slice outside its shape [6]. "
           f"The index is damaged: copy the checkpoint again")


def test_variant_dtype_is_not_decoded(tfckpt, sharded):
    _edit_v2(sharded / "model.ckpt-7.index", "layer1/biases", lambda p: setattr(p, "dtype", 21))
    _error(tfckpt("show", sharded / "model.ckpt-7", "layer1/biases"),
           f"variable 'layer1/biases' in {sharded / 'model.ckpt-7'} is a variant tensor, "
           f"which holds no values to read")
    assert tfckpt("ls", sharded / "model.ckpt-7").code == 0  # listing it is fine


def test_v1_shape_larger_than_the_file(tfckpt, tmp_path, tf):
    ckpt = _copy(SAVER_V1, tmp_path / "v1")
    path = ckpt / "model.ckpt-50"
    _, slices = tables.protos()
    entries = tables.read_entries(path)
    for i, (key, value) in enumerate(entries):
        if key == b"":
            saved = slices.SavedTensorSlices()
            saved.ParseFromString(value)
            for tensor in saved.meta.tensor:
                if tensor.name == "layer1/weights":
                    _set_dims(tensor.shape, [1 << 20, 1 << 20])
            entries[i] = (key, saved.SerializeToString())
    tables.write_table(path, entries)
    _error(tfckpt("show", path, "layer1/biases"),
           f"variable 'layer1/weights' in {path} declares 1,099,511,627,776 elements, more than "
           f"the checkpoint's {path.stat().st_size:,} bytes of data can hold. The index is "
           f"damaged: copy the checkpoint again")


def test_number_field_turned_into_a_record(tfckpt, sharded):
    index = sharded / "model.ckpt-7.index"
    entries = tables.read_entries(index)
    entries = [(k, v + b"\x1a\x01x" if k == b"layer1/biases" else v) for k, v in entries]
    tables.write_table(index, entries)  # shard_id (field 3) now holds bytes
    _error(tfckpt("ls", sharded / "model.ckpt-7"),
           f"{index} is damaged: a number field holds other data")


def test_shape_dim_turned_into_a_number(tfckpt, sharded):
    index = sharded / "model.ckpt-7.index"
    entries = tables.read_entries(index)
    entries = [(k, v + b"\x12\x02\x10\x05" if k == b"layer1/biases" else v) for k, v in entries]
    tables.write_table(index, entries)  # shape.dim (field 2 of the shape) is a varint now
    _error(tfckpt("ls", sharded / "model.ckpt-7"),
           f"{index} is damaged: a nested record holds a number")


def test_state_file_naming_the_index_file(tfckpt, sharded):
    (sharded / "checkpoint").write_text('model_checkpoint_path: "model.ckpt-7.index"\n')
    run = tfckpt("ls", sharded, "--format", "json")
    assert run.code == 0, run.err
    assert '"source": "' + str(sharded / "model.ckpt-7") + '"' in run.out


# --- HDF5 files that are not (or no longer) Keras weights ---------------------------

def _h5(tmp_path, build):
    import h5py

    path = tmp_path / "weights.h5"
    with h5py.File(path, "w") as handle:
        build(handle)
    return path


def _layer(handle, name: str, weights: list[bytes]):
    handle.attrs["layer_names"] = [name.encode()]
    group = handle.create_group(name)
    group.attrs["weight_names"] = weights
    return group


def test_h5_dangling_links(tfckpt, tmp_path):
    import h5py

    def build(handle):
        group = _layer(handle, "l", [b"ext"])
        group["ext"] = h5py.ExternalLink("/nonexistent.h5", "/x")

    path = _h5(tmp_path, build)
    _error(tfckpt("ls", path), f"{path} names the weight 'l/ext', but nothing is there. "
                               f"The file is damaged or not a Keras weights file")


def test_h5_weight_that_is_a_group(tfckpt, tmp_path):
    path = _h5(tmp_path, lambda h: _layer(h, "l", [b"sub"]).create_group("sub"))
    _error(tfckpt("ls", path), f"{path} names the weight 'l/sub', but a group is there. "
                               f"The file is damaged or not a Keras weights file")


def test_h5_layer_that_is_missing(tfckpt, tmp_path):
    def build(handle):
        _layer(handle, "a", [])
        handle.attrs["layer_names"] = [b"a", b"gone"]

    path = _h5(tmp_path, build)
    _error(tfckpt("ls", path), f"{path} lists the layer 'gone', but no group of that name is "
                               f"there. The file is damaged")


def test_h5_layer_names_not_a_list(tfckpt, tmp_path):
    path = _h5(tmp_path, lambda h: h.attrs.__setitem__("layer_names", "not a list"))
    _error(tfckpt("ls", path), f"{path} has a layer_names attribute that is not a list of names: "
                               f"not a Keras weights file")


def test_h5_unwritten_huge_dataset_is_not_allocated(tfckpt, tmp_path):
    def build(handle):
        group = _layer(handle, "big", [b"w:0"])
        group.create_dataset("w:0", shape=(1 << 40,), dtype="f4", chunks=(1024,))

    path = _h5(tmp_path, build)
    listed = tfckpt("ls", path, "--format", "json")
    assert listed.code == 0 and '"shape": [\n        1099511627776' in listed.out
    _error(tfckpt("show", path, "--stats"),
           f"weight 'big/w' in {path} declares 4,398,046,511,104 bytes ([1099511627776]), far "
           f"more than the file holds. The file is damaged")


def test_h5_optimizer_weights_that_is_a_dataset(tfckpt, tmp_path):
    import numpy as np

    def build(handle):
        _layer(handle, "d", [b"d/kernel:0"])["d/kernel:0"] = np.ones((2, 2), "f4")
        handle["optimizer_weights"] = np.zeros(2)

    run = tfckpt("ls", _h5(tmp_path, build), "--format", "csv")
    assert (run.code, run.out.splitlines()[1:]) == (0, ['d/d/kernel,float32,"[2, 2]",4,16,model,1'])


def test_h5_damaged_symbol_table(tfckpt, tmp_path):
    path = tmp_path / "weights.h5"
    data = bytearray(KERAS_WEIGHTS.read_bytes())
    data[1833] ^= 0x04  # a bit flip the fuzz suite found (case: bitflip-h5)
    path.write_bytes(bytes(data))
    _error(tfckpt("ls", path), f"{path} lists the layer 'convolution2d_1', but no group of that "
                               f"name is there. The file is damaged")


def test_h5_whose_structure_makes_libhdf5_loop(tfckpt, tmp_path, monkeypatch):
    """Zeroed bytes the fuzz suite found (zero-h5) send libhdf5 into an endless loop
    reading layer_names; the walk runs in a child that is stopped at the deadline."""
    from inspectors.formats import keras_h5

    monkeypatch.setattr(keras_h5, "STRUCTURE_TIMEOUT", 2.0)
    path = tmp_path / "weights.h5"
    data = bytearray((FIXTURES / "keras-h5" / "weights.h5").read_bytes())
    data[2146:2658] = bytes(512)
    path.write_bytes(bytes(data))
    _error(tfckpt("ls", path), f"reading HDF5 file {path} did not finish in 2 s: the file is "
                               f"damaged (its structure loops). Copy it again")
    assert tfckpt("ls", FIXTURES / "keras-h5" / "weights.h5").code == 0


def test_reference_dtype_code_in_a_v2_index(tfckpt, tmp_path, tf):
    """DT_FLOAT_REF (101) folds to float32 when listed, but TensorFlow aborts building
    a tensor of it (found by the long fuzz run: wrong-dtype, case 8508 of seed 1)."""
    ckpt = _copy(PARTITIONED, tmp_path / "p")
    index = ckpt / "model.ckpt-0.index"
    _edit_v2(index, "proj/weights", lambda p: setattr(p, "dtype", 101))
    assert tfckpt("ls", ckpt / "model.ckpt-0").code == 0
    _error(tfckpt("show", ckpt / "model.ckpt-0", "--stats"),
           f"variable 'proj/weights' in {index} has a reference dtype (float32_ref), which no "
           f"checkpoint stores. The index is damaged: copy the checkpoint again")
