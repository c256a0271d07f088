"""Reasons, not "Graph execution error:": a graph that fails while it runs ends in one
line naming the node and TensorFlow's own message.

The graphs are built with plain TensorFlow; each fails at run time on inputs its
placeholders accept: a CheckNumerics on log(x) for x < 0, a Reshape to a shape
computed from the batch, an Assert. The reason each test expects is the one plain
TensorFlow gives for the same graph and inputs.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import only_line

BAD_ROWS = [[-1.0, 2.0, 3.0]]
NEGATIVE_SUM = [[-5.0, 1.0, 1.0]]


def _graph(tf, kind: str):
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        if kind == "check_numerics":
            y = tf.debugging.check_numerics(tf.math.log(x), "log of x is bad", name="check")
        elif kind == "reshape":
            y = tf.reshape(x, tf.stack([5, tf.shape(x)[0]]), name="bad_reshape")
        else:
            assertion = tf.debugging.Assert(tf.reduce_all(x > 0), [x], name="positive")
            with tf.control_dependencies([assertion]):
                y = tf.identity(x)
        tf.identity(y, name="y")
    return graph


def _plain_tf_reason(tf, graph) -> tuple[str, str]:
    """(failing node, first line of TensorFlow's message after its headers)."""
    with tf.compat.v1.Session(graph=graph) as session:
        with pytest.raises(tf.errors.InvalidArgumentError) as caught:
            session.run("y:0", {"x:0": np.array(BAD_ROWS, np.float32)})
    lines = [line.strip() for line in caught.value.message.splitlines()]
    message = [line for line in lines if line and not line.startswith(
        ("Graph execution error", "Detected at node", "File ", "Node:", "[[", "Original stack"))]
    return caught.value.op.name if caught.value.op is not None else None, message[0]


@pytest.mark.parametrize("kind", ["check_numerics", "reshape", "assert"])
def test_frozen_graph_failing_at_run_time_names_node_and_reason(tfckpt, tf, tmp_path, kind):
    graph = _graph(tf, kind)
    node, reason = _plain_tf_reason(tf, graph)
    path = tmp_path / "graph.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    (tmp_path / "x.json").write_text(json.dumps({"x": BAD_ROWS}))
    run = tfckpt("predict", path, "--input", tmp_path / "x.json", "--outputs", "y=y:0")
    assert run.code == 2
    line = only_line(run.err)
    assert "Graph execution error" not in line
    assert line.startswith(f"tfckpt: error: {path} cannot run on these inputs: ")
    assert reason in line
    assert line.endswith("(InvalidArgumentError)")
    if node is not None:
        assert f"node {node!r}: {reason}" in line


def test_checkpoint_failing_at_run_time_names_node_and_reason(tfckpt, tf, tmp_path):
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, 3], name="x")
        w = v1.get_variable("w", initializer=np.ones((3, 1), np.float32))
        y = tf.debugging.check_numerics(tf.math.log(tf.matmul(x, w)), "log of the score", name="check")
        tf.identity(y, name="y")
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            (tmp_path / "model").mkdir()
            v1.train.Saver().save(session, str(tmp_path / "model" / "model.ckpt"))
    with v1.Session(graph=graph) as session:
        session.run(v1.global_variables_initializer())
        with pytest.raises(tf.errors.InvalidArgumentError) as caught:
            session.run(y, {x: np.array(NEGATIVE_SUM, np.float32)})
    reason = next(line for line in caught.value.message.splitlines()
                  if line.startswith("log of the score"))
    (tmp_path / "x.json").write_text(json.dumps({"x": NEGATIVE_SUM}))
    run = tfckpt("predict", tmp_path / "model", "--input", tmp_path / "x.json", "--outputs", "y=y:0")
    assert run.code == 2
    line = only_line(run.err)
    assert f"node {caught.value.op.name!r}: {reason} (InvalidArgumentError)" in line


def test_saved_model_failing_at_run_time_gives_the_reason(tfckpt, tf, tmp_path):
    v1 = tf.compat.v1
    graph = _graph(tf, "check_numerics")
    out = tmp_path / "sm"
    with v1.Session(graph=graph) as session:
        builder = v1.saved_model.Builder(str(out))
        signature = v1.saved_model.signature_def_utils.predict_signature_def(
            {"x": graph.get_tensor_by_name("x:0")}, {"y": graph.get_tensor_by_name("y:0")})
        builder.add_meta_graph_and_variables(session, ["serve"],
                                             signature_def_map={"serving_default": signature})
        builder.save()
    loaded = tf.saved_model.load(str(out)).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError) as caught:
        loaded(x=tf.constant(BAD_ROWS))
    reason = next(line.strip() for line in caught.value.message.splitlines()
                  if "log of x is bad" in line)
    (tmp_path / "x.json").write_text(json.dumps({"x": BAD_ROWS}))
    run = tfckpt("predict", out, "--input", tmp_path / "x.json")
    assert run.code == 2
    line = only_line(run.err)
    assert "Graph execution error" not in line
    assert reason in line and line.endswith("(InvalidArgumentError)")


def test_reason_parser_keeps_node_and_message_only():
    from migrate.reasons import error_line

    text = ("Graph execution error:\n\nDetected at node 'a/b' defined at (most recent call last):\n"
            "    File \"x.py\", line 6, in <module>\nNode: 'a/b'\nbad things : here\n"
            "\t [[{{node a/b}}]]\n\nOriginal stack trace for 'a/b':\n  File \"x.py\", line 6\n")
    assert error_line(RuntimeError(text)) == "node 'a/b': bad things : here (RuntimeError)"
    assert error_line(ValueError("plain message")) == "plain message (ValueError)"
