"""migrate.rewrite / bundle_writer: our V2 bundles read by TensorFlow's reader and
restored by a v1 Saver; rename's copy and re-encode paths, V1 -> V2, casts,
strings, bfloat16, damaged sources."""

from __future__ import annotations

import json
import os
import re
import shutil

import ml_dtypes
import numpy as np
import pytest

from conftest import FIXTURES
from inspectors.formats.bundle import read_v2_index
from inspectors.errors import VerificationFailed
from migrate.write import bundle_writer, byte_ranges
from migrate.write.rewrite import verify_against, write_bundle
from test_rename import load, same, tree_digest

SAVER_V1 = FIXTURES / "saver-v1"
RNN10 = FIXTURES / "rnn-tf1.0-names" / "tf1.0"


def _tensors():
    rng = np.random.RandomState(0)
    return [("w", rng.rand(30, 7).astype(np.float32)), ("step", np.array(12, np.int64)),
            ("mask", np.array([True, False, True])), ("f64", rng.rand(3).astype(np.float64)),
            ("words", np.array([[b"a", b""], ["h\u00e9".encode(), b"x" * 300]], dtype=object)),
            ("word", np.array(b"scalar", dtype=object)), ("i8", np.arange(-3, 3, dtype=np.int8)),
            ("bf", rng.rand(5).astype(ml_dtypes.bfloat16)), ("half", rng.rand(2, 2).astype(np.float16)),
            ("empty", np.zeros([0, 4], np.float32)), ("u16", np.arange(4, dtype=np.uint16))]


