"""The subcommands of ``glassnet``, one module each: ``add_parser(subparsers, common)`` declares its options,
``run(args)`` carries it out and returns the exit status.

A new subcommand is a new module here, added to :data:`COMMANDS` (the order of ``glassnet --help``).
"""

from __future__ import annotations

from . import attack, evaluate, explain, export, inspect, lr_find, predict, report, train, tune

COMMANDS = [train, predict, evaluate, tune, lr_find, explain, attack, inspect, export, report]
