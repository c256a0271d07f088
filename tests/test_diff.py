"""`tfckpt diff`: every category, tolerances, exit codes, damaged input, real-world steps."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import real_world
from conftest import FIXTURES, REAL_WORLD

LINEAR = REAL_WORLD / "estimator-linear-wide-2017/model"
V1_SHARDED = REAL_WORLD / "contrib-learn-v1-sharded-tf0.11/model"


def save(tf, prefix, tensors: dict[str, np.ndarray], *, v1: bool = False) -> str:
    """A real checkpoint written by tf.compat.v1.train.Saver (V1 or V2)."""
    with tf.Graph().as_default():
        variables = {name: tf.compat.v1.Variable(value, name=name.replace("/", "_s_"))
                     for name, value in tensors.items()}
        version = tf.compat.v1.train.SaverDef.V1 if v1 else tf.compat.v1.train.SaverDef.V2
        saver = tf.compat.v1.train.Saver(var_list=variables, write_version=version)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(prefix), write_meta_graph=False)
    return str(prefix)


def run_json(tfckpt, *argv):
    run = tfckpt("diff", *map(str, argv), "--format", "json")
    return run.code, json.loads(run.out) if run.out else None, run.err


@pytest.fixture
def base():
    rng = np.random.default_rng(7)
    return {"dense/kernel": rng.standard_normal((4, 3)).astype(np.float32),
            "dense/bias": rng.standard_normal(3).astype(np.float32),
            "global_step": np.array(10, dtype=np.int64)}


def test_same_path_is_identical_exit_0(tfckpt):
    code, report, _ = run_json(tfckpt, LINEAR, LINEAR)
    assert code == 0
    assert report["summary"] == {"identical": 7, "changed": 0, "shape_changed": 0,
                                 "dtype_changed": 0, "only_in_a": 0, "only_in_b": 0,
                                 "renamed": 0, "differs": False}


def test_two_steps_of_a_real_model_dir(tfckpt, tf):
    code, report, _ = run_json(tfckpt, f"{LINEAR}@3", f"{LINEAR}@4")
    assert code == 1
    changed = {c["name"]: c for c in report["changed"]}
    assert len(changed) == 7
    a = tf.train.load_checkpoint(str(LINEAR / "model.ckpt-3")).get_tensor("linear/linear_model/x/weights")
    b = tf.train.load_checkpoint(str(LINEAR / "model.ckpt-4")).get_tensor("linear/linear_model/x/weights")
    a, b = a.astype(np.float64), b.astype(np.float64)
    record = changed["linear/linear_model/x/weights"]
    delta = np.abs(a - b)
    assert record["max_abs"] == delta.max()
    assert record["argmax"] == list(np.unravel_index(delta.argmax(), a.shape))
    assert record["mean_abs"] == pytest.approx(delta.mean(), rel=1e-12)
    assert record["rms"] == pytest.approx(np.sqrt((delta ** 2).mean()), rel=1e-12)
    assert record["rel_l2"] == pytest.approx(np.linalg.norm(a - b) / np.linalg.norm(a), rel=1e-9)
    cosine = np.dot(a.ravel(), b.ravel()) / np.linalg.norm(a) / np.linalg.norm(b)
    assert record["cosine"] == pytest.approx(cosine, rel=1e-9)
    assert record["mismatched"] == int(np.count_nonzero(a != b))


def test_kind_model_ignores_slots_and_step_on_v1_steps(tfckpt):
    code, report, _ = run_json(tfckpt, f"{V1_SHARDED}@1", f"{V1_SHARDED}@2", "--kind", "model")
    names = sorted(report["identical"] + [c["name"] for c in report["changed"]])
    assert len(names) == 8 and "global_step" not in names
    assert code == (1 if report["changed"] else 0)


def test_tolerances(tfckpt, tf, tmp_path, base):
    moved = dict(base, **{"dense/bias": base["dense/bias"] + np.float32(1e-3)})
    a, b = save(tf, tmp_path / "a", base), save(tf, tmp_path / "b", moved)
    code, report, _ = run_json(tfckpt, a, b)
    assert code == 1 and [c["name"] for c in report["changed"]] == ["dense/bias"]
    assert report["changed"][0]["mismatched"] == 3
    assert run_json(tfckpt, a, b, "--atol", "2e-3")[0] == 0
    first, second = base["dense/bias"].astype(np.float64), moved["dense/bias"].astype(np.float64)
    relative = np.max(np.abs(first - second) / np.abs(second))  # isclose scales by |b|
    assert run_json(tfckpt, a, b, "--rtol", str(relative * 1.01))[0] == 0
    assert run_json(tfckpt, a, b, "--rtol", str(relative * 0.5))[0] == 1


def test_shape_dtype_only_in_and_renamed(tfckpt, tf, tmp_path, base):
    other = {"dense/kernel": np.zeros((4, 5), np.float32),
             "dense/bias": base["dense/bias"].astype(np.float64),
             "model/step": base["global_step"],
             "extra": np.ones(2, np.float32)}
    base = dict(base, lonely=np.arange(3, dtype=np.int32))
    code, report, _ = run_json(tfckpt, save(tf, tmp_path / "a", base), save(tf, tmp_path / "b", other))
    assert code == 1
    assert report["shape_changed"] == [{"name": "dense/kernel", "a": [4, 3], "b": [4, 5]}]
    assert report["dtype_changed"] == [{"name": "dense/bias", "a": "float32", "b": "float64"}]
    assert report["renamed"] == [{"a": "global_step", "b": "model/step"}]
    assert (report["only_in_a"], report["only_in_b"]) == (["lonely"], ["extra"])


def test_renamed_copy_only(tfckpt, tf, tmp_path, base):
    renamed = {f"new_scope/{k}": v for k, v in base.items()}
    code, report, _ = run_json(tfckpt, save(tf, tmp_path / "a", base),
                               save(tf, tmp_path / "b", renamed))
    assert code == 1
    assert report["renamed"] == [{"a": k, "b": f"new_scope/{k}"} for k in sorted(base)]
    assert report["only_in_a"] == report["only_in_b"] == []


def test_partitioned_against_whole_is_the_same_variable(tfckpt, tf, tmp_path, base):
    kernel = base["dense/kernel"]
    parts = {"dense/bias": base["dense/bias"], "dense/kernel/part_0": kernel[:2],
             "dense/kernel/part_1": kernel[2:3], "dense/kernel/part_2": kernel[3:]}
    whole = {"dense/bias": base["dense/bias"], "dense/kernel": kernel}
    code, report, _ = run_json(tfckpt, save(tf, tmp_path / "p", parts), save(tf, tmp_path / "w", whole))
    assert code == 0
    assert report["identical"] == ["dense/bias", "dense/kernel"]
    assert report["partitioned"] == [{"a": "dense/kernel", "b": "dense/kernel"}]


def test_real_partitioned_variable_against_merged_copy(tfckpt, tf, tmp_path):
    with tf.Graph().as_default():
        weights = tf.compat.v1.get_variable(
            "w", shape=[9, 2], partitioner=tf.compat.v1.fixed_size_partitioner(3),
            initializer=tf.compat.v1.random_normal_initializer(seed=1))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(tmp_path / "sliced"), write_meta_graph=False)
            whole = session.run(tf.concat(list(weights), axis=0))
    listing = json.loads(tfckpt("ls", tmp_path / "sliced", "--format", "json").out)
    assert [(v["name"], v["shape"], v["partitions"]) for v in listing["variables"]] == [("w", [9, 2], 3)]
    merged = save(tf, tmp_path / "merged", {"w": whole})
    code, report, _ = run_json(tfckpt, tmp_path / "sliced", merged)
    assert (code, report["identical"]) == (0, ["w"])


def test_v1_against_v2(tfckpt, tf, tmp_path, base):
    code, report, _ = run_json(tfckpt, save(tf, tmp_path / "one", base, v1=True),
                               save(tf, tmp_path / "two", base))
    assert code == 0 and len(report["identical"]) == 3


def test_names_only_reads_no_data(tfckpt, tmp_path):
    for name in ("model.ckpt-4.index", "model.ckpt-4.data-00000-of-00001"):
        shutil.copy(LINEAR / name, tmp_path / name)
    (tmp_path / "model.ckpt-4.data-00000-of-00001").write_bytes(b"")  # data gone
    code, report, _ = run_json(tfckpt, LINEAR / "model.ckpt-3", tmp_path / "model.ckpt-4", "--names-only")
    assert code == 0 and len(report["identical"]) == 7


def test_corrupted_data_in_b_is_exit_2_and_no_report(tfckpt, tmp_path):
    for name in ("model.ckpt-1000.index", "model.ckpt-1000.data-00000-of-00001"):
        shutil.copy(LINEAR / name, tmp_path / name)
    data = tmp_path / "model.ckpt-1000.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    run = tfckpt("diff", LINEAR / "model.ckpt-1000", tmp_path / "model.ckpt-1000")
    assert run.code == 2
    assert run.out == ""
    assert "is corrupted in" in run.err and str(data) in run.err


def test_quiet_top_and_table(tfckpt):
    quiet = tfckpt("diff", "-q", f"{LINEAR}@3", f"{LINEAR}@4")
    assert (quiet.code, quiet.out, quiet.err) == (1, "", "")
    code, report, _ = run_json(tfckpt, f"{LINEAR}@3", f"{LINEAR}@4", "--top", "2")
    assert len(report["changed"]) == 2 and report["summary"]["changed"] == 7
    assert report["changed"][0]["rel_l2"] >= report["changed"][1]["rel_l2"]
    table = tfckpt("diff", f"{LINEAR}@3", f"{LINEAR}@4", "--kind", "model").out
    assert table.splitlines()[-1] == "DIFFERENT: 0 identical, 2 changed"


def test_missing_side_is_exit_2(tfckpt, tmp_path):
    run = tfckpt("diff", LINEAR, tmp_path / "nothing")
    assert run.code == 2 and run.err.startswith("tfckpt: error: no such file or directory")


def test_fixture_steps_of_one_model_dir(tfckpt):
    model_dir = FIXTURES / "dnn-classifier-v1/model_dir"
    code, report, _ = run_json(tfckpt, f"{model_dir}@20", f"{model_dir}@40", "--kind", "model")
    assert code == 1
    assert sorted(c["name"] for c in report["changed"]) == [
        f"dnn/{layer}/{part}" for layer in ("hiddenlayer_0", "hiddenlayer_1", "logits")
        for part in ("bias", "kernel")]
    assert all(0 < c["rel_l2"] < 1 and c["cosine"] > 0.5 for c in report["changed"])


def test_fixture_contrib_names_are_a_renamed_copy(tfckpt):
    code, report, _ = run_json(tfckpt, FIXTURES / "contrib-learn-names/model_dir",
                               FIXTURES / "dnn-classifier-v1/model_dir", "--kind", "model")
    assert code == 1
    assert report["renamed"] == [
        {"a": f"dnn/{layer}/{old}", "b": f"dnn/{layer}/{new}"}
        for layer in ("hiddenlayer_0", "hiddenlayer_1", "logits")
        for old, new in (("biases", "bias"), ("weights", "kernel"))]
    assert report["only_in_a"] == ["centered_bias_weight"]


def test_fixture_two_trainings_differ_everywhere(tfckpt):
    code, report, _ = run_json(tfckpt, FIXTURES / "saver-v1/model.ckpt-50",
                               FIXTURES / "dnn-classifier-v1/model_dir")
    assert code == 1
    assert report["identical"] == [] and report["only_in_a"] and report["only_in_b"]


def test_fixture_partitioned_against_merged(tfckpt, tf, tmp_path):
    source = FIXTURES / "partitioned"
    prefix = json.loads(tfckpt("ls", source, "--format", "json").out)["source"]
    reader = tf.train.load_checkpoint(prefix)
    whole = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    merged = save(tf, tmp_path / "merged", whole)
    listing = json.loads(tfckpt("ls", prefix, "--format", "json").out)
    assert {v["name"]: v["partitions"] for v in listing["variables"]}["proj/weights"] == 3
    code, report, _ = run_json(tfckpt, prefix, merged)
    assert (code, report["identical"]) == (0, sorted(whole))


DIFF_SOURCES = real_world.sources("diff")


@pytest.mark.parametrize("case, paths", DIFF_SOURCES, ids=real_world.ids(DIFF_SOURCES))
def test_every_real_world_pair_against_tensorflow(tfckpt, tf, case, paths):
    """Every pair of checkpoints the corpus offers: which variables are identical, changed,
    reshaped, retyped or on one side only, as TensorFlow's reader sees them."""
    a_path, b_path = paths
    code, report, _ = run_json(tfckpt, a_path, b_path)
    a, b = tf.train.load_checkpoint(str(a_path)), tf.train.load_checkpoint(str(b_path))
    a_names, b_names = set(a.get_variable_to_shape_map()), set(b.get_variable_to_shape_map())
    identical, changed, reshaped, retyped = set(), set(), set(), set()
    for name in a_names & b_names:
        x, y = np.asarray(a.get_tensor(name)), np.asarray(b.get_tensor(name))
        if x.dtype != y.dtype:
            retyped.add(name)
        elif x.shape != y.shape:
            reshaped.add(name)
        elif x.dtype == object:
            (identical if x.tolist() == y.tolist() else changed).add(name)
        else:
            (identical if x.tobytes() == y.tobytes() else changed).add(name)
    assert set(report["identical"]) == identical
    assert {c["name"] for c in report["changed"]} == changed
    assert {c["name"] for c in report["shape_changed"]} == reshaped
    assert {c["name"] for c in report["dtype_changed"]} == retyped
    renamed_a, renamed_b = {r["a"] for r in report["renamed"]}, {r["b"] for r in report["renamed"]}
    assert set(report["only_in_a"]) | renamed_a == a_names - b_names
    assert set(report["only_in_b"]) | renamed_b == b_names - a_names
    differs = bool(changed or reshaped or retyped or a_names ^ b_names)
    assert code == (1 if differs else 0)
