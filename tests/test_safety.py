"""migrate.safety: risky-op refusal on synthesized graphs and real third-party graphs."""

from __future__ import annotations

import pytest

from conftest import REAL_WORLD
from inspectors.errors import EXIT_BAD_INPUT, TfckptError
from migrate.safety import RiskyOp, RiskyOpsRefused, find_risky_ops, refuse_risky_ops

LINEAR_META = REAL_WORLD / "estimator-linear-wide-2017/model/model.ckpt-1000.meta"
SAVED_MODEL = REAL_WORLD / "serving-saved_model_half_plus_two_cpu/00000123/saved_model.pb"


@pytest.fixture(scope="module")
def protos():
    from inspectors.tf_loader import tensorflow

    tensorflow()
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

    return graph_pb2, meta_graph_pb2, saved_model_pb2


def _graph(protos, *nodes: tuple[str, str, list[str]]):
    graph = protos[0].GraphDef()
    for name, op, inputs in nodes:
        graph.node.add(name=name, op=op, input=inputs)
    return graph


def _model_graph(protos):
    """A trained model's graph: variables, a Saver in save/, an inference path."""
    return _graph(protos, ("x", "Placeholder", []), ("w", "VariableV2", []),
                  ("w/read", "Identity", ["w"]), ("y", "MatMul", ["x", "w/read"]),
                  ("save/Const", "Const", []), ("save/SaveV2", "SaveV2", ["save/Const"]),
                  ("save/RestoreV2", "RestoreV2", ["save/Const"]),
                  ("save/MergeV2Checkpoints", "MergeV2Checkpoints", ["save/Const"]))


def test_model_graph_with_its_saver_passes(protos):
    assert refuse_risky_ops(_model_graph(protos), allow=False, where="model.meta") == []


def test_second_saver_after_import_is_not_risky(protos):
    graph = _model_graph(protos)
    graph.node.add(name="save_1/RestoreV2", op="RestoreV2", input=["save/Const"])
    assert find_risky_ops(graph) == []


def test_refusal_names_ops_and_where_and_the_flag(protos):
    graph = _model_graph(protos)
    graph.node.add(name="input/ReadFile", op="ReadFile", input=["x"])
    function = graph.library.function.add()
    function.signature.name = "map_fn"
    function.node_def.add(name="hook", op="PyFunc")
    with pytest.raises(RiskyOpsRefused) as caught:
        refuse_risky_ops(graph, allow=False, where="m/model.ckpt-5.meta")
    assert str(caught.value) == (
        "the graph in m/model.ckpt-5.meta holds 2 risky ops that would run while it is used: "
        "ReadFile (reads files: node 'input/ReadFile' in the graph), PyFunc (runs Python code: "
        "node 'hook' in function 'map_fn'). Inspect it with `tfckpt graph m/model.ckpt-5.meta`; "
        "pass --allow-risky-ops only if you trust where it came from")
    assert caught.value.risky == [RiskyOp("input/ReadFile", "ReadFile", "reads files", None),
                                  RiskyOp("hook", "PyFunc", "runs Python code", "map_fn")]
    assert isinstance(caught.value, TfckptError) and caught.value.exit_code == EXIT_BAD_INPUT


def test_allow_lets_them_through_and_returns_them(protos):
    graph = _model_graph(protos)
    graph.node.add(name="dump", op="WriteFile", input=["x", "x"])
    assert refuse_risky_ops(graph, allow=True, where="g.pb") == [
        RiskyOp("dump", "WriteFile", "writes files", None)]


def test_checkpoint_ops_outside_the_saver_are_risky(protos):
    graph = _model_graph(protos)
    graph.node.add(name="steal/RestoreV2", op="RestoreV2", input=["save/Const"])
    function = graph.library.function.add()
    function.signature.name = "f"
    function.node_def.add(name="save/SaveV2", op="SaveV2")  # saver-like name, inside a function
    assert [(r.node, r.op, r.function) for r in find_risky_ops(graph)] == [
        ("steal/RestoreV2", "RestoreV2", None), ("save/SaveV2", "SaveV2", "f")]


