"""The export and freeze jobs end to end: rebuild, write beside the output, load the
result back the way a user would, verify it against the rebuilt source, and only
then move it into place. A result that fails verification is not kept (unless
asked, as `OUT.failed`).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from inspectors.sources import paths
from inspectors.errors import TfckptError, UnsupportedSource, VerificationFailed
from migrate.targets import saved_model as export_module
from migrate.targets import frozen as freeze_module
from migrate.write import staged as output
from migrate.rebuild import choose as rebuild
from migrate import verify
from migrate.safety import RiskyOpsRefused
from migrate.rebuild.assets import MissingAsset
from migrate.rebuild.inference import InferenceGraph
from migrate.predictors import FrozenGraphPredictor, GraphPredictor, OnnxPredictor, SavedModelPredictor
from migrate.rebuild.options import Options
from migrate.targets import kinds


@dataclass(frozen=True)
class Result:
    source: str
    output: str
    way: str
    inputs: tuple[dict, ...]
    outputs: tuple[str, ...]
    signatures: tuple[str, ...]
    notes: tuple[str, ...]
    verification: verify.Verification
    kept: bool

    def to_dict(self) -> dict:
        record = dataclasses.asdict(self)
        record.update(inputs=list(self.inputs), outputs=list(self.outputs),
                      signatures=list(self.signatures), notes=list(self.notes),
                      verification=self.verification.to_dict())
        return record


@dataclass(frozen=True)
class Job:
    """What export and freeze share: where from, where to, how to check."""

    source: str
    output: str
    options: Options
    force: bool = False
    keep_failed: bool = False
    input_path: str | None = None
    tolerance: verify.Tolerance = verify.Tolerance()


def export_saved_model(job: Job, *, parsing: bool = False) -> Result:
    _check(job)

    def write(inference: InferenceGraph) -> Result:
        with output.Staged(job.output, force=job.force, is_dir=False) as staged:
            signatures = export_module.write_saved_model(inference, staged.path, parsing=parsing)
            written = _reopen(staged, job, lambda: SavedModelPredictor(staged.path))
            return _verified(job, inference, staged, written, signatures=signatures)

    return _each_way(job, write)


def export_onnx(job: Job, *, parsing: bool = False) -> Result:
    """The inference graph, frozen and converted by tf2onnx, run back by ONNX Runtime."""
    from migrate.targets import onnx as onnx_module

    if parsing:
        raise UnsupportedSource("--signature parsing is a SavedModel signature; an ONNX model "
                                "takes the features themselves. Drop --signature")
    _check(job)
    inference = rebuild.rebuild(job.source, job.options)
    try:
        model = onnx_module.onnx_model(inference, name=job.source)
        with output.Staged(job.output, force=job.force, is_dir=False) as staged:
            with open(staged.path, "wb") as handle:
                handle.write(model.SerializeToString())
            written = _reopen(staged, job, lambda: OnnxPredictor(staged.path))
            return _verified(job, inference, staged, written, signatures=())
    finally:
        inference.close()


def _not_yet(target: str):
    def refuse(job: Job, *, parsing: bool = False) -> Result:
        raise UnsupportedSource(f"export --to {target} is not available yet. "
                                f"Export a SavedModel (a directory) or an .onnx file")
    return refuse


# target -> its writer; kinds.TARGETS lists the same names for the parser.
WRITERS = {kinds.SAVED_MODEL: export_saved_model, kinds.ONNX: export_onnx,
           kinds.KERAS: _not_yet(kinds.KERAS)}


def export(job: Job, *, target: str | None = None, parsing: bool = False) -> Result:
    """Export to `target` (saved-model, onnx, keras), or to what the output's extension names."""
    chosen = kinds.target_of(job.output, target)
    named = kinds.extension_conflict(job.output, chosen)
    if named:
        raise TfckptError(f"--to {chosen} does not match the output {job.output}, whose "
                          f"extension names {named}. Pass --to {named} or rename the output")
    return WRITERS[chosen](job, parsing=parsing)


def freeze_graph(job: Job) -> Result:
    _check(job)

    def write(inference: InferenceGraph) -> Result:
        graph_def, names = freeze_module.frozen_graph_def(inference)
        inference.notes.extend(freeze_module.asset_notes(inference))
        with output.Staged(job.output, force=job.force, is_dir=False) as staged:
            with open(staged.path, "wb") as handle:
                handle.write(graph_def.SerializeToString())
            written = _reopen(staged, job, lambda: FrozenGraphPredictor(
                staged.path, outputs=names, allow_risky_ops=job.options.allow_risky_ops))
            return _verified(job, inference, staged, written, signatures=())

    return _each_way(job, write)


