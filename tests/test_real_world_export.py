"""Acceptance for #18: every real-world case that holds a model exports and freezes, and
what tfckpt wrote reproduces the ORIGINAL graph's own forward pass.

The reference is tests/oracle.py: the author's artifact run by plain TensorFlow with no
tfckpt code (inputs replaced by placeholders, dropout off where the oracle hints say so,
restored by its own Saver). The export is read back the same way: the SavedModel by
`tf.saved_model.load` and its serving_default signature, the frozen graph by
`import_graph_def` and a session. Nothing of tfckpt's rebuild sits on either side.

How the two are paired: a graph with one input takes the reference rows under whatever
name tfckpt gave it (the author's Python named it, the graph does not); with several,
the names must be the feature names the oracle lists. Outputs are paired by key; an
oracle's `class_ids` may be called `classes` by tfckpt when it holds the same integers
(tf.contrib.learn's name for them).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import oracle
from fixture_cases import plain_frozen_predict

ROWS = 7  # not a multiple of the fixed batches 50, 100 and 457
CASES = oracle.cases()
MODELS = sorted(name for name, entry in CASES.items()
                if entry["oracle"] and entry["expect"]["export"]["applies"]
                and entry["env"] == "main")
ATOL = 1e-5  # float32 graphs re-imported: the same kernels, summation order may differ


@pytest.fixture(scope="module", autouse=True)
def _close_sessions():
    yield
    oracle.close_sessions()


@pytest.fixture(scope="module")
def reference():
    results: dict[str, tuple[dict, dict]] = {}

    def get(name: str) -> tuple[dict, dict]:
        if name not in results:
            feeds = oracle.reference_inputs(name, ROWS, seed=3)
            results[name] = feeds, oracle.run_original(name, feeds)
        return results[name]

    return get


def _source(name: str) -> str:
    return str(oracle.case_dir(name) / CASES[name]["export_source"])


def _renamed_inputs(feeds: dict, names: list[str]) -> dict:
    """The reference rows under the export's input names (see the module docstring)."""
    if len(feeds) == 1 and len(names) == 1:
        return {names[0]: next(iter(feeds.values()))}
    assert sorted(names) == sorted(feeds), ("input names", sorted(names), sorted(feeds))
    return feeds


def _assert_reproduces(name: str, expected: dict, got: dict) -> None:
    spec = oracle.oracle_spec(name)
    roles = {item["key"]: item.get("role") for item in spec["outputs"]}
    for key, want in expected.items():
        have = key if key in got else ("classes" if roles.get(key) == "class_ids" else key)
        assert have in got, (name, "output missing", key, sorted(got))
        value = np.asarray(got[have])
        want = np.asarray(want)
        assert value.shape[0] == want.shape[0], (name, key, value.shape, want.shape)
        value = value.reshape(want.shape)  # [N, 1] against a per-example scalar, and back
        if want.dtype.kind == "f":
            np.testing.assert_allclose(value, want, rtol=0, atol=ATOL, err_msg=f"{name} {key}")
        elif want.dtype.kind in "SO":
            assert [_text(v) for v in value.ravel()] == [_text(v) for v in want.ravel()], key
        else:
            np.testing.assert_array_equal(value.astype(np.int64), want.astype(np.int64),
                                          err_msg=f"{name} {key}")


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _served(tf, path, feeds: dict) -> dict:
    """serving_default of the export, fed in chunks of its batch when it fixes one."""
    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    specs = function.structured_input_signature[1]
    feeds = _renamed_inputs(feeds, list(specs))
    batch = {spec.shape[0] for spec in specs.values() if spec.shape.rank}
    batch = batch.pop() if len(batch) == 1 else None
    parts = []
    for chunk, rows in oracle_chunks(feeds, batch):
        tensors = {key: tf.constant(_to_rank(value, specs[key].shape.rank), dtype=specs[key].dtype)
                   for key, value in chunk.items()}
        parts.append({key: value.numpy()[:rows * _per_row(value, chunk)]
                      for key, value in function(**tensors).items()})
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _per_row(value, chunk: dict) -> int:
    """Output rows per input row (a char-RNN gives one per time step)."""
    given = len(next(iter(chunk.values())))
    return max(1, value.shape[0] // given) if value.shape.rank else 1


def oracle_chunks(feeds: dict, batch: int | None):
    """(chunk, real rows in it): all at once, or `batch` rows at a time, the last padded
    with copies of its last row."""
    rows = len(next(iter(feeds.values())))
    if not batch:
        yield feeds, rows
        return
    for start in range(0, rows, batch):
        chunk = {key: value[start:start + batch] for key, value in feeds.items()}
        real = len(next(iter(chunk.values())))
        chunk = {key: np.concatenate([value, np.repeat(value[-1:], batch - real, axis=0)])
                 for key, value in chunk.items()}
        yield chunk, real


def _to_rank(value: np.ndarray, rank: int | None) -> np.ndarray:
    value = np.asarray(value)
    if rank is None or value.ndim >= rank:
        return value
    return value.reshape(value.shape[:1] + (1,) * (rank - value.ndim) + value.shape[1:])


def _frozen(path, feeds: dict) -> dict:
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    names = [node.name for node in graph_def.node if node.op == "Placeholder"]
    return plain_frozen_predict(path, _renamed_inputs(feeds, names))


@pytest.mark.parametrize("name", MODELS)
def test_export_reproduces_the_original_graph(tfckpt, tf, tmp_path, reference, name):
    feeds, expected = reference(name)
    out = tmp_path / "out"
    run = tfckpt("export", _source(name), out)
    assert run.code == 0, run.err
    _assert_reproduces(name, expected, _served(tf, out, feeds))


@pytest.mark.parametrize("name", MODELS)
def test_predict_and_verify_on_the_source(tfckpt, tf, tmp_path, reference, name):
    """predict rebuilds the source itself and gives the original's outputs; verify of the
    source against its export passes: neither ends in a traceback or a signal."""
    feeds, expected = reference(name)
    out = tmp_path / "out"
    assert tfckpt("export", _source(name), out, "-q").code == 0
    specs = tf.saved_model.load(str(out)).signatures["serving_default"].structured_input_signature[1]
    named = _renamed_inputs(feeds, list(specs))
    np.savez(tmp_path / "in.npz", **{key: value.astype(bytes) if value.dtype.kind == "O" else value
                                     for key, value in named.items()})
    run = tfckpt("predict", _source(name), "--input", tmp_path / "in.npz", "--format", "json")
    assert run.code == 0, run.err
    got = {key: np.asarray(value) for key, value in json.loads(run.out)["outputs"].items()}
    _assert_reproduces(name, expected, got)
    run = tfckpt("verify", _source(name), out, "--input", tmp_path / "in.npz")
    assert run.code == 0, run.err + run.out


@pytest.mark.parametrize("name", MODELS)
def test_freeze_reproduces_the_original_graph(tfckpt, tf, tmp_path, reference, name):
    feeds, expected = reference(name)
    out = tmp_path / "frozen.pb"
    run = tfckpt("freeze", _source(name), out)
    assert run.code == 0, run.err
    _assert_reproduces(name, expected, _frozen(out, feeds))
