"""Assets: a vocabulary file the graph names by the author's absolute path.

Each test builds a small TF1 graph with plain TensorFlow: a string input looked
up in a table initialized from a text file, a variable per id. The expected
scores come from that same graph run by plain TensorFlow before the file is
moved; tfckpt only ever sees the moved file.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import REAL_WORLD, only_line, sha256_tree

# Non-ASCII words, and one that is not UTF-8 at all (mechanism 9 rides along).
WORDS = ("ä", "中文", "😀", "plain")
BAD_WORD = b"\xff\xfe"
QUERY = [w.encode() for w in WORDS] + [BAD_WORD, b"unseen"]


def _vocabulary_bytes() -> bytes:
    return b"\n".join([w.encode() for w in WORDS] + [BAD_WORD]) + b"\n"


def make_model(tf, root, *, vocab_dir):
    """model_dir with a vocabulary table read from `vocab_dir`/vocab.txt; returns
    (model dir, what plain TF predicts for QUERY)."""
    v1 = tf.compat.v1
    vocab_dir.mkdir(parents=True, exist_ok=True)
    vocab = vocab_dir / "vocab.txt"
    vocab.write_bytes(_vocabulary_bytes())
    model = root / "model"
    model.mkdir(parents=True)
    graph = tf.Graph()
    with graph.as_default():
        word = v1.placeholder(tf.string, [None], name="word")
        initializer = tf.lookup.TextFileInitializer(
            str(vocab), tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
            tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
        table = tf.lookup.StaticHashTable(initializer, -1)
        weights = v1.get_variable("w", initializer=np.arange(1, 7, dtype=np.float32).reshape(6, 1))
        score = tf.identity(tf.gather(weights, table.lookup(word) + 1)[:, 0], name="score")
        with v1.Session(graph=graph) as session:
            session.run([v1.global_variables_initializer(), v1.tables_initializer()])
            expected = session.run(score, {word: np.array(QUERY, dtype=object)})
            v1.train.Saver().save(session, str(model / "model.ckpt"))
    return model, expected


def _queries(path) -> str:
    np.savez(path, word=np.array(QUERY, dtype=object).astype(bytes))
    return str(path)


def _served(tf, saved_model, words):
    loaded = tf.saved_model.load(str(saved_model))
    return loaded.signatures["serving_default"](word=tf.constant(words))["score"].numpy()


def test_vocabulary_found_beside_the_checkpoint_and_export_serves_without_it(tfckpt, tf, tmp_path):
    author = tmp_path / "home" / "author" / "data"
    model, expected = make_model(tf, tmp_path / "run", vocab_dir=author)
    shutil.move(str(author / "vocab.txt"), str(model / "vocab.txt"))  # moved next to the checkpoint
    before = sha256_tree(model)
    out = tmp_path / "exported"
    run = tfckpt("export", model, out)
    assert run.code == 0, run.err
    assert f"asset {author / 'vocab.txt'} (read by text_file_init/InitializeTableFromTextFileV2) " \
           f"is not there; used {model / 'vocab.txt'} (in {model})" in run.err
    assert sha256_tree(model) == before
    assert (out / "assets" / "vocab.txt").read_bytes() == _vocabulary_bytes()
    # Self-contained: the model dir's copy gone, the export still serves the same scores.
    (model / "vocab.txt").unlink()
    moved = tmp_path / "elsewhere"
    shutil.move(str(out), str(moved))
    np.testing.assert_array_equal(_served(tf, moved, QUERY), expected)
    predicted = tfckpt("predict", moved, "--input", _queries(tmp_path / "q.npz"), "--format", "json")
    assert predicted.code == 0, predicted.err
    assert json.loads(predicted.out)["outputs"]["score"] == expected.tolist()


def test_vocabulary_found_through_assets_dir_and_asset_flag(tfckpt, tf, tmp_path):
    author = tmp_path / "author"
    model, expected = make_model(tf, tmp_path / "run", vocab_dir=author)
    elsewhere = tmp_path / "shipped"
    elsewhere.mkdir()
    shutil.move(str(author / "vocab.txt"), str(elsewhere / "vocab.txt"))
    queries = _queries(tmp_path / "q.npz")
    run = tfckpt("predict", model, "--input", queries, "--assets", elsewhere, "--format", "json")
    assert run.code == 0, run.err
    assert f"used {elsewhere / 'vocab.txt'} (--assets {elsewhere})" in run.err
    assert json.loads(run.out)["outputs"]["score"] == expected.tolist()
    renamed = tmp_path / "words.txt"
    shutil.move(str(elsewhere / "vocab.txt"), str(renamed))
    run = tfckpt("predict", model, "--input", queries, "--format", "json",
                 "--asset", f"{author / 'vocab.txt'}={renamed}")
    assert run.code == 0, run.err
    assert json.loads(run.out)["outputs"]["score"] == expected.tolist()


def test_vocabulary_found_in_an_exports_assets_folder(tfckpt, tf, tmp_path):
    author = tmp_path / "author"
    model, expected = make_model(tf, tmp_path / "run", vocab_dir=author)
    assets = model / "export" / "Servo" / "1515258162" / "assets"
    assets.mkdir(parents=True)
    shutil.move(str(author / "vocab.txt"), str(assets / "vocab.txt"))
    run = tfckpt("predict", model, "--input", _queries(tmp_path / "q.npz"), "--format", "json")
    assert run.code == 0, run.err
    assert f"(in the assets folder {assets})" in run.err
    assert json.loads(run.out)["outputs"]["score"] == expected.tolist()


@pytest.mark.parametrize("command", ["export", "freeze", "predict", "verify"])
def test_missing_vocabulary_is_one_line_exit_2(tfckpt, tf, tmp_path, command):
    author = tmp_path / "author"
    model, _ = make_model(tf, tmp_path / "run", vocab_dir=author)
    (author / "vocab.txt").unlink()
    argv = {"export": [model, tmp_path / "out"], "freeze": [model, tmp_path / "out.pb"],
            "predict": [model, "--input", _queries(tmp_path / "q.npz")],
            "verify": [model, model]}[command]
    run = tfckpt(command, *argv)
    assert run.code == 2
    line = only_line(run.err)
    assert line.startswith(f"tfckpt: error: asset file '{author / 'vocab.txt'}' read by node "
                           f"'text_file_init/InitializeTableFromTextFileV2' is not there, nor in ")
    assert line.endswith(f"Pass --assets DIR (a folder holding it) or "
                         f"--asset {author / 'vocab.txt'}=NEW")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.pb").exists()


def test_freeze_points_the_graph_at_the_found_file_and_says_so(tfckpt, tf, tmp_path):
    author = tmp_path / "author"
    model, expected = make_model(tf, tmp_path / "run", vocab_dir=author)
    shutil.move(str(author / "vocab.txt"), str(model / "vocab.txt"))
    out = tmp_path / "frozen.pb"
    run = tfckpt("freeze", model, out)
    assert run.code == 0, run.err
    assert (f"note: the frozen graph reads {model / 'vocab.txt'} when init_all_tables runs "
            f"(text_file_init/InitializeTableFromTextFileV2)") in run.err
    graph_def = tf.compat.v1.GraphDef.FromString(out.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        session.run("init_all_tables")
        got = session.run("score:0", {"word:0": np.array(QUERY, dtype=object)})
    np.testing.assert_array_equal(got, expected)


def test_asset_flag_without_equals_is_one_line(tfckpt, tmp_path):
    run = tfckpt("predict", tmp_path, "--input", tmp_path / "x.npz", "--asset", "vocab.txt")
    assert run.code == 2
    assert only_line(run.err) == ("tfckpt: error: --asset vocab.txt: expected OLD=NEW, e.g. "
                                  "/home/me/vocab.txt=./vocab.txt")


def test_real_saved_model_with_assets_predicts_after_a_move(tfckpt, tf, tmp_path):
    """serving's half_plus_two carries assets/foo.txt; a copy elsewhere still serves."""
    source = REAL_WORLD / "serving-saved_model_half_plus_two_cpu" / "00000123"
    copy = tmp_path / "moved"
    shutil.copytree(source, copy)
    (tmp_path / "x.json").write_text(json.dumps({"x": [[1.0], [4.0]]}))
    run = tfckpt("predict", copy, "--input", tmp_path / "x.json", "--format", "json")
    assert run.code == 0, run.err
    original = tf.saved_model.load(str(source)).signatures["serving_default"]
    expected = original(x=tf.constant([[1.0], [4.0]]))["y"].numpy()
    assert json.loads(run.out)["outputs"]["y"] == expected.tolist()


