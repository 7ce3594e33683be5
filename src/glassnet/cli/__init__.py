"""The glassnet command line: train, predict, evaluate, lr-find, explain, attack, inspect, export and report.

``glassnet train`` with no arguments trains a classifier on scikit-learn's bundled digits.
Each subcommand is one module in :mod:`glassnet.cli.commands`; this module parses the command line,
runs the subcommand chosen and turns a user's mistake into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from typing import Any

from .. import __version__
from .commands import COMMANDS
from .errors import UsageError

USER_ERRORS = (UsageError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
               PermissionError, ImportError)


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, pointing at --help, instead of the whole usage."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser: the options every subcommand shares, then each subcommand's own."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback on errors")
    parser = _Parser(prog="glassnet", description=__doc__.splitlines()[0], parents=[common])
    parser.add_argument("--version", action="version", version=f"glassnet {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(subparsers, common).set_defaults(run=command.run)
    return parser


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"glassnet: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; user mistakes exit with status 2 and one message (``--debug`` for the traceback)."""
    args = build_parser().parse_args(argv)
    debug = getattr(args, "debug", False)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except KeyboardInterrupt:
            print("glassnet: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # the reader went away (glassnet predict ... | head): not an error
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except Exception as e:
            if debug:
                raise
            if isinstance(e, USER_ERRORS):
                print(f"glassnet: error: {e}", file=sys.stderr)
                return 2
            print(f"glassnet: internal error ({type(e).__name__}): {e}\n"
                  "run again with --debug to see the traceback", file=sys.stderr)
            return 1