def test_meta_graph_saver_scope_comes_from_saver_def(protos):
    meta = protos[1].MetaGraphDef()
    meta.graph_def.CopyFrom(_graph(protos, ("ckpt/SaveV2", "SaveV2", []),
                                   ("ckpt/RestoreV2", "RestoreV2", []),
                                   ("other/Save", "Save", [])))
    meta.saver_def.save_tensor_name = "ckpt/control_dependency:0"
    assert [(r.node, r.op) for r in find_risky_ops(meta)] == [("other/Save", "Save")]


def test_message_lists_five_and_counts_the_rest(protos):
    graph = _graph(protos, *[(f"r{i}", "ReadFile", []) for i in range(7)])
    with pytest.raises(RiskyOpsRefused) as caught:
        refuse_risky_ops(graph, allow=False, where="g.pb")
    message = str(caught.value)
    assert message.startswith("the graph in g.pb holds 7 risky ops that would run")
    assert "node 'r4'" in message and "node 'r5'" not in message
    assert " and 2 more. Inspect it" in message and len(caught.value.risky) == 7


def test_fetches_limit_the_check_to_what_runs(protos):
    graph = _model_graph(protos)
    graph.node.add(name="pipeline/PyFunc", op="PyFunc", input=["x"])  # training input only
    graph.node.add(name="train", op="NoOp", input=["^pipeline/PyFunc"])
    assert refuse_risky_ops(graph, allow=False, where="g", fetches=["y:0"]) == []
    with pytest.raises(RiskyOpsRefused):
        refuse_risky_ops(graph, allow=False, where="g", fetches=["train"])


def test_fetches_follow_function_calls_and_function_attributes(protos):
    graph = _model_graph(protos)
    inner = graph.library.function.add()
    inner.signature.name = "inner"
    inner.node_def.add(name="py", op="EagerPyFunc")
    outer = graph.library.function.add()
    outer.signature.name = "outer"
    outer.node_def.add(name="call_inner", op="inner")
    mapped = graph.node.add(name="ds", op="MapDataset", input=["x"])
    mapped.attr["f"].func.name = "outer"
    graph.node.add(name="out", op="Identity", input=["ds"])
    assert find_risky_ops(graph, fetches=["out"]) == [
        RiskyOp("py", "EagerPyFunc", "runs Python code", "inner")]
    assert find_risky_ops(graph, fetches=["y"]) == []


def test_saved_model_checks_every_meta_graph(protos):
    saved = protos[2].SavedModel()
    saved.meta_graphs.add().graph_def.CopyFrom(_model_graph(protos))
    saved.meta_graphs.add().graph_def.CopyFrom(_graph(protos, ("net", "Rpc", [])))
    assert find_risky_ops(saved) == [RiskyOp("net", "Rpc", "makes network calls", None)]


def test_tf_graph_with_py_function(tf):
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [2], name="x")
        tf.py_function(lambda v: v * 2, [x], tf.float32, name="double")
    assert [(r.op, r.reason) for r in find_risky_ops(graph)] == [("EagerPyFunc", "runs Python code")]


def test_real_estimator_graph_hides_pyfunc_in_dataset_functions(tf):
    from inspectors.graphs import io as graph_io

    [unit] = graph_io.load(str(LINEAR_META)).units
    with pytest.raises(RiskyOpsRefused) as caught:
        refuse_risky_ops(unit.meta, allow=False, where=str(LINEAR_META))
    assert [(r.op, r.function.startswith("tf_map_func_")) for r in caught.value.risky] == [
        ("PyFunc", True)] * 2


def test_real_saved_model_is_clean(tf):
    from inspectors.graphs import io as graph_io

    loaded = graph_io.load(str(SAVED_MODEL))
    assert all(refuse_risky_ops(u.meta, allow=False, where="sm") == [] for u in loaded.units)


def test_not_a_graph_is_a_type_error():
    with pytest.raises(TypeError, match="expected a GraphDef, MetaGraphDef, SavedModel or tf.Graph, not dict"):
        find_risky_ops({})
