"""The commands that run graphs refuse risky ops before running anything:
a Saver checkpoint whose prediction reads a file, and a frozen graph that does."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest


@pytest.fixture(scope="module")
def risky(tmp_path_factory, tf):
    """y = x * w + len(read_file(secret)): a model that reads a file when it predicts."""
    root = tmp_path_factory.mktemp("risky")
    secret = root / "secret.txt"
    secret.write_text("four")
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None], name="x")
        w = v1.get_variable("w", initializer=np.float32(2.0))
        length = tf.cast(tf.strings.length(tf.io.read_file(str(secret))), tf.float32)
        y = tf.identity(x * w + length, name="y")
        saver = v1.train.Saver()
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            saver.save(session, str(root / "model.ckpt"), global_step=3)
            frozen = v1.graph_util.convert_variables_to_constants(session, graph.as_graph_def(), ["y"])
    (root / "frozen.pb").write_bytes(frozen.SerializeToString())
    (root / "in.json").write_text(json.dumps({"x": [1.0, 2.0]}))
    return root


@pytest.mark.parametrize("argv", [
    ("predict", "{root}/frozen.pb", "--input", "{root}/in.json"),
    ("verify", "{root}/frozen.pb", "{root}/frozen.pb"),
    ("export", "{root}/model.ckpt-3", "{root}/out", "--outputs", "y=y:0"),
    ("freeze", "{root}/model.ckpt-3", "{root}/out.pb", "--outputs", "y=y:0"),
])
def test_risky_graph_is_refused_naming_the_op(tfckpt, risky, argv):
    run = tfckpt(*[a.format(root=risky) for a in argv])
    assert run.code == 2 and run.out == ""
    assert "ReadFile (reads files: node 'ReadFile' in the graph)" in run.err
    assert "pass --allow-risky-ops only if you trust where it came from" in run.err
    assert run.err.count("\n") == 1
    assert not {"out", "out.pb"} & set(os.listdir(risky))


def test_allow_risky_ops_runs_it(tfckpt, risky):
    run = tfckpt("predict", risky / "frozen.pb", "--input", risky / "in.json", "--allow-risky-ops",
                 "--format", "json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["outputs"]["y"] == [6.0, 8.0]
    exported = tfckpt("export", risky / "model.ckpt-3", risky / "out", "--outputs", "y=y:0",
                      "--allow-risky-ops")
    assert exported.code == 0, exported.err