def _each_way(job: Job, write) -> Result:
    """Rebuild, write and verify with the first way that gets through all three; a way
    that fails to build, to run or to verify hands over to the next. When a later way
    also applies, it is run too as a second, independent rebuild and the notes say
    whether the two agree."""
    ways = rebuild.candidates(job.source, job.options)
    failures: list[tuple[str, TfckptError]] = []
    for index, way in enumerate(ways):
        options = dataclasses.replace(job.options, via=way) if len(ways) > 1 else job.options
        try:
            inference = rebuild.rebuild(job.source, options)
        except (RiskyOpsRefused, MissingAsset):
            raise  # a refusal on purpose, or a file every way needs: not a way that failed
        except TfckptError as error:
            failures.append((way, error))
            continue
        try:
            result = write(inference)
        except TfckptError as error:
            failures.append((way, error))
            continue
        else:
            notes = [f"the {failed} way failed ({error}); the {way} way was used"
                     for failed, error in failures]
            notes += _second_opinion(job, inference, ways[index + 1:])
            return dataclasses.replace(result, notes=tuple(notes) + result.notes)
        finally:
            inference.close()
    way, first = failures[0]
    if len(failures) > 1:
        others = "; ".join(f"the {w} way: {e}" for w, e in failures[1:])
        if not isinstance(first, ExportFailed):
            first.args = (f"{first} (also tried {others})",)
    raise first


def _verdict(report, first: str, second: str) -> str:
    """One line: whether two rebuilds agree, and on which outputs they do not. An output
    the two ways give in another form (contrib's int64 `classes` [N] against tf.estimator's
    string [N, 1]) is listed apart: a naming convention, not a disagreement on values."""
    agreed = [check for check in report.checks if check.status == verify.PASS]
    values = [check for check in report.checks if check.status != verify.PASS and not check.problem]
    forms = [check for check in report.checks if check.status != verify.PASS and check.problem]
    worst = max((check.max_abs or 0.0 for check in agreed), default=0.0)
    verdict = "DISAGREE" if values or not agreed else "agree"
    line = (f"two independent rebuilds {verdict}: the {first} and the {second} way on "
            f"{report.rows} rows (outputs {', '.join(c.key for c in agreed) or 'none'}: "
            f"max |a-b| {worst:.3g}")
    if values:
        line += "; differ: " + ", ".join(f"{c.key} ({c.mismatched} of {c.elements} elements)"
                                         for c in values)
    if forms:
        line += "; in another form: " + ", ".join(f"{c.key} ({c.problem})" for c in forms)
    return line + ")"


def _second_opinion(job: Job, inference: InferenceGraph, later: list[str]) -> list[str]:
    """Whether another applicable way predicts what the chosen one does (a strong check:
    two rebuilds that share no code path)."""
    for way in later:
        try:
            other = rebuild.rebuild(job.source, dataclasses.replace(job.options, via=way))
        except TfckptError:
            continue  # that way does not apply to this model
        try:
            first = GraphPredictor(inference, description=inference.way)
            second = GraphPredictor(other, description=way)
            feeds, _ = verify.feeds_for(inference.features, job.input_path)
            report = verify.compare(first, second, feeds, inputs_from="", tolerance=job.tolerance)
        except TfckptError as error:
            return [f"the {way} way also applies but could not be compared: {error}"]
        finally:
            other.close()
        return [_verdict(report, inference.way, way)]
    return []


def _reopen(staged: output.Staged, job: Job, opener):
    """Load what was just written; a failure names the output, not the temp path."""
    try:
        return opener()
    except TfckptError as error:
        raise type(error)(str(error).replace(staged.path, job.output)) from None


def _check(job: Job) -> None:
    output.check_output(job.output, _input_paths(job.source), force=job.force)


def _input_paths(given: str) -> list[str]:
    """Everything the source reads: its files' directory when it is a model dir."""
    try:
        source = paths.resolve(given)
    except TfckptError:  # a SavedModel or a graph file: the path itself is all it reads
        return [os.path.expanduser(given)]
    return [p for p in {os.path.expanduser(given.split("@")[0]), source.path,
                        source.model_dir, source.meta_graph} if p]


def _verified(job: Job, inference: InferenceGraph, staged: output.Staged, written,
              *, signatures: tuple[str, ...]) -> Result:
    written.description = written.description.replace(staged.path, job.output)
    try:
        source = GraphPredictor(inference, description=job.source)
        feeds, inputs_from = verify.feeds_for(inference.features, job.input_path)
        report = verify.compare(source, written, feeds, inputs_from=inputs_from,
                                tolerance=job.tolerance)
    finally:
        written.close()
    result = Result(source=job.source, output=job.output, way=inference.way,
                    inputs=tuple(spec.to_dict() for spec in inference.features),
                    outputs=tuple(inference.outputs), signatures=signatures,
                    notes=tuple(inference.notes), verification=report, kept=report.passed)
    if not report.passed:
        if job.keep_failed:
            staged.keep_as = job.output + ".failed"
        failed = [check.key for check in report.checks if check.status != verify.PASS]
        raise ExportFailed(result, f"{job.output} was not written: it does not predict what "
                                   f"{job.source} predicts (outputs {', '.join(failed)})"
                                   + (f"; kept as {staged.keep_as}" if job.keep_failed else ""))
    output.fsync_tree(staged.path)
    staged.commit()
    return result


class ExportFailed(VerificationFailed):
    """Verification of a new output failed; carries the report for printing."""

    def __init__(self, result: Result, message: str):
        super().__init__(message)
        self.result = result

    def __reduce__(self):  # pickled back from the child that ran the export (migrate.guarded)
        return type(self), (self.result, str(self))