def test_frozen_graph_finds_its_vocabulary_beside_it(tfckpt, tf, tmp_path):
    author = tmp_path / "author"
    model, expected = make_model(tf, tmp_path / "run", vocab_dir=author)
    frozen = tmp_path / "frozen.pb"
    assert tfckpt("freeze", model, frozen).code == 0
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.move(str(frozen), str(shipped / "frozen.pb"))
    shutil.move(str(author / "vocab.txt"), str(shipped / "vocab.txt"))
    run = tfckpt("predict", shipped / "frozen.pb", "--input", _queries(tmp_path / "q.npz"),
                 "--format", "json")
    assert run.code == 0, run.err
    assert f"used {shipped / 'vocab.txt'} (in {shipped})" in run.err
    assert json.loads(run.out)["outputs"]["score"] == expected.tolist()


@pytest.mark.legacy
def test_canned_vocabulary_file_column_found_beside_the_checkpoint(tfckpt, tf, tmp_path):
    """A real DNNClassifier with a vocabulary_file column, its file moved into the model dir."""
    from fixture_cases import use_keras_2_in_legacy_env

    use_keras_2_in_legacy_env()
    estimators = pytest.importorskip("tensorflow_estimator").estimator
    fc = tf.feature_column
    author = tmp_path / "author"
    author.mkdir()
    (author / "fruit.txt").write_bytes("äpfel\nbirne\n中文\n".encode())
    columns = [fc.indicator_column(fc.categorical_column_with_vocabulary_file(
        "fruit", str(author / "fruit.txt"), vocabulary_size=3))]
    model_dir = tmp_path / "dnn"
    estimator = estimators.DNNClassifier(hidden_units=[4], feature_columns=columns,
                                         model_dir=str(model_dir),
                                         config=estimators.RunConfig(tf_random_seed=1))
    words = np.array([w.encode() for w in ("äpfel", "birne", "中文", "kiwi")] * 4, dtype=object)
    inputs = tf.compat.v1.estimator.inputs
    estimator.train(inputs.numpy_input_fn({"fruit": words}, np.arange(16) % 2, batch_size=4,
                                          num_epochs=None, shuffle=True), steps=10)
    expected = np.stack([row["logistic"] for row in estimator.predict(
        inputs.numpy_input_fn({"fruit": words}, batch_size=4, shuffle=False))])
    shutil.move(str(author / "fruit.txt"), str(model_dir / "fruit.txt"))
    # Four rows: the training graph bakes its batch of 4 into SparseToDense (issue 18, item 2).
    np.savez(tmp_path / "q.npz", fruit=words[:4].astype(bytes))
    expected = expected[:4]
    for way in ("canned", "meta-graph"):
        run = tfckpt("predict", model_dir, "--via", way, "--input", tmp_path / "q.npz",
                     "--format", "json")
        assert run.code == 0, (way, run.err)
        got = np.array(json.loads(run.out)["outputs"]["logistic"], np.float32)
        np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=way)


