"""export-weights / import-weights with .safetensors: every value is read back with
safetensors' own loader and compared with TensorFlow's reader bit for bit; names follow
the rename rules; strings are refused in one line; the round trip is bit-identical."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, REAL_WORLD, only_line, sha256_tree
from test_weights import (FIXTURE_CHECKPOINTS, REAL_WORLD_CHECKPOINTS, assert_same_checkpoint,
                          bits_equal, lone_slice, tf_prefix)


# String tensors that are bookkeeping, not weights: left out of a safetensors file (with a
# note) rather than refused. TF2's object graph is the one the corpus holds.
BOOKKEEPING_STRINGS = {"_CHECKPOINTABLE_OBJECT_GRAPH"}


def load_file(path: str) -> dict[str, np.ndarray]:
    """safetensors' own numpy loader (imported here: the legacy env, which collects this
    module too, has no safetensors)."""
    from safetensors.numpy import load_file as load

    return load(path)


def numeric_names(tf, prefix: str) -> list[str]:
    """The checkpoint's variables but its bookkeeping strings (which must be only those)."""
    dtypes = tf.train.load_checkpoint(prefix).get_variable_to_dtype_map()
    strings = {name for name, dtype in dtypes.items() if dtype == tf.string}
    assert strings <= BOOKKEEPING_STRINGS, strings
    return sorted(set(dtypes) - strings)


def assert_file_matches_checkpoint(tf, path: Path, prefix: str) -> dict[str, str]:
    """safetensors' loader on the file, TensorFlow's reader on the checkpoint: same names
    (but bookkeeping strings), dtypes, shapes and bytes. Returns the file's metadata."""
    loaded = load_file(str(path))
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    assert sorted(loaded) == numeric_names(tf, prefix)
    for name in loaded:
        try:
            want = reader.get_tensor(name)
        except Exception:  # a partition's slot stored as one slice of a larger shape
            want = lone_slice(tf, prefix, name)
        assert bits_equal(loaded[name], want), name
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as handle:
        return handle.metadata()


def assert_same_values(tf, source_prefix: str, copy_prefix: str) -> None:
    """The whole checkpoint back (assert_same_checkpoint), or, when the source held
    bookkeeping strings, every other variable bit for bit."""
    if numeric_names(tf, source_prefix) == sorted(
            tf.train.load_checkpoint(source_prefix).get_variable_to_shape_map()):
        assert_same_checkpoint(tf, source_prefix, copy_prefix)
        return
    source, copy = tf.train.load_checkpoint(source_prefix), tf.train.load_checkpoint(copy_prefix)
    assert sorted(copy.get_variable_to_shape_map()) == numeric_names(tf, source_prefix)
    for name in copy.get_variable_to_shape_map():
        assert bits_equal(copy.get_tensor(name), source.get_tensor(name)), name


def saved_checkpoint(tf, directory: Path, variables: dict[str, np.ndarray], *, step=None) -> str:
    """A V2 checkpoint written by TensorFlow's own Saver."""
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        made = [v1.Variable(value, name=name) for name, value in variables.items()]
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            return v1.train.Saver(made).save(session, str(directory / "model.ckpt"),
                                             global_step=step)


def every_dtype() -> dict[str, np.ndarray]:
    import ml_dtypes

    rng = np.random.default_rng(7)
    values = rng.standard_normal((3, 4)).astype(np.float32)
    values[0, 0] = np.nan
    return {"f32": values, "f64": values.astype(np.float64), "f16": values.astype(np.float16),
            "bf16": values.astype(ml_dtypes.bfloat16), "i8": np.arange(-3, 3, dtype=np.int8),
            "u8": np.arange(250, 256, dtype=np.uint8), "i32": np.array(-7, np.int32),
            "i64": np.array([2**40, -1], np.int64), "flag": np.array([True, False, True]),
            "scope/empty": np.zeros((2, 0), np.float32)}