def test_write_bundle_is_read_by_tensorflow_bit_for_bit(tf, tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    tensors = _tensors()
    write_bundle(prefix, reversed(tensors))  # any arrival order
    assert verify_against(prefix, tensors) == len(tensors)
    reader = tf.train.load_checkpoint(prefix)
    assert sorted(reader.get_variable_to_shape_map()) == sorted(n for n, _ in tensors)
    dtypes = reader.get_variable_to_dtype_map()
    for name, value in tensors:
        got = reader.get_tensor(name)  # as TensorFlow hands it back: no cast
        if value.dtype == object:
            # tf.string comes back as an object array of bytes, a scalar one as bytes
            assert dtypes[name] == tf.string, name
            got = np.asarray(got, dtype=object)
            assert got.shape == value.shape and got.ravel().tolist() == value.ravel().tolist(), name
        else:
            assert dtypes[name] == tf.as_dtype(value.dtype), name
            assert (got.dtype, got.shape) == (value.dtype, value.shape), name
            assert got.tobytes() == value.tobytes(), name
    assert dtypes["bf"] == tf.bfloat16


def test_write_bundle_restores_with_a_v1_saver(tf, tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    tensors = dict(_tensors())
    write_bundle(prefix, tensors.items())
    graph = tf.Graph()
    with graph.as_default():
        w = tf.compat.v1.get_variable("w", [30, 7])
        words = tf.compat.v1.get_variable("words", dtype=tf.string, initializer=tf.constant([[b""] * 2] * 2))
        bf = tf.compat.v1.get_variable("bf", [5], dtype=tf.bfloat16)
        with tf.compat.v1.Session() as session:
            tf.compat.v1.train.Saver([w, words, bf]).restore(session, prefix)
            assert same(session.run(w), tensors["w"])
            assert session.run(words).tolist() == tensors["words"].tolist()
            assert session.run(bf).tobytes() == tensors["bf"].tobytes()


def test_many_index_blocks(tf, tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_writer, "BLOCK_SIZE", 600)
    prefix = str(tmp_path / "m.ckpt")
    tensors = [(f"scope/v{i:04d}", np.full([2], i, np.int32)) for i in range(500)]
    write_bundle(prefix, tensors)
    reader = tf.train.load_checkpoint(prefix)
    assert all(int(reader.get_tensor(name)[1]) == i for i, (name, _) in enumerate(tensors))


def test_verify_against_finds_a_flipped_byte_and_extra_names(tmp_path):
    prefix = str(tmp_path / "m.ckpt")
    write_bundle(prefix, [("a", np.arange(8, dtype=np.float32)), ("b", np.ones(2, np.float32))])
    with pytest.raises(VerificationFailed, match="holds 1 unexpected variable"):
        verify_against(prefix, [("a", np.arange(8, dtype=np.float32))])
    with pytest.raises(VerificationFailed, match="'a' .* differs"):
        verify_against(prefix, [("a", np.arange(8, dtype=np.float32) + 1), ("b", np.ones(2, np.float32))])
    data = tmp_path / "m.ckpt.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[5] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(VerificationFailed, match="does not match its index"):
        verify_against(prefix, [("a", np.arange(8, dtype=np.float32)), ("b", np.ones(2, np.float32))])


def test_rename_only_copies_bytes_and_reuses_the_crc(tfckpt, tmp_path):
    run = tfckpt("rename", str(RNN10), str(tmp_path / "out"), "--add-prefix", "old/", "--format", "json")
    assert run.code == 0, run.err
    result = json.loads(run.out)["output"]
    assert (result["copied"], result["encoded"], result["written"]) == (4, 0, 4)
    source = read_v2_index(str(RNN10 / "model.ckpt-30")).entries
    written = read_v2_index(result["prefix"]).entries
    assert all(written["old/" + name].crc32c == entry.crc32c for name, entry in source.items())
    assert (tmp_path / "out" / "checkpoint").read_text() == (
        'model_checkpoint_path: "model.ckpt-30"\nall_model_checkpoint_paths: "model.ckpt-30"\n')


def test_v1_input_gives_v2_output(tfckpt, tf, tmp_path):
    run = tfckpt("rename", str(SAVER_V1), str(tmp_path / "out"), "--strip-prefix", "layer")
    assert run.code == 0, run.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "checkpoint", "model.ckpt-50.data-00000-of-00001", "model.ckpt-50.index"]
    got, original = load(tf, tmp_path / "out"), load(tf, SAVER_V1 / "model.ckpt-50")
    assert sorted(got) == ["1/biases", "1/weights", "2/biases", "2/weights", "global_step"]
    assert all(same(got[name.removeprefix("layer")], value) for name, value in original.items())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
def test_cast_floating_tensors(tfckpt, tf, tmp_path, dtype):
    run = tfckpt("rename", str(SAVER_V1), str(tmp_path / "out"), "--cast", dtype)
    assert run.code == 0, run.err
    got, original = load(tf, tmp_path / "out"), load(tf, SAVER_V1 / "model.ckpt-50")
    target = np.dtype(getattr(ml_dtypes, dtype)) if dtype == "bfloat16" else np.dtype(dtype)
    for name, value in original.items():
        want = value if value.dtype.kind != "f" else value.astype(target)
        assert same(got[name], want), name
    plan = json.loads(tfckpt("rename", str(SAVER_V1), "--cast", dtype, "--dry-run", "--format", "json").out)
    actions = {e["old"]: e["action"] for e in plan["entries"]}
    assert actions["global_step"] == "unchanged"
    assert actions["layer1/weights"] == ("unchanged" if dtype == "float32" else "cast")


def test_strings_and_bfloat16_round_trip_through_rename(tfckpt, tf, tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        vocab = tf.compat.v1.get_variable("vocab", initializer=tf.constant([b"red", b"", b"gr\xc3\xbcn"]))
        bf = tf.compat.v1.get_variable("bf", initializer=tf.constant([1.5, -2.25], dtype=tf.bfloat16))
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver().save(session, str(tmp_path / "v2" / "m.ckpt"))
            # TF's V1 writer refuses bfloat16: that file holds the strings only
            (tmp_path / "v1").mkdir()
            tf.compat.v1.train.Saver([vocab], write_version=tf.compat.v1.train.SaverDef.V1).save(
                session, str(tmp_path / "v1" / "m.ckpt"))
    for name, source in (("v2", tmp_path / "v2" / "m.ckpt"), ("v1", tmp_path / "v1" / "m.ckpt")):
        run = tfckpt("rename", str(source), str(tmp_path / f"out-{name}"), "--map", "vocab=words",
                     "--format", "json")
        assert run.code == 0, run.err
        got = load(tf, tmp_path / f"out-{name}")
        assert got["words"].tolist() == [b"red", b"", b"gr\xc3\xbcn"]
        if name == "v2":
            assert got["bf"].dtype == ml_dtypes.bfloat16 and got["bf"].tolist() == [1.5, -2.25]
        assert json.loads(run.out)["output"]["copied"] == (2 if name == "v2" else 0)


def test_damaged_source_fails_verification_and_leaves_no_output(tfckpt, tmp_path):
    source = tmp_path / "src"
    shutil.copytree(RNN10, source)
    data = source / "model.ckpt-30.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    before = tree_digest(source)
    run = tfckpt("rename", str(source), str(tmp_path / "out"), "--add-prefix", "x/")
    assert run.code == 1
    assert run.err.startswith("tfckpt: error: variable 'x/rnn/basic_lstm_cell/biases' copied from ")
    assert run.err.endswith("does not match the source's checksum: the source data is damaged\n")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]  # no temp debris
    assert tree_digest(source) == before


def test_compare_ranges_across_windows_and_unaligned_offsets(tmp_path, monkeypatch):
    import crc32c

    monkeypatch.setattr(byte_ranges, "WINDOW", 4096 + 7)  # several windows, none page-aligned
    rng = np.random.RandomState(1)
    body = rng.bytes(50_000)
    (tmp_path / "a").write_bytes(b"x" * 12_345 + body)
    (tmp_path / "b").write_bytes(b"y" * 999 + body + b"tail")
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    assert byte_ranges.compare_ranges(a, 12_345, b, 999, len(body)) == crc32c.crc32c(body)
    assert byte_ranges.compare_ranges(a, 0, b, 0, 0) == 0
    for position in (0, 4095, 4103, 30_000, len(body) - 1):
        changed = bytearray(body)
        changed[position] ^= 0x01
        (tmp_path / "c").write_bytes(b"z" * 999 + bytes(changed))
        with pytest.raises(byte_ranges.RangeMismatch, match="they differ within bytes"):
            byte_ranges.compare_ranges(a, 12_345, str(tmp_path / "c"), 999, len(body))
    with pytest.raises(byte_ranges.RangeMismatch, match="ends before byte"):
        byte_ranges.compare_ranges(b, 999, a, 12_345, len(body) + 4)  # `a` lacks the tail


def test_a_copy_that_differs_from_its_source_fails_and_leaves_nothing(tfckpt, tmp_path, monkeypatch):
    """The kernel copy is trusted for nothing: a wrong byte in the copy is caught."""
    real_copy = bundle_writer.copy_range

    def copy_then_damage(src_fd, dst_fd, offset, size, *, dst_offset):
        real_copy(src_fd, dst_fd, offset, size, dst_offset=dst_offset)
        os.pwrite(dst_fd, b"\x00\x01", dst_offset + size // 2)

    monkeypatch.setattr(bundle_writer, "copy_range", copy_then_damage)
    before = tree_digest(RNN10)
    run = tfckpt("rename", str(RNN10), str(tmp_path / "out"), "--add-prefix", "x/")
    assert run.code == 1
    assert re.fullmatch(r"tfckpt: error: variable 'x/(\S+)' came out of the copy different from "
                        r"its source '\1' in \S+/model\.ckpt-30\.data-00000-of-00001 \(they "
                        r"differ within bytes 0-\d+ of \d+\)\n", run.err), run.err
    assert list(tmp_path.iterdir()) == []
    assert tree_digest(RNN10) == before


def test_keras_h5_source(tfckpt, tf, tmp_path):
    run = tfckpt("rename", str(FIXTURES / "keras-h5" / "weights.h5"), str(tmp_path / "out"),
                 "--add-prefix", "keras/")
    assert run.code == 0, run.err
    got = load(tf, tmp_path / "out")
    assert got and all(name.startswith("keras/") for name in got)
    assert (tmp_path / "out" / "checkpoint").read_text().startswith('model_checkpoint_path: "weights"')
