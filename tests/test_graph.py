"""`tfckpt graph`: real third-party graphs, crafted graphs, bad input, and proof it never runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

import real_world
from conftest import FIXTURES, REAL_WORLD, REPO

GRAPH_FILES = sorted(
    path.relative_to(REAL_WORLD).as_posix()
    for pattern in ("**/*.meta", "**/graph.pbtxt", "**/frozen.pb", "**/saved_model.pb")
    for path in REAL_WORLD.glob(pattern))
HALF_PLUS_TWO_V2 = REAL_WORLD / "serving-half_plus_two-v2-export/00000123/export.meta"
SAVED_MODEL = REAL_WORLD / "serving-saved_model_half_plus_two_cpu/00000123"
CONTRIB_V1 = REAL_WORLD / "contrib-learn-v1-sharded-tf0.11/model"
FROZEN = REAL_WORLD / "tf2onnx-lstm-frozen/lstm/frozen.pb"
IRIS = REAL_WORLD / "contrib-learn-iris-dnn-tf1.14-part0/iris_model"
LINEAR = REAL_WORLD / "estimator-linear-wide-2017/model"
MNIST = REAL_WORLD / "mnist-fully-connected-feed-cpkt/fully_connected_feed"
NXT = REAL_WORLD / "nxt-tensorflow-v1"


def graph_json(tfckpt, *argv) -> dict:
    run = tfckpt("graph", *argv, "--format", "json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def only_graph(tfckpt, *argv) -> dict:
    document = graph_json(tfckpt, *argv)
    assert len(document["graphs"]) == 1
    return document["graphs"][0]


def test_every_real_world_graph_is_found():
    cases = real_world.readme_table()
    assert sorted(cases) == real_world.folders()
    with_graphs = {name.split("/")[0] for name in GRAPH_FILES}
    # Every case holds a graph but the Keras HDF5 files, which keep their model as JSON.
    assert with_graphs == {case for case, form in cases.items() if form != "HDF5"}
    assert "tf2onnx-lstm-frozen/lstm/frozen.pb" in GRAPH_FILES


@pytest.mark.parametrize("name", GRAPH_FILES)
def test_every_real_world_graph_in_table_and_json(tfckpt, name):
    path = REAL_WORLD / name
    table = tfckpt("graph", path)
    assert (table.code, table.err) == (0, "")
    assert table.out.startswith(f"{path}: binary " if not name.endswith(".pbtxt") else f"{path}: text ")
    assert "written by:" in table.out and "candidate outputs" in table.out
    document = graph_json(tfckpt, path)
    assert document["file"] == str(path)
    for report in document["graphs"]:
        assert report["nodes"] > 0 and report["ops"] and report["unknown_ops"] == []
        assert report["outputs"], "every real graph has some candidate output"
        check = report["checkpoint"]
        # Every real graph with variables sits beside the checkpoint it was saved with.
        assert (check["missing"], check["extra"]) == ([], [])
        assert check["checked"] == (name != "tf2onnx-lstm-frozen/lstm/frozen.pb")


def test_meta_graph_tf_itself_refuses_version_string_and_serving_signature(tfckpt):
    report = only_graph(tfckpt, HALF_PLUS_TWO_V2)
    assert report["versions"]["tensorflow_version"] == "0.12.head"
    assert report["versions"]["producer"] == 19
    assert report["versions"]["written_by"] == "TF 0.12.head"
    # The SessionBundle `serving_signatures` binds alias y to Add:0 and x to Placeholder:0.
    signatures = {s["key"]: s for s in report["signatures"]}
    assert signatures["outputs"]["outputs"] == [
        {"alias": "y", "tensor": "Add:0", "dtype": None, "shape": None}]
    assert signatures["inputs"]["inputs"][0]["tensor"] == "Placeholder:0"
    assert signatures["regress"]["method"] == "regression"
    best = report["outputs"][0]
    assert (best["node"], best["score"]) == ("Add", 7)
    assert best["reason"] == "signature output regress.output, outputs.y; consumed by no other node"
    assert [(i["node"], i["kind"]) for i in report["inputs"]] == [("Placeholder", "placeholder")]
    assert report["checkpoint"]["checkpoint"] == str(HALF_PLUS_TWO_V2)[:-5]
    assert report["checkpoint"]["expected"] == 2
    assert report["saver"]["version"] == "V2"


def test_contrib_learn_graph_pbtxt_matches_its_v1_sharded_checkpoint(tfckpt):
    document = graph_json(tfckpt, CONTRIB_V1 / "graph.pbtxt")
    assert (document["format"], document["encoding"]) == ("GraphDef", "text")
    report = document["graphs"][0]
    assert report["versions"]["producer"] == 11
    assert report["versions"]["tensorflow_version"] is None
    assert report["versions"]["written_by"] == "approximately TF 0.10/0.11 (producer 11)"
    check = report["checkpoint"]
    assert check["checkpoint"] == str(CONTRIB_V1 / "model.ckpt-4-?????-of-00001")
    assert (check["expected"], check["expected_from"]) == (24, "saver")
    assert (check["missing_count"], check["extra_count"]) == (0, 0)
    keys = {v["node"]: v["key"] for v in report["variables"]}
    assert keys["linear/gdp_change/weight/part_0"] == "linear/gdp_change/weight"
    assert keys["centered_bias_weight/Adagrad"] == "centered_bias_weight/Adagrad"


def test_meta_without_its_checkpoint_says_so(tfckpt, tmp_path):
    path = tmp_path / "export.meta"
    shutil.copy(HALF_PLUS_TWO_V2, path)
    check = only_graph(tfckpt, path)["checkpoint"]
    assert (check["checked"], check["expected"]) == (False, 2)
    assert check["note"] == f"no checkpoint beside the graph {path} (looked for export.index and V1 files)"
    assert f"checkpoint:  not checked: no checkpoint beside the graph {path}" in tfckpt("graph", path).out


def test_model_dir_means_its_graph_pbtxt(tfckpt):
    assert graph_json(tfckpt, CONTRIB_V1)["file"] == str(CONTRIB_V1 / "graph.pbtxt")


def test_frozen_lstm_has_no_variables_and_no_version(tfckpt):
    report = only_graph(tfckpt, FROZEN)
    assert report["variables"] == []
    assert report["checkpoint"]["expected"] == 0
    assert report["checkpoint"]["note"] == "the graph has no variables (a frozen graph?)"
    assert report["versions"]["producer"] is None
    assert report["versions"]["written_by"].startswith("unknown: the graph records no version")
    # Despite its PROVENANCE, the LSTM is unrolled (static_rnn): no while loop in it.
    assert report["while_loops"] == 0
    ops = {op["op"]: op["count"] for op in report["ops"]}
    assert (ops["Const"], ops["Sigmoid"], ops["Tanh"]) == (106, 84, 56)
    assert report["outputs"][0]["node"] == "output"
    inputs = {i["node"]: i["shapes"] for i in report["inputs"]}
    # No versions means producer 0: an empty Placeholder shape then means "any shape".
    assert inputs == {"X": [[-1, 784]], "keep_prob": [None]}


def test_saved_model_signatures_inputs_outputs_and_variables(tfckpt):
    document = graph_json(tfckpt, SAVED_MODEL)
    assert document["file"] == str(SAVED_MODEL / "saved_model.pb")
    assert document["format"] == "SavedModel"
    report = document["graphs"][0]
    assert report["tags"] == ["serve"]
    assert [s["key"] for s in report["signatures"]] == [
        "classify_x_to_y", "regress_x2_to_y3", "regress_x_to_y", "regress_x_to_y2", "serving_default"]
    assert report["signatures"][-1]["outputs"] == [
        {"alias": "y", "tensor": "y:0", "dtype": "float32", "shape": [-1, 1]}]
    assert [o["node"] for o in report["outputs"]] == ["y", "y2", "y3"]
    parse = next(i for i in report["inputs"] if i["kind"] == "parse_example")
    assert (parse["node"], parse["dense_keys"], parse["sparse_keys"]) == (
        "ParseExample/ParseExample", ["x", "x2"], [])
    assert report["checkpoint"]["checkpoint"] == str(SAVED_MODEL / "variables/variables")
    assert (report["checkpoint"]["expected"], report["checkpoint"]["missing"]) == (5, [])
    assert report["versions"]["tensorflow_version"] == "1.14.0"
    assert report["versions"]["producer"] == 149


def test_saved_model_pb_file_is_the_same_as_its_dir(tfckpt):
    assert graph_json(tfckpt, SAVED_MODEL / "saved_model.pb") == graph_json(tfckpt, SAVED_MODEL)


def test_pyfunc_hidden_in_dataset_functions_is_risky(tfckpt):
    report = only_graph(tfckpt, LINEAR / "model.ckpt-1000.meta")
    assert report["functions"] == 5
    risky = [r for r in report["risky_ops"] if not r["saver"]]
    assert [(r["op"], r["reason"]) for r in risky] == [("PyFunc", "runs Python code")] * 2
    assert all(r["function"].startswith("tf_map_func_") for r in risky)
    assert {r["op"] for r in report["risky_ops"] if r["saver"]} == {
        "SaveV2", "RestoreV2", "MergeV2Checkpoints"}
    pyfunc = next(op for op in report["ops"] if op["op"] == "PyFunc")
    assert (pyfunc["count"], pyfunc["in_functions"], pyfunc["risk"]) == (2, 2, "runs Python code")
    assert report["versions"]["tensorflow_git_version"] == "v1.4.0-rc1-11-g130a514"


def test_partitioned_variables_save_under_their_full_name(tfckpt):
    report = only_graph(tfckpt, IRIS / "model.ckpt-2000.meta")
    keys = {v["node"]: v["key"] for v in report["variables"]}
    assert keys["dnn/hiddenlayer_0/weights/part_0"] == "dnn/hiddenlayer_0/weights"
    # Metric counters are local variables: in the graph, never in the checkpoint.
    assert len(keys) == 22 and sum(key is None for key in keys.values()) == 4
    assert report["checkpoint"]["expected"] == 18
    assert {o["node"] for o in report["outputs"][:2]} == {
        "dnn/multi_class_head/predictions/classes", "dnn/multi_class_head/predictions/probabilities"}
    assert report["outputs"][2]["node"] == "dnn/logits/BiasAdd"


def test_training_graph_without_signature_ranks_the_logits_first(tfckpt):
    report = only_graph(tfckpt, MNIST / "model.cpkt-999.meta")
    assert report["versions"]["written_by"] == "TF 1.0.0"
    assert report["versions"]["producer"] == 21
    best = report["outputs"][0]
    assert best["node"] == "softmax_linear/add"
    assert "SparseSoftmaxCrossEntropyWithLogits" in best["reason"]
    assert [(i["node"], i["dtypes"], i["shapes"]) for i in report["inputs"]] == [
        ("Placeholder", ["float32"], [[100, 784]]), ("Placeholder_1", ["int32"], [[100]])]


def test_checkpoint_option_overrides_and_reports_missing_and_extra(tfckpt):
    report = only_graph(tfckpt, MNIST / "model.cpkt-999.meta", "--checkpoint", NXT / "model.ckpt")
    check = report["checkpoint"]
    assert check["checkpoint"] == str(NXT / "model.ckpt")
    assert check["missing"] == ["global_step", "hidden1/biases", "hidden1/weights", "hidden2/biases",
                                "hidden2/weights", "softmax_linear/biases", "softmax_linear/weights"]
    assert (check["missing_count"], check["extra_count"]) == (7, 14)
    assert "mweight/Adam_1" in check["extra"]
    table = tfckpt("graph", MNIST / "model.cpkt-999.meta", "--checkpoint", NXT / "model.ckpt")
    assert f"checkpoint:  {NXT / 'model.ckpt'}: 7 missing, 14 extra\n" in table.out
    assert "missing (graph expects, checkpoint lacks):\n  global_step\n" in table.out


def test_bad_checkpoint_option_is_an_error(tfckpt):
    run = tfckpt("graph", FROZEN, "--checkpoint", REAL_WORLD / "no-such-ckpt")
    assert run.code == 2
    assert run.err.startswith("tfckpt: error: no such file or directory: ")


def test_producer_estimates():
    from inspectors.graphs.report import producer_estimate, written_by

    assert producer_estimate(24) == "approximately TF 1.4 (producer 24)"
    assert producer_estimate(38) == "approximately TF 1.14 (producer 38)"
    assert producer_estimate(22) == "approximately TF between 1.0 and 1.4 (producer 22)"
    assert producer_estimate(10) == "approximately TF older than 0.10/0.11 (producer 10)"
    # TF 2.21's own version.h: GraphDef version 2474, updated 2026/1/16.
    assert "build of 2026-01" in producer_estimate(2474)
    assert written_by("1.4.0", 24) == "TF 1.4.0"


def test_table_of_the_real_serving_meta(tfckpt):
    run = tfckpt("graph", HALF_PLUS_TWO_V2)
    lines = run.out.splitlines()
    assert lines[0] == f"{HALF_PLUS_TWO_V2}: binary MetaGraphDef, 1 graph"
    assert "written by:  TF 0.12.head [unknown]" in lines
    assert "producer:    19, min_consumer 0: approximately TF 0.12 (producer 19)" in lines
    assert "unknown ops: none (TensorFlow knows every op)" in lines
    assert "risky ops:   none (3 more are the Saver's own checkpoint ops)" in lines


def test_csv_rows(tfckpt):
    ops = tfckpt("graph", HALF_PLUS_TWO_V2, "--format", "csv")
    assert ops.out.splitlines()[:3] == [
        "graph,op,count,in_functions,known,risk", "0,Const,10,0,True,", "0,Assign,4,0,True,"]
    variables = tfckpt("graph", CONTRIB_V1, "--format", "csv", "--rows", "variables")
    rows = variables.out.splitlines()
    assert rows[0] == "graph,key,status,node,op,dtype,shape"
    assert "0,linear/gdp_change/weight,ok,linear/gdp_change/weight/part_0,Variable,float32,\"[1, 1]\"" in rows
    assert len(rows) == 25
    outputs = tfckpt("graph", SAVED_MODEL, "--format", "csv", "--rows", "outputs", "--top", "1")
    assert outputs.out.splitlines()[1].startswith("0,1,y,Identity,10,\"signature output ")
    inputs = tfckpt("graph", SAVED_MODEL, "--format", "csv", "--rows", "inputs")
    assert "0,ParseExample/ParseExample,ParseExample,parse_example,float32;float32,,x;x2," in inputs.out


def test_quiet_prints_nothing(tfckpt):
    run = tfckpt("graph", FROZEN, "-q")
    assert (run.code, run.out, run.err) == (0, "", "")


def test_top_limits_outputs(tfckpt):
    report = only_graph(tfckpt, IRIS / "graph.pbtxt", "--top", "2")
    assert len(report["outputs"]) == 2
    run = tfckpt("graph", FROZEN, "--top", "0")
    assert run.code == 2 and "must be 1 or more" in run.err


# --- content, not extension --------------------------------------------------

def test_meta_graph_named_pb_and_text_graph_named_pb(tfckpt, tmp_path):
    from google.protobuf import text_format

    from inspectors.graphs import io as graph_io

    renamed = tmp_path / "renamed.pb"
    shutil.copy(HALF_PLUS_TWO_V2, renamed)
    assert graph_json(tfckpt, renamed)["format"] == "MetaGraphDef"
    text = tmp_path / "frozen_as_text.pb"
    text.write_text(text_format.MessageToString(graph_io.load(str(FROZEN)).units[0].graph_def))
    document = graph_json(tfckpt, text)
    assert (document["format"], document["encoding"]) == ("GraphDef", "text")
    assert document["graphs"][0]["nodes"] == 529
    binary = tmp_path / "binary.pbtxt"
    shutil.copy(FROZEN, binary)
    assert graph_json(tfckpt, binary)["encoding"] == "binary"


# --- crafted graphs: risky, unknown and function ops; never executed ---------

def _const(graph, name: str, value: bytes) -> None:
    node = graph.node.add(name=name, op="Const")
    node.attr["dtype"].type = 7  # DT_STRING
    node.attr["value"].tensor.dtype = 7
    node.attr["value"].tensor.string_val.append(value)


def _hostile_graph(target) -> bytes:
    from inspectors.tf_loader import tensorflow

    tensorflow()
    from tensorflow.core.framework import graph_pb2

    graph = graph_pb2.GraphDef()
    graph.versions.producer = 24
    _const(graph, "path", str(target).encode())
    _const(graph, "contents", b"pwned")
    graph.node.add(name="write", op="WriteFile", input=["path", "contents"])
    function = graph.library.function.add()
    function.signature.name = "my_fn"
    function.node_def.add(name="callback", op="PyFunc")
    graph.node.add(name="call", op="my_fn", input=["contents"])
    graph.node.add(name="custom", op="NoSuchOpAnywhere", input=["call"])
    return graph.SerializeToString()


def test_crafted_graph_reports_risky_and_unknown_ops_and_never_runs(tfckpt, tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "hostile.pb"
    path.write_bytes(_hostile_graph(target))
    report = only_graph(tfckpt, path)
    assert [(r["node"], r["op"], r["reason"], r["function"]) for r in report["risky_ops"]] == [
        ("write", "WriteFile", "writes files", None),
        ("callback", "PyFunc", "runs Python code", "my_fn")]
    # A call of the graph's own function is known; the made-up op is not.
    assert report["unknown_ops"] == ["NoSuchOpAnywhere"]
    assert report["functions"] == 1
    table = tfckpt("graph", path)
    assert "unknown ops: NoSuchOpAnywhere" in table.out
    assert "write     WriteFile  writes files      graph" in table.out
    assert not target.exists()


# --- bad input ---------------------------------------------------------------

def _error(run, start: str) -> None:
    assert run.code == 2
    assert run.out == ""
    assert run.err.startswith("tfckpt: error: " + start), run.err
    assert run.err.count("\n") == 1 and "Traceback" not in run.err


def test_text_file_named_meta_is_not_a_graph(tfckpt, tmp_path):
    path = tmp_path / "notes.meta"
    path.write_text("hello, these are my notes\n")
    _error(tfckpt("graph", path), f"{path} is not a TensorFlow graph: a text file of 26 bytes "
                                  f"starting 'hello, these are my notes'")


def test_missing_file(tfckpt, tmp_path):
    _error(tfckpt("graph", tmp_path / "nope.meta"), f"no such file or directory: {tmp_path / 'nope.meta'}")


def test_binary_that_is_not_a_proto(tfckpt, tmp_path):
    path = tmp_path / "image.pb"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    _error(tfckpt("graph", path), f"{path} is not a TensorFlow graph: a binary file of 1032 bytes")


def test_checkpoint_given_instead_of_a_graph(tfckpt):
    path = NXT / "model.ckpt"
    _error(tfckpt("graph", path), f"{path} is not a TensorFlow graph: it is a checkpoint "
                                  f"(V1 file or V2 .index). List its variables with `tfckpt ls {path}`")


@pytest.mark.parametrize("source", [HALF_PLUS_TWO_V2, FROZEN, SAVED_MODEL / "saved_model.pb"])
def test_truncated_proto(tfckpt, tmp_path, source):
    path = tmp_path / source.name
    data = source.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    _error(tfckpt("graph", path), f"{path} is truncated: a protocol buffer field at byte ")


def test_empty_file(tfckpt, tmp_path):
    path = tmp_path / "model.ckpt.meta"
    path.write_bytes(b"")
    _error(tfckpt("graph", path), f"{path} is empty (0 bytes)")


def test_broken_text_graph(tfckpt, tmp_path):
    path = tmp_path / "graph.pbtxt"
    path.write_text('node {\n  name: "a"\n  op: "Const"\n')
    _error(tfckpt("graph", path), f"cannot parse {path} as a text GraphDef: ")


def test_directory_without_a_graph(tfckpt, tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    _error(tfckpt("graph", tmp_path), f"no graph in {tmp_path} (it holds: readme.txt)")


def test_missing_file_answers_without_importing_tensorflow(tmp_path):
    script = ("import sys\nfrom migrate.cli.main import main\ncode = main(sys.argv[1:])\n"
              "print('TF' if 'tensorflow' in sys.modules else 'NO_TF', file=sys.stderr)\n"
              "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", script, "graph", str(tmp_path / "x.meta")],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "NO_TF"


# --- fallbacks when the graph has no save op ---------------------------------

def _without_saver(path):
    from inspectors.graphs import io as graph_io

    unit = graph_io.load(str(path)).units[0]
    kept = [node for node in unit.graph_def.node if not node.name.startswith("save/")]
    del unit.graph_def.node[:]
    unit.graph_def.node.extend(kept)
    return unit


def test_keys_from_variables_collection_use_the_full_partitioned_name():
    from inspectors.graphs import variables as graph_variables

    unit = _without_saver(IRIS / "model.ckpt-2000.meta")
    expected = graph_variables.expected_keys(unit.graph_def, unit.meta)
    assert expected.origin == "collection"
    assert len(expected.keys) == 18
    assert expected.by_node["dnn/logits/weights/part_0"] == "dnn/logits/weights"


def test_keys_from_variable_nodes_strip_the_part_suffix():
    from inspectors.graphs import variables as graph_variables

    unit = _without_saver(IRIS / "graph.pbtxt")
    expected = graph_variables.expected_keys(unit.graph_def, unit.meta)
    assert expected.origin == "nodes"
    assert "dnn/logits/weights" in expected.keys and len(expected.keys) == 22


# --- fixtures made by real Estimators and Savers -----------------------------

FIXTURE_GRAPHS = sorted(path.relative_to(FIXTURES).as_posix()
                        for pattern in ("**/*.meta", "**/graph.pbtxt") for path in FIXTURES.glob(pattern))
NEEDS_FIXTURES = pytest.mark.skipif(not FIXTURE_GRAPHS, reason="fixtures not generated")


@pytest.mark.parametrize("name", FIXTURE_GRAPHS or [pytest.param("none", marks=NEEDS_FIXTURES)])
def test_every_fixture_graph_matches_its_checkpoint(tfckpt, name):
    report = only_graph(tfckpt, FIXTURES / name)
    check = report["checkpoint"]
    assert check["checked"], check["note"]
    assert (check["missing"], check["extra"]) == ([], [])
    assert check["expected_from"] == "saver"
    assert report["unknown_ops"] == []
    assert report["versions"]["producer"] == 1645  # TF 2.15 wrote them all


def _case(name: str) -> dict:
    path = FIXTURES / name / "case.json"
    if not path.is_file():
        pytest.skip(f"fixture {name} not generated")
    return json.loads(path.read_text())


@pytest.mark.parametrize("case, graph", [
    ("saver-v1", "model.ckpt-50.meta"), ("saver-v2-sharded", "model.ckpt-7.meta"),
    ("partitioned", "model.ckpt-0.meta"), ("rnn-tf1.0-names", "tf1.2/model.ckpt-30.meta")])
def test_fixture_saver_graphs_name_their_input_and_output(tfckpt, case, graph):
    facts = _case(case)
    report = only_graph(tfckpt, FIXTURES / case / graph)
    assert report["outputs"][0]["node"] + ":0" == facts["output_node"]
    assert facts["input_node"] in [i["node"] + ":0" for i in report["inputs"]]
    assert report["versions"]["tensorflow_version"] == facts["tensorflow_version"]


def test_fixture_saver_v1_graph(tfckpt):
    _case("saver-v1")
    report = only_graph(tfckpt, FIXTURES / "saver-v1/model.ckpt-50.meta")
    assert report["saver"]["version"] == "V1"
    assert report["checkpoint"]["checkpoint"] == str(FIXTURES / "saver-v1/model.ckpt-50")
    # The loss (Mean) depends on the labels, so it is no result; the operand it compares
    # with the labels is.
    assert [o["node"] for o in report["outputs"]] == ["y", "layer2/add"]
    assert report["outputs"][1]["reason"] == "the predictions of sub (Sub), compared with target"


def test_fixture_partitioned_slices_save_under_one_key(tfckpt):
    facts = _case("partitioned")
    report = only_graph(tfckpt, FIXTURES / "partitioned/model.ckpt-0.meta")
    keys = {v["node"]: v["key"] for v in report["variables"]}
    assert keys == {f"proj/{name}/part_{i}": f"proj/{name}"
                    for name in ("weights", "biases") for i in range(3)}
    assert sorted(set(keys.values())) == sorted(facts["slices"])


def test_fixture_dnn_classifier_v1_model_dir(tfckpt):
    _case("dnn-classifier-v1")
    model_dir = FIXTURES / "dnn-classifier-v1/model_dir"
    document = graph_json(tfckpt, model_dir)
    assert document["file"] == str(model_dir / "graph.pbtxt")
    report = document["graphs"][0]
    assert report["checkpoint"]["checkpoint"] == str(model_dir / "model.ckpt-40")
    assert report["outputs"][0]["node"] == "dnn/head/predictions/probabilities"
    assert [i["kind"] for i in report["inputs"]] == ["iterator"]
    meta = only_graph(tfckpt, model_dir / "model.ckpt-20.meta")
    assert meta["checkpoint"]["checkpoint"] == str(model_dir / "model.ckpt-20")
    assert meta["versions"]["written_by"] == "TF 2.15.1"
