"""The `tfckpt` command: argument parsing, dispatch, and the one place where
library exceptions become exit codes.

A command is parse -> call library -> render -> exit code. Subcommands are
registered by `inspectors.cli.commands` (reading) and by this module (writing). Nothing
here imports TensorFlow: handlers import their library modules when they run,
so `--help` and usage errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from inspectors import __version__
from inspectors.cli import commands as inspectors_cli
from inspectors.errors import TfckptError

PROG = "tfckpt"
FORMATS = ("table", "json", "csv")


def common_options(*, suppress: bool) -> argparse.ArgumentParser:
    """Options every command takes, before or after the subcommand name.

    The top-level parser holds the real defaults; subcommand copies use
    SUPPRESS so that a value given before the subcommand is not overwritten.
    """
    default = (lambda value: argparse.SUPPRESS) if suppress else (lambda value: value)
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("common options")
    group.add_argument("--format", choices=FORMATS, default=default("table"),
                       help="output format (default: table)")
    group.add_argument("-q", "--quiet", action="store_true", default=default(False),
                       help="print no result, only set the exit code")
    group.add_argument("--debug", action="store_true", default=default(False),
                       help="show the full traceback of an error")
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common_options(suppress=False)],
        description="Inspect, diff and migrate TensorFlow 1.x checkpoints, graphs and model dirs.",
        epilog="Exit codes: 0 success, 1 differences found or verification failed, "
               "2 bad usage or bad input. Run `tfckpt COMMAND --help` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = common_options(suppress=True)
    inspectors_cli.register(subparsers, parent)
    register(subparsers, parent)
    return parser


def register(subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser) -> None:
    """Register the writing commands, each from its own module."""
    from migrate.cli import export, map, rename, weights

    for command in (export, weights, map, rename):
        command.register(subparsers, parent)


def error_line(error: BaseException) -> str:
    return f"{PROG}: error: {error}"


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, except that names after options still count (`show SRC --stats NAME`).

    argparse fills a trailing `nargs="*"` positional in one go, so names typed after an
    option come back unrecognized; a command that sets `more_positionals` takes them.
    """
    args, extra = parser.parse_known_args(argv)
    target = getattr(args, "more_positionals", None)
    if extra and target and not any(item.startswith("-") for item in extra):
        setattr(args, target, [*getattr(args, target), *extra])
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    try:
        return args.handler(args)
    except TfckptError as error:
        if args.debug:
            raise
        print(error_line(error), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `tfckpt ls big | head` closed our stdout: not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
