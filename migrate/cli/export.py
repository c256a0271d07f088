"""The `export`, `freeze`, `predict` and `verify` commands: parsing, the library
call, rendering. Notes on how a model was rebuilt go to stderr; results to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys

from inspectors.errors import EXIT_DIFFERENT, EXIT_OK, TfckptError
from migrate.rebuild.ways import WAYS
from migrate.targets.kinds import TARGETS

VERIFY_COLUMNS = ("key", "status", "dtype", "shape", "mismatched", "max_abs", "max_rel",
                  "needed_atol")
VERIFY_HEADERS = ("output", "result", "dtype", "shape", "mismatched", "max |a-b|",
                  "max rel", "atol needed")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    rebuild = _rebuild_options()
    checking = _checking_options()
    writing = _writing_options()
    export = subparsers.add_parser(
        "export", parents=[parent, rebuild, checking, writing],
        help="checkpoint or model dir -> SavedModel for TF 2.21 or ONNX model, verified",
        description="Write a SavedModel that tf.saved_model.load serves (signatures "
                    "serving_default and predict), or, for OUT.onnx, an ONNX model that ONNX "
                    "Runtime runs (inputs named after the features, outputs after the "
                    "prediction keys), verified against the source before it is moved into "
                    "place. Exit 1 if verification fails (nothing kept).")
    export.add_argument("source", metavar="SRC", help="checkpoint, model dir or DIR@STEP")
    export.add_argument("out", metavar="OUT",
                        help="the SavedModel directory or the .onnx file to create")
    export.add_argument("--to", choices=TARGETS,
                        help="the target (default: .onnx -> onnx, otherwise saved-model)")
    export.add_argument("--signature", choices=("parsing",), action="append", default=[],
                        help="also add serialized tf.Example signatures (input `examples`)")
    export.set_defaults(handler=run_export)

    freeze = subparsers.add_parser(
        "freeze", parents=[parent, rebuild, checking, writing],
        help="checkpoint or model dir -> frozen inference GraphDef, verified",
        description="Write a frozen GraphDef (variables as constants, training ops gone), "
                    "verified against the source before it is moved into place.")
    freeze.add_argument("source", metavar="SRC", help="checkpoint, model dir or DIR@STEP")
    freeze.add_argument("out", metavar="OUT.pb", help="the GraphDef file to create")
    freeze.set_defaults(handler=run_freeze)

    predict = subparsers.add_parser(
        "predict", parents=[parent, rebuild],
        help="predictions of a checkpoint, model dir, SavedModel, frozen graph or .onnx",
        description="Run the model on the inputs of FILE (npz, csv or json; columns named "
                    "after the features). The latest checkpoint unless SRC@STEP.")
    predict.add_argument("source", metavar="SRC")
    predict.add_argument("--input", required=True, metavar="FILE", help="npz, csv or json")
    predict.add_argument("--labels", metavar="COLUMN",
                         help="a column of FILE with the true labels: print accuracy or RMSE")
    predict.add_argument("--output", metavar="OUT.npz", help="also write the predictions here")
    predict.add_argument("--force", action="store_true", help="replace an existing --output")
    predict.add_argument("--saved-model-signature", dest="saved_model_signature",
                         default="serving_default",
                         help="signature of a SavedModel SRC (default serving_default)")
    predict.set_defaults(handler=run_predict)

    verify = subparsers.add_parser(
        "verify", parents=[parent, rebuild, checking],
        help="run the same inputs through two models and compare (exit 1 if they differ)",
        description="A and B: each a checkpoint or model dir, a SavedModel, a frozen graph, "
                    "an .onnx model, or recorded predictions (.npz with x:<feature> and y:<output> arrays). "
                    "Inputs are FILE's, the recorded ones, or generated from A's feature specs.")
    verify.add_argument("a", metavar="A")
    verify.add_argument("b", metavar="B")
    verify.set_defaults(handler=run_verify)


def _rebuild_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("rebuilding a checkpoint")
    group.add_argument("--via", choices=WAYS,
                       help="force the way: the training graph, the canned rebuild, or a model_fn")
    group.add_argument("--outputs", nargs="+", metavar="KEY=TENSOR",
                       help="the graph's outputs, when they cannot be found automatically")
    group.add_argument("--inputs", nargs="+", metavar="NAME",
                       help="the graph's inputs to keep (feature key, tensor or node), when "
                            "it has more than the prediction needs")
    group.add_argument("--features", metavar="SPEC",
                       help="feature specs as JSON or a JSON file: "
                            "{\"x\": {\"dtype\": \"float32\", \"shape\": [3]}, ...}")
    group.add_argument("--model-fn", metavar="MODULE:FUNCTION",
                       help="an old-style model_fn(features, labels, mode, params) to run")
    group.add_argument("--params", metavar="JSON", default="{}", help="params for --model-fn")
    group.add_argument("--allow-risky-ops", action="store_true",
                       help="run graphs that hold file, Python or shell-like ops")
    group.add_argument("--assets", action="append", default=[], metavar="DIR",
                       help="a folder holding files the graph reads (vocabularies); repeatable")
    group.add_argument("--asset", action="append", default=[], metavar="OLD=NEW",
                       help="the file the graph names OLD (its path or base name) is NEW")
    return parent


def _checking_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("verification")
    group.add_argument("--input", metavar="FILE",
                       help="inputs (npz, csv, json) instead of generated ones")
    group.add_argument("--atol", action="append", default=[], metavar="[KEY=]TOL",
                       help="absolute tolerance, for all outputs or one (default 1e-5)")
    group.add_argument("--rtol", action="append", default=[], metavar="[KEY=]TOL",
                       help="relative tolerance, for all outputs or one (default 1e-5)")
    return parent


def _writing_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("writing")
    group.add_argument("--force", action="store_true",
                       help="replace an existing output, once the new one is verified")
    group.add_argument("--keep-failed", action="store_true",
                       help="keep an output that fails verification as OUT.failed")
    return parent


def options_from(args: argparse.Namespace):
    from migrate.rebuild.options import Options

    features = None
    if args.features:
        from migrate.rebuild import model_fn as estimator_compat

        features = estimator_compat.read_feature_spec(args.features)
    return Options(via=args.via, outputs=_key_values(args.outputs, "--outputs"),
                   inputs=tuple(args.inputs) if args.inputs else None,
                   features=features, model_fn=args.model_fn,
                   params=_json_object(args.params, "--params"),
                   signature=getattr(args, "saved_model_signature", "serving_default"),
                   allow_risky_ops=args.allow_risky_ops, assets=_asset_search(args))


def _asset_search(args: argparse.Namespace):
    from migrate.rebuild.assets import AssetSearch

    renames = []
    for value in args.asset:
        old, sep, new = value.partition("=")
        if not sep or not old or not new:
            raise TfckptError(f"--asset {value}: expected OLD=NEW, e.g. "
                              f"/home/me/vocab.txt=./vocab.txt")
        renames.append((old, new))
    return AssetSearch(dirs=tuple(args.assets), renames=tuple(renames))


def tolerance_from(args: argparse.Namespace):
    from migrate.verify import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance

    atol, per_atol = _tolerances(args.atol, "--atol", DEFAULT_ATOL)
    rtol, per_rtol = _tolerances(args.rtol, "--rtol", DEFAULT_RTOL)
    keys = sorted(set(per_atol) | set(per_rtol))
    return Tolerance(atol=atol, rtol=rtol, per_output=tuple(
        (key, per_atol.get(key, atol), per_rtol.get(key, rtol)) for key in keys))


def _tolerances(values: list[str], flag: str, default: float) -> tuple[float, dict[str, float]]:
    overall, per_key = default, {}
    for value in values:
        key, _, number = value.rpartition("=")
        try:
            tolerance = float(number)
        except ValueError:
            raise TfckptError(f"{flag} {value}: expected a number or KEY=NUMBER") from None
        if key:
            per_key[key] = tolerance
        else:
            overall = tolerance
    return overall, per_key


def _key_values(values: list[str] | None, flag: str) -> dict[str, str] | None:
    if not values:
        return None
    pairs = {}
    for value in values:
        key, sep, tensor = value.partition("=")
        if not sep:
            key, tensor = value.split(":")[0].rsplit("/", 1)[-1], value
        if not key or not tensor:
            raise TfckptError(f"{flag} {value}: expected KEY=TENSOR, e.g. probabilities=head/Softmax:0")
        pairs[key] = tensor
    return pairs


def _json_object(text: str, flag: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise TfckptError(f"{flag} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise TfckptError(f"{flag} must be a JSON object, e.g. '{{\"n_classes\": 3}}'")
    return value


def _job(args: argparse.Namespace):
    from migrate.convert import Job

    return Job(source=args.source, output=args.out, options=options_from(args), force=args.force,
               keep_failed=args.keep_failed, input_path=args.input, tolerance=tolerance_from(args))


def run_export(args: argparse.Namespace) -> int:
    from migrate import convert

    return _finish(args, lambda: convert.export(
        _job(args), target=args.to, parsing="parsing" in args.signature))


def run_freeze(args: argparse.Namespace) -> int:
    from migrate import convert

    return _finish(args, lambda: convert.freeze_graph(_job(args)))


def _finish(args: argparse.Namespace, work) -> int:
    from migrate.convert import ExportFailed

    if args.format == "csv":
        raise TfckptError(f"{args.command} writes table or json. Pass --format table or json")
    from migrate.guarded import run_guarded

    try:
        result = run_guarded(work, what=args.source, output=args.out)
    except ExportFailed as failed:
        _print_result(failed.result, args)
        raise
    _print_result(result, args)
    return EXIT_OK


def _print_result(result, args: argparse.Namespace) -> None:
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.quiet:
        return
    from inspectors import render

    if args.format == "json":
        sys.stdout.write(render.to_json(result.to_dict()))
        return
    verb = "wrote" if result.kept else "did not write"
    lines = [f"{verb} {result.output} (way: {result.way})"]
    if result.signatures:
        lines.append(f"signatures: {', '.join(result.signatures)}")
    lines.append("inputs: " + ", ".join(f"{spec['name']} {spec['dtype']}{spec['shape']}"
                                        for spec in result.inputs))
    lines.append(f"outputs: {', '.join(result.outputs)}")
    sys.stdout.write("\n".join(lines) + "\n\n" + _verification_text(result.verification))


def run_verify(args: argparse.Namespace) -> int:
    from migrate import predictors, verify

    if args.format == "csv":
        raise TfckptError("verify writes table or json. Pass --format table or json")
    from migrate.guarded import run_guarded

    notes, report = run_guarded(lambda: _verify(args), what=f"{args.a} or {args.b}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if not args.quiet:
        from inspectors import render

        sys.stdout.write(render.to_json(report.to_dict()) if args.format == "json"
                         else _verification_text(report))
    return EXIT_OK if report.passed else EXIT_DIFFERENT


def _verify(args: argparse.Namespace):
    from migrate import predictors, verify

    options = options_from(args)
    a = predictors.open_predictor(args.a, options)
    try:
        b = predictors.open_predictor(args.b, options)
        try:
            feeds, inputs_from = verify.inputs_for(a, b, args.input)
            return [*a.notes, *b.notes], verify.compare(a, b, feeds, inputs_from=inputs_from,
                                                        tolerance=tolerance_from(args))
        finally:
            b.close()
    finally:
        a.close()


def _verification_text(report) -> str:
    from inspectors import render

    rows = [{key: _cell(value) for key, value in check.to_dict().items()} for check in report.checks]
    text = [f"A: {report.a}\nB: {report.b}\ninputs: {report.inputs}\n",
            render.to_table(rows, VERIFY_COLUMNS, headers=VERIFY_HEADERS)]
    text.extend(f"only in A: {key}\n" for key in report.only_in_a)
    text.extend(f"only in B: {key}\n" for key in report.only_in_b)
    failed = sum(1 for check in report.checks if check.status != "PASS")
    verdict = "PASS" if report.passed else "FAIL"
    text.append(f"\n{verdict}: {len(report.checks) - failed} of {len(report.checks)} outputs "
                f"match on {report.rows} rows\n")
    return "".join(text)


def run_predict(args: argparse.Namespace) -> int:
    from migrate import predict

    from migrate.guarded import run_guarded

    result = run_guarded(lambda: predict.predict(args.source, args.input, options_from(args),
                                                 labels=args.labels), what=args.source)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.output:
        _write_npz(args.output, result.outputs, force=args.force, source=args.source)
    if result.metric:
        print(f"{result.metric.name} against {result.metric.labels!r}: {result.metric.value:.6g}",
              file=sys.stderr)
    if not args.quiet:
        sys.stdout.write(_prediction_text(result, args.format))
    return EXIT_OK


def _write_npz(path: str, outputs: dict, *, force: bool, source: str) -> None:
    from migrate.write import staged as output

    output.check_output(path, [source], force=force)
    import numpy as np

    with output.Staged(path, force=force, is_dir=False) as staged:
        with open(staged.path, "wb") as handle:
            np.savez(handle, **{f"y:{key}": value for key, value in outputs.items()})
        staged.commit()


def _prediction_text(result, fmt: str) -> str:
    from inspectors import render

    keys = list(result.outputs)
    if fmt == "json":
        document = {"source": result.source, "rows": result.rows,
                    "outputs": {key: _plain(value) for key, value in result.outputs.items()},
                    "metric": result.metric.to_dict() if result.metric else None}
        return render.to_json(document)
    rows = [{"row": index, **{key: _row_cell(result.outputs[key][index]) for key in keys}}
            for index in range(result.rows)]
    if fmt == "csv":
        return render.to_csv(rows, ["row", *keys])
    return render.to_table(rows, ["row", *keys])


def _plain(value):
    import numpy as np

    from inspectors.values import to_plain

    array = np.asarray(value)
    if array.dtype.kind in "SO":
        return to_plain(array)
    return array.tolist()


def _row_cell(value) -> str:
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind in "SO":
        from inspectors.render import display_text

        items = [display_text(item) for item in array.reshape(-1)]
    elif array.dtype.kind == "f":
        items = [f"{item:.6g}" for item in array.reshape(-1)]
    else:
        items = [str(item) for item in array.reshape(-1)]
    return items[0] if array.size == 1 else "[" + " ".join(items) + "]"


def _cell(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return value
