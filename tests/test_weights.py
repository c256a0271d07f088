"""export-weights / import-weights: checkpoint -> HDF5 / npz -> checkpoint is bit-identical,
Keras 1/2 .h5 files import, and every bad input is refused in one line, input untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, REAL_WORLD, only_line, sha256_tree
from fixture_cases import case_names, keras_weights, listed_checkpoints, lone_slice, state_files

FIXTURE_CHECKPOINTS = sorted({str(p.relative_to(FIXTURES)) for case in case_names()
                              for state in state_files(case) for p in listed_checkpoints(state)})
REAL_WORLD_CHECKPOINTS = [
    "contrib-learn-v1-sharded-tf0.11/model",
    "contrib-learn-iris-dnn-tf1.14-part0/iris_model",
    "estimator-linear-wide-2017/model",
    "serving-half_plus_two-v1/00000123/export",
    "serving-half_plus_two-v2-export/00000123/export",
    "serving-saved_model_half_plus_two_cpu/00000123",
    "nxt-tensorflow-v1/model.ckpt",
    "nxt-tensorflow-v1/video_weights.ckpt",
    "mnist-fully-connected-feed-cpkt/fully_connected_feed",
    "traffic-signs-v1-2016-11/model.ckpt",
]
KERAS_FILES = [
    REAL_WORLD / "keras1-full-model-h5" / "model.h5",
    REAL_WORLD / "keras1-weights-only-h5-json" / "successful_models" / "nvidia_33_17.h5",
    FIXTURES / "keras-h5" / "model.h5",
    FIXTURES / "keras-h5" / "weights.h5",
]


# ---------------------------------------------------------------------------------------
# Helpers (independent of the code under test: TensorFlow's reader and h5py directly)
# ---------------------------------------------------------------------------------------

def bits_equal(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == object or b.dtype == object:
        return a.ravel().tolist() == b.ravel().tolist()
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


def assert_same_checkpoint(tf, source_prefix: str, copy_prefix: str) -> None:
    """Every variable: same name, dtype, shape, bytes (TensorFlow's reader on both sides)."""
    a, b = tf.train.load_checkpoint(source_prefix), tf.train.load_checkpoint(copy_prefix)
    shapes_a, shapes_b = a.get_variable_to_shape_map(), b.get_variable_to_shape_map()
    assert sorted(shapes_b) == sorted(shapes_a)
    assert a.get_variable_to_dtype_map() == b.get_variable_to_dtype_map()
    for name in shapes_a:
        try:
            want = a.get_tensor(name)
        except Exception:  # a partition's slot stored as one slice of a larger shape
            want = lone_slice(tf, source_prefix, name)
        else:
            assert shapes_b[name] == shapes_a[name], name
        assert bits_equal(b.get_tensor(name), want), name


def tf_prefix(tf, given: str) -> str:
    from inspectors.sources.paths import resolve

    return resolve(given).path


# ---------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["h5", "npz"])
@pytest.mark.parametrize("checkpoint", FIXTURE_CHECKPOINTS)
def test_fixture_round_trip_is_bit_identical(tfckpt, tf, tmp_path, checkpoint, ext):
    src = str(FIXTURES / checkpoint)
    before = sha256_tree(Path(src).parent)
    out = tmp_path / f"weights.{ext}"
    run = tfckpt("export-weights", src, out, "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["verified"] is True
    back = tmp_path / "back"
    run = tfckpt("import-weights", out, back, "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["source_format"] == ("hdf5" if ext == "h5" else "npz") + " (tfckpt)"
    assert_same_checkpoint(tf, tf_prefix(tf, src), report["checkpoint"])
    assert sha256_tree(Path(src).parent) == before


@pytest.mark.parametrize("ext", ["h5", "npz"])
@pytest.mark.parametrize("case", REAL_WORLD_CHECKPOINTS)
def test_real_world_round_trip_is_bit_identical(tfckpt, tf, tmp_path, case, ext):
    src = str(REAL_WORLD / case)
    out = tmp_path / f"weights.{ext}"
    assert tfckpt("export-weights", src, out).code == 0
    run = tfckpt("import-weights", out, tmp_path / "back", "--format", "json")
    assert run.code == 0, run.err
    assert_same_checkpoint(tf, tf_prefix(tf, src), json.loads(run.out)["checkpoint"])


def test_import_names_the_checkpoint_after_the_step_and_writes_a_state_file(tfckpt, tmp_path):
    src = FIXTURES / "dnn-classifier-v1" / "model_dir"
    assert tfckpt("export-weights", f"{src}@20", tmp_path / "w.npz").code == 0
    run = tfckpt("import-weights", tmp_path / "w.npz", tmp_path / "out")
    assert run.code == 0
    assert sorted(os.listdir(tmp_path / "out")) == [
        "checkpoint", "model.ckpt-20.data-00000-of-00001", "model.ckpt-20.index"]
    assert (tmp_path / "out" / "checkpoint").read_text() == (
        'model_checkpoint_path: "model.ckpt-20"\nall_model_checkpoint_paths: "model.ckpt-20"\n')
    run = tfckpt("import-weights", tmp_path / "w.npz", tmp_path / "out7", "--step", "7")
    assert (tmp_path / "out7" / "model.ckpt-7.index").is_file()
    assert "note: exported from" in run.err
    # a dir without leftovers: nothing but the outputs and the inputs
    assert sorted(os.listdir(tmp_path)) == ["out", "out7", "w.npz"]


def test_table_output(tfckpt, tmp_path):
    out = tmp_path / "w.h5"
    run = tfckpt("export-weights", FIXTURES / "partitioned", out)
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[0].split() == ["operation", "output", "format", "variables", "bytes", "step",
                                "source", "format", "verified"]
    assert lines[2].split() == ["export", str(out), "hdf5", "2", "208", "B", "0", "V2", "True"]


# ---------------------------------------------------------------------------------------
# The file layouts
# ---------------------------------------------------------------------------------------

def write_odd_checkpoint(tf, prefix: str) -> dict[str, np.ndarray]:
    """bfloat16, float16, int8, bool, strings with NULs (scalar and shaped), a sliced variable."""
    import ml_dtypes

    values = {
        "scope/bf16": np.array([[1.5, -2.25], [3.0e38, 1e-3]], dtype=ml_dtypes.bfloat16),
        "scope/bf16/Adam": np.array([0.125, np.nan], dtype=ml_dtypes.bfloat16),
        "scope/half": np.array([65504.0, -0.0], dtype=np.float16),
        "ints": np.array([-128, 127, 0], dtype=np.int8),
        "flags": np.array([True, False]),
        "vocab": np.array([[b"a\x00b", b""], [b"\xff\xfe", b"word"]], dtype=object),
        "note": np.array(b"scalar\x00string", dtype=object),
        "global_step": np.array(12, dtype=np.int64),
    }
    names = list(values)
    tensors = [tf.constant(values[n]) for n in names]
    specs = [""] * len(names)
    # a variable saved in two slices, as a partitioned variable is
    whole = np.arange(12, dtype=np.float32).reshape(4, 3)
    names += ["part/w", "part/w"]
    tensors += [tf.constant(whole[:2]), tf.constant(whole[2:])]
    specs += ["4 3 0,2:-", "4 3 2,2:-"]
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=specs, tensors=tensors)
    values["part/w"] = whole
    return values


def test_hdf5_layout_groups_follow_scopes_with_attributes(tfckpt, tf, tmp_path):
    import h5py

    prefix = str(tmp_path / "src" / "model.ckpt-12")
    values = write_odd_checkpoint(tf, prefix)
    out = tmp_path / "w.h5"
    assert tfckpt("export-weights", prefix, out).code == 0
    with h5py.File(out, "r") as f:
        assert f.attrs["tfckpt_format"] == "tfckpt-weights"
        assert f.attrs["step"] == 12 and f.attrs["source_format"] == "V2"
        assert isinstance(f["scope"], h5py.Group) and isinstance(f["scope/bf16"], h5py.Group)
        bf16 = f["scope/bf16:0"]
        assert bf16.attrs["name"] == "scope/bf16"
        assert bf16.attrs["dtype"] == "bfloat16" and bf16.attrs["stored_as"] == "bits"
        assert bf16.dtype == np.uint16 and list(bf16.attrs["shape"]) == [2, 2]
        assert bf16.attrs["source"] == prefix and bf16.attrs["step"] == 12
        assert bf16[()].tobytes() == values["scope/bf16"].tobytes()
        assert f["scope/bf16/Adam:0"].attrs["name"] == "scope/bf16/Adam"
        part = f["part/w:0"]
        assert part.attrs["partitions"] == 2 and part.shape == (4, 3)
        assert np.array_equal(part[()], values["part/w"])
        assert f["vocab:0"].attrs["stored_as"] == "bytes" and f["vocab:0"].shape == (2, 2)
        assert f["vocab:0"][0, 0].tobytes() == b"a\x00b"
        assert f["note:0"].shape == ()
    run = tfckpt("import-weights", out, tmp_path / "back", "--format", "json")
    assert run.code == 0, run.err
    reader = tf.train.load_checkpoint(json.loads(run.out)["checkpoint"])
    for name, want in values.items():
        assert bits_equal(reader.get_tensor(name), want), name
    assert reader.get_variable_to_dtype_map()["scope/bf16"] == tf.bfloat16


def test_npz_layout_one_array_per_variable_and_documented_metadata(tfckpt, tf, tmp_path):
    prefix = str(tmp_path / "src" / "model.ckpt-12")
    values = write_odd_checkpoint(tf, prefix)
    out = tmp_path / "w.npz"
    assert tfckpt("export-weights", prefix, out).code == 0
    with np.load(out, allow_pickle=False) as npz:
        meta = json.loads(npz["__tfckpt__"].tobytes())
        assert meta["tfckpt_format"] == "tfckpt-weights" and meta["step"] == 12
        assert meta["source"] == prefix and meta["source_format"] == "V2"
        assert meta["variables"]["scope/bf16"] == {
            "dtype": "bfloat16", "shape": [2, 2], "declared_shape": [2, 2], "kind": "model",
            "partitions": 1, "stored_as": "bits"}
        assert npz["scope/bf16"].dtype == np.uint16
        assert np.array_equal(npz["part/w"], values["part/w"])
        assert npz["vocab"].tobytes() == b"a\x00b\xff\xfeword"
        assert npz["vocab:lengths"].tolist() == [3, 0, 2, 4]
        assert npz["scope/half"].tobytes() == values["scope/half"].tobytes()
    run = tfckpt("import-weights", out, tmp_path / "back", "--format", "json")
    assert run.code == 0, run.err
    reader = tf.train.load_checkpoint(json.loads(run.out)["checkpoint"])
    for name, want in values.items():
        assert bits_equal(reader.get_tensor(name), want), name


def test_plain_npz_imports_by_key(tfckpt, tf, tmp_path):
    arrays = {"dense/kernel": np.arange(6, dtype=np.float32).reshape(2, 3),
              "dense/bias": np.zeros(3, np.float64), "names": np.array([b"ab", b"c"])}
    np.savez(tmp_path / "plain.npz", **arrays)
    run = tfckpt("import-weights", tmp_path / "plain.npz", tmp_path / "out", "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["source_format"] == "npz (plain)"
    reader = tf.train.load_checkpoint(str(tmp_path / "out" / "model.ckpt"))
    assert sorted(reader.get_variable_to_shape_map()) == sorted(arrays)
    assert bits_equal(reader.get_tensor("dense/kernel"), arrays["dense/kernel"])
    assert bits_equal(reader.get_tensor("dense/bias"), arrays["dense/bias"])
    assert reader.get_tensor("names").tolist() == [b"ab", b"c"]


@pytest.mark.parametrize("path", KERAS_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_keras_h5_imports_with_layer_weight_names(tfckpt, tf, tmp_path, path):
    run = tfckpt("import-weights", path, tmp_path / "out", "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["source_format"] == "keras-h5"
    reader = tf.train.load_checkpoint(report["checkpoint"])
    names = reader.get_variable_to_shape_map()
    model = keras_weights(path)
    assert model and set(model) <= set(names)
    for name, want in model.items():
        assert bits_equal(reader.get_tensor(name), want), name
    # optimizer state of a full-model file comes along under optimizer_weights/
    extra = sorted(set(names) - set(model))
    assert all(n.startswith("optimizer_weights/") for n in extra)


def test_force_replaces_an_existing_output_only_when_asked(tfckpt, tmp_path):
    out = tmp_path / "w.npz"
    out.write_bytes(b"old")
    run = tfckpt("export-weights", FIXTURES / "partitioned", out)
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: output {out} exists. Choose another path, or "
                                  f"pass --force to replace it once the new output is verified")
    assert out.read_bytes() == b"old"
    assert tfckpt("export-weights", FIXTURES / "partitioned", out, "--force").code == 0
    with np.load(out) as npz:
        assert "proj/weights" in npz.files
    assert sorted(os.listdir(tmp_path)) == ["w.npz"]


# ---------------------------------------------------------------------------------------
# Bad input: exit 2, one line, input untouched
# ---------------------------------------------------------------------------------------

def test_export_refuses_an_unknown_extension(tfckpt, tmp_path):
    src = FIXTURES / "partitioned"
    before = sha256_tree(src)
    run = tfckpt("export-weights", src, tmp_path / "w.txt")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: cannot tell the format of {tmp_path}/w.txt "
                                  f"from its extension .txt. Name it *.h5, *.hdf5, *.npz or *.safetensors")
    assert sha256_tree(src) == before and os.listdir(tmp_path) == []


def test_export_refuses_a_missing_source(tfckpt, tmp_path):
    run = tfckpt("export-weights", tmp_path / "nope", tmp_path / "w.h5")
    assert run.code == 2
    assert only_line(run.err).startswith(f"tfckpt: error: no such file or directory: {tmp_path}/nope.")
    assert os.listdir(tmp_path) == []


def test_export_refuses_an_output_inside_the_input(tfckpt, tmp_path):
    import shutil

    model_dir = tmp_path / "model_dir"
    shutil.copytree(FIXTURES / "custom-linear-regression" / "model_dir", model_dir)
    before = sha256_tree(model_dir)
    run = tfckpt("export-weights", model_dir, model_dir / "w.h5")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: output {model_dir}/w.h5 overlaps the input "
                                  f"{model_dir}. Choose an output path outside the input")
    assert sha256_tree(model_dir) == before


def test_import_refuses_files_that_are_not_weights(tfckpt, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    before = sha256_tree(text)
    run = tfckpt("import-weights", text, tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err) == (
        f"tfckpt: error: {text} is not an .h5, .npz or .safetensors weights file (found a text file of 6 "
        f"bytes). Pass a file written by export-weights or a Keras .h5")
    assert sha256_tree(text) == before and not (tmp_path / "out").exists()


def test_import_refuses_a_missing_input(tfckpt, tmp_path):
    run = tfckpt("import-weights", tmp_path / "w.h5", tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: no such file: {tmp_path}/w.h5. Pass an .h5, "
                                  f".npz or .safetensors weights file")


def test_import_refuses_an_hdf5_file_that_holds_no_weights(tfckpt, tmp_path):
    import h5py

    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    before = sha256_tree(path)
    run = tfckpt("import-weights", path, tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err) == (
        f"tfckpt: error: {path} is an HDF5 file but not a Keras weights file (no layer_names "
        f"attribute). Pass a file written by Keras model.save or save_weights")
    assert sha256_tree(path) == before and not (tmp_path / "out").exists()


def test_import_refuses_a_pickled_npz(tfckpt, tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, w=np.array([{"a": 1}], dtype=object))
    before = sha256_tree(path)
    run = tfckpt("import-weights", path, tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err) == (
        f"tfckpt: error: member 'w' of {path} holds Python objects (pickled). Save it as a "
        f"numeric or fixed-width array")
    assert sha256_tree(path) == before and sorted(os.listdir(tmp_path)) == ["objects.npz"]


def test_import_refuses_damaged_metadata(tfckpt, tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, __tfckpt__=np.frombuffer(b"{not json", dtype=np.uint8))
    run = tfckpt("import-weights", path, tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err).startswith(
        f"tfckpt: error: the __tfckpt__ member of {path} is not valid JSON (")


def test_import_refuses_a_truncated_hdf5_file(tfckpt, tmp_path):
    assert tfckpt("export-weights", FIXTURES / "partitioned", tmp_path / "w.h5").code == 0
    data = (tmp_path / "w.h5").read_bytes()
    (tmp_path / "w.h5").write_bytes(data[: len(data) // 2])
    before = sha256_tree(tmp_path / "w.h5")
    run = tfckpt("import-weights", tmp_path / "w.h5", tmp_path / "out")
    assert run.code == 2
    assert only_line(run.err).startswith(f"tfckpt: error: cannot open HDF5 file {tmp_path}/w.h5")
    assert sha256_tree(tmp_path / "w.h5") == before and not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["same", "parent"])
def test_import_refuses_an_output_overlapping_the_input(tfckpt, tmp_path, where):
    folder = tmp_path / "folder"
    folder.mkdir()
    weights = folder / "w.npz"
    assert tfckpt("export-weights", FIXTURES / "partitioned", weights).code == 0
    before = sha256_tree(folder)
    output = weights if where == "same" else folder
    run = tfckpt("import-weights", weights, output, "--force")
    assert run.code == 2
    assert only_line(run.err) == (f"tfckpt: error: output {output} overlaps the input "
                                  f"{weights}. Choose an output path outside the input")
    assert sha256_tree(folder) == before


def test_import_output_beside_an_input_of_the_same_stem_is_fine(tfckpt, tmp_path):
    assert tfckpt("export-weights", FIXTURES / "partitioned", tmp_path / "w.h5").code == 0
    assert tfckpt("import-weights", tmp_path / "w.h5", tmp_path / "w").code == 0


def test_import_refuses_a_negative_step(tfckpt, tmp_path):
    run = tfckpt("import-weights", tmp_path / "w.h5", tmp_path / "out", "--step", "-1")
    assert run.code == 2
    assert only_line(run.err) == "tfckpt: error: --step must be 0 or more, not -1"