def test_every_numeric_dtype_is_kept_and_safetensors_reads_it(tfckpt, tf, tmp_path):
    prefix = saved_checkpoint(tf, tmp_path / "ckpt", every_dtype(), step=12)
    out = tmp_path / "w.safetensors"
    run = tfckpt("export-weights", tmp_path / "ckpt", out, "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["output_format"], report["variables"], report["step"]) == ("safetensors", 10, 12)
    metadata = assert_file_matches_checkpoint(tf, out, prefix)
    assert metadata == {"tfckpt_format": "tfckpt-weights", "format_version": "1",
                        "source": prefix, "source_format": "V2", "step": "12"}
    loaded = load_file(str(out))
    assert loaded["bf16"].dtype.name == "bfloat16" and loaded["flag"].dtype == np.bool_
    assert np.isnan(loaded["f32"][0, 0])


def test_header_comes_first_and_tensors_follow_in_its_order(tfckpt, tf, tmp_path):
    """The documented layout: u64 header length, JSON header, tensors back to back."""
    saved_checkpoint(tf, tmp_path / "ckpt", every_dtype())
    out = tmp_path / "w.safetensors"
    assert tfckpt("export-weights", tmp_path / "ckpt", out).code == 0
    data = out.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert (8 + length) % 8 == 0
    header = json.loads(data[8:8 + length])
    assert "step" not in header.pop("__metadata__")
    ranges = sorted(tuple(record["data_offsets"]) for record in header.values())
    assert ranges[0][0] == 0 and ranges[-1][1] == len(data) - 8 - length
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    assert header["bf16"]["dtype"] == "BF16" and header["flag"]["dtype"] == "BOOL"


def test_round_trip_through_safetensors_is_bit_identical(tfckpt, tf, tmp_path):
    prefix = saved_checkpoint(tf, tmp_path / "ckpt", every_dtype(), step=3)
    out = tmp_path / "w.safetensors"
    assert tfckpt("export-weights", tmp_path / "ckpt", out).code == 0
    run = tfckpt("import-weights", out, tmp_path / "back", "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["source_format"] == "safetensors (tfckpt)" and report["step"] == 3
    assert report["checkpoint"] == str(tmp_path / "back" / "model.ckpt-3")
    assert_same_checkpoint(tf, prefix, report["checkpoint"])


def test_rename_rules_and_presets_name_the_tensors(tfckpt, tf, tmp_path):
    kernel = np.arange(6, dtype=np.float32).reshape(2, 3)
    prefix = saved_checkpoint(tf, tmp_path / "ckpt", {
        "dense/kernel": kernel, "dense/kernel/Adam": kernel * 2, "dense/kernel/Adam_1": kernel * 3,
        "dense/bias": np.ones(3, np.float32), "beta1_power": np.array(0.9, np.float32),
        "global_step": np.array(40, np.int64)})
    out = tmp_path / "w.safetensors"
    run = tfckpt("export-weights", tmp_path / "ckpt", out, "--preset", "strip-optimizer",
                 "--map", "dense/kernel=layer/weight", "--drop", "bias$")
    assert run.code == 0, run.err
    loaded = load_file(str(out))
    assert sorted(loaded) == ["layer/weight"]
    reader = tf.train.load_checkpoint(prefix)
    assert bits_equal(loaded["layer/weight"], reader.get_tensor("dense/kernel"))


def test_strings_are_refused_in_one_line_unless_dropped(tfckpt, tf, tmp_path):
    saved_checkpoint(tf, tmp_path / "ckpt", {"w": np.ones(2, np.float32),
                                             "vocab": np.array([b"a", b"bc"])})
    out = tmp_path / "w.safetensors"
    run = tfckpt("export-weights", tmp_path / "ckpt", out)
    assert run.code == 2
    assert only_line(run.err) == (
        "tfckpt: error: safetensors cannot hold strings: 1 variable(s) such as 'vocab'. "
        "Drop them with --drop REGEX, or export to .h5 or .npz")
    assert not out.exists()
    assert tfckpt("export-weights", tmp_path / "ckpt", out, "--drop", "^vocab$").code == 0
    assert sorted(load_file(str(out))) == ["w"]


def test_rename_options_are_refused_for_h5_and_npz(tfckpt, tmp_path):
    run = tfckpt("export-weights", FIXTURES / "partitioned", tmp_path / "w.npz", "--drop", "x")
    assert run.code == 2
    assert only_line(run.err) == (
        "tfckpt: error: --preset, --map, --drop and the other rename options apply to "
        ".safetensors outputs. Rename first (tfckpt rename), then export")
    assert os.listdir(tmp_path) == []


def test_a_safetensors_file_from_elsewhere_imports_by_name(tfckpt, tf, tmp_path):
    """A file written by safetensors itself (no tfckpt metadata)."""
    from safetensors.numpy import save_file

    values = {"a/w": np.arange(12, dtype=np.float16).reshape(3, 4), "b": np.array([1, -2], np.int32)}
    save_file(values, str(tmp_path / "plain.safetensors"), metadata={"format": "np"})
    run = tfckpt("import-weights", tmp_path / "plain.safetensors", tmp_path / "back",
                 "--format", "json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["source_format"] == "safetensors (plain)" and report["step"] is None
    reader = tf.train.load_checkpoint(report["checkpoint"])
    assert sorted(reader.get_variable_to_shape_map()) == ["a/w", "b"]
    for name, value in values.items():
        assert bits_equal(reader.get_tensor(name), value), name


def test_import_refuses_a_truncated_safetensors_file(tfckpt, tf, tmp_path):
    saved_checkpoint(tf, tmp_path / "ckpt", every_dtype())
    out = tmp_path / "w.safetensors"
    assert tfckpt("export-weights", tmp_path / "ckpt", out).code == 0
    out.write_bytes(out.read_bytes()[:-5])
    run = tfckpt("import-weights", out, tmp_path / "back")
    assert run.code == 2
    assert only_line(run.err).startswith(f"tfckpt: error: the tensors of {out} do not tile its ")
    assert not (tmp_path / "back").exists()


@pytest.mark.parametrize("checkpoint", FIXTURE_CHECKPOINTS)
def test_fixture_checkpoints_through_safetensors(tfckpt, tf, tmp_path, checkpoint):
    src = str(FIXTURES / checkpoint)
    before = sha256_tree(Path(src).parent)
    out = tmp_path / "w.safetensors"
    run = tfckpt("export-weights", src, out, "--format", "json")
    assert run.code == 0, run.err
    prefix = tf_prefix(tf, src)
    assert assert_file_matches_checkpoint(tf, out, prefix)["source"] == prefix
    left_out = len(tf.train.load_checkpoint(prefix).get_variable_to_shape_map()) - len(
        numeric_names(tf, prefix))
    assert (f"note: left out {left_out} bookkeeping string(s)" in run.err) == (left_out > 0)
    run = tfckpt("import-weights", out, tmp_path / "back", "--format", "json")
    assert run.code == 0, run.err
    assert_same_values(tf, prefix, json.loads(run.out)["checkpoint"])
    assert sha256_tree(Path(src).parent) == before


# test_weights' real-world checkpoints, and the model dirs of the corpus they leave out
# (wide-deep servo export, custom CNN, taxi, crossed wide-deep, char-rnn, tflearn).
SAFETENSORS_REAL_WORLD = REAL_WORLD_CHECKPOINTS + [
    "contrib-learn-wide-deep-servo-export-tf1.5/trained_model",
    "estimator-custom-cnn-tflayers-dropout-tf1.3/mnist_convnet_model",
    "estimator-linearregressor-taxi-queue-tf1.8/taxi_trained",
    "estimator-wide-deep-crossed-batch100-tf1.14/model",
    "saver-char-rnn-mixed-vocab-tf1.0/save/first",
    "tflearn-cnn-bool-var-abs-state-tf1.1/model.tflearn",
]


@pytest.mark.parametrize("case", SAFETENSORS_REAL_WORLD)
def test_real_world_checkpoints_through_safetensors(tfckpt, tf, tmp_path, case):
    src = str(REAL_WORLD / case)
    out = tmp_path / "w.safetensors"
    run = tfckpt("export-weights", src, out)
    assert run.code == 0, run.err
    prefix = tf_prefix(tf, src)
    assert_file_matches_checkpoint(tf, out, prefix)
    run = tfckpt("import-weights", out, tmp_path / "back", "--format", "json")
    assert run.code == 0, run.err
    assert_same_values(tf, prefix, json.loads(run.out)["checkpoint"])