def test_tf1_saved_model_with_a_vocabulary_asset_exports_again(tfckpt, tf, tmp_path):
    """A TF1 SavedModel (Builder, assets_collection) whose author's vocabulary path is gone:
    its graph's filename constant still names that path; the file is in its assets/."""
    v1 = tf.compat.v1
    author = tmp_path / "author"
    model, expected = make_model(tf, tmp_path / "run", vocab_dir=author)
    saved = tmp_path / "saved"
    graph = tf.Graph()
    with graph.as_default():
        v1.train.import_meta_graph(str(model / "model.ckpt.meta"))
        with v1.Session(graph=graph) as session:
            v1.train.Saver().restore(session, str(model / "model.ckpt"))
            builder = v1.saved_model.Builder(str(saved))
            signature = v1.saved_model.signature_def_utils.predict_signature_def(
                {"word": graph.get_tensor_by_name("word:0")},
                {"score": graph.get_tensor_by_name("score:0")})
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature},
                assets_collection=v1.get_collection(v1.GraphKeys.ASSET_FILEPATHS),
                main_op=v1.tables_initializer())
            builder.save()
    (author / "vocab.txt").unlink()
    out = tmp_path / "again"
    run = tfckpt("export", saved, out)
    assert run.code == 0, run.err
    assert f"used {saved / 'assets' / 'vocab.txt'} (in the assets folder {saved / 'assets'})" in run.err
    np.testing.assert_array_equal(_served(tf, out, QUERY), expected)


def test_vocabulary_with_a_repeated_word_is_one_line(tfckpt, tf, tmp_path):
    author = tmp_path / "author"
    model, _ = make_model(tf, tmp_path / "run", vocab_dir=author)
    (author / "vocab.txt").write_bytes(b"a\nb\na\n")
    graph = tf.Graph()  # what plain TensorFlow says about that file
    with graph.as_default():
        tf.compat.v1.train.import_meta_graph(str(model / "model.ckpt.meta"))
        with tf.compat.v1.Session(graph=graph) as session:
            with pytest.raises(tf.errors.OpError) as caught:
                session.run(tf.compat.v1.tables_initializer())
    reason = next(line.strip() for line in caught.value.message.splitlines() if "same key" in line)
    run = tfckpt("predict", model, "--input", _queries(tmp_path / "q.npz"))
    assert run.code == 2
    line = only_line(run.err)
    assert line.startswith(f"tfckpt: error: the lookup tables of {model} cannot be initialized: "
                           f"node 'text_file_init/InitializeTableFromTextFileV2': ")
    assert line.endswith(f"{reason} ({type(caught.value).__name__})")


def test_windows_path_and_base_name_rename(tmp_path):
    from migrate.rebuild.assets import AssetSearch, find, search_places

    (tmp_path / "vocab.txt").write_text("a\n")
    (tmp_path / "other.txt").write_text("b\n")
    places = search_places(AssetSearch(), [str(tmp_path)])
    assert find(r"C:\Users\author\data\vocab.txt", search=AssetSearch(), places=places) == (
        str(tmp_path / "vocab.txt"), f"in {tmp_path}")
    renamed = AssetSearch(renames=(("vocab.txt", str(tmp_path / "other.txt")),))
    assert find("/home/author/vocab.txt", search=renamed, places=places) == (
        str(tmp_path / "other.txt"), f"--asset vocab.txt={tmp_path / 'other.txt'}")
    assert find("/home/author/missing.txt", search=AssetSearch(), places=places) == (None, "")
