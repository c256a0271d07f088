"""The `tfckpt export-weights` and `tfckpt import-weights` commands."""

from __future__ import annotations

import argparse
import sys

from inspectors.errors import EXIT_OK, TfckptError
from inspectors.progress import bar_for
from migrate.cli.rename import add_rule_options

COLUMNS = ("operation", "output", "output_format", "checkpoint", "variables", "nbytes", "step",
           "source_format", "verified")
HEADERS = ("operation", "output", "format", "checkpoint", "variables", "bytes", "step",
           "source format", "verified")


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    export = subparsers.add_parser(
        "export-weights", parents=[parent],
        help="write a checkpoint's variables to an HDF5 (.h5), npz or safetensors file",
        description="Write every variable of SRC to OUT (.h5/.hdf5: groups follow scopes, "
                    "each dataset carries name, dtype, shape, source, step attributes; .npz: one "
                    "array per variable plus a __tfckpt__ JSON member; .safetensors: the "
                    "checkpoint's names, or what the rename rules below make of them, with "
                    "source and step in the header's metadata; no strings). Partitioned "
                    "variables are written whole, bfloat16 keeps every bit. One tensor in "
                    "memory at a time; OUT appears only after it was re-read and compared.")
    export.add_argument("src", metavar="SRC", help="checkpoint, model dir, DIR@STEP, SavedModel or .h5")
    export.add_argument("out", metavar="OUT", help="the .h5, .hdf5, .npz or .safetensors file to write")
    add_rule_options(export)
    export.add_argument("--force", action="store_true",
                        help="replace an existing OUT once the new one is verified")
    export.set_defaults(handler=run_export)

    imp = subparsers.add_parser(
        "import-weights", parents=[parent],
        help="write an .h5/.npz/.safetensors weights file as a new V2 checkpoint",
        description="Write the weights of IN (a file export-weights wrote, a plain .npz or "
                    ".safetensors keyed by variable name, or a Keras 1/2 .h5 with layer/weight "
                    "names) as a V2 "
                    "checkpoint OUT/model.ckpt[-STEP] plus a `checkpoint` state file, verified "
                    "bit for bit before OUT appears.")
    imp.add_argument("inp", metavar="IN", help="an .h5, .npz or .safetensors weights file")
    imp.add_argument("out", metavar="OUT", help="the output directory (must not exist)")
    imp.add_argument("--step", type=int, metavar="N",
                     help="name the checkpoint model.ckpt-N (default: the step IN records)")
    imp.add_argument("--force", action="store_true",
                     help="replace an existing OUT once the new one is verified")
    imp.set_defaults(handler=run_import)


def run_export(args: argparse.Namespace) -> int:
    from migrate.write import weights

    report = weights.export_weights(args.src, args.out, force=args.force,
                                    progress=bar_for(args), steps=args.steps)
    return _print(report, args)


def run_import(args: argparse.Namespace) -> int:
    from migrate.write import weights

    if args.step is not None and args.step < 0:
        raise TfckptError(f"--step must be 0 or more, not {args.step}")
    report = weights.import_weights(args.inp, args.out, force=args.force, step=args.step,
                                    progress=bar_for(args))
    return _print(report, args)


def _print(report, args: argparse.Namespace) -> int:
    from inspectors import render

    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.quiet:
        return EXIT_OK
    row = report.to_dict()
    if args.format == "json":
        sys.stdout.write(render.to_json(row))
    elif args.format == "csv":
        sys.stdout.write(render.to_csv([row], COLUMNS))
    else:
        row["nbytes"] = render.human_bytes(row["nbytes"])
        columns = [c for c in COLUMNS if c != "checkpoint" or row["checkpoint"]]
        headers = [h for c, h in zip(COLUMNS, HEADERS) if c in columns]
        sys.stdout.write(render.to_table([row], columns, headers=headers))
    return EXIT_OK
