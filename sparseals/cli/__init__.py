"""The ``sparseals`` command line (also ``python -m sparseals``).

User mistakes end in one line on stderr and exit status 2, never a traceback.
"""

import argparse
import os
import sys

from ._common import CLIError

# what a user mistake raises (bad values, files, ids, more memory than the machine has, as
# the library's estimate or numpy's allocation says); anything else is a bug and keeps its
# traceback
_USER_ERRORS = (CLIError, ValueError, TypeError, OSError, ImportError, FloatingPointError,
                MemoryError)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (and status 2) instead of usage + error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="sparseals", description="Alternating least squares for sparse rating matrices.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"sparseals {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="fit the textbook example and a generated MovieLens-sized data set",
        description="Fit the 50 × 200 textbook example, then a generated ~1M-rating data set "
                    "(no download), and print what was learned.")
    demo.add_argument("--ratings", type=int, default=1_000_209,
                      help="ratings in the generated data set, 100 to 11,192,120 (default: "
                           "MovieLens 1M's count)")
    demo.add_argument("--factors", type=int, default=32,
                      help="factors for the generated set (default 32)")
    demo.add_argument("--iterations", type=int, default=10,
                      help="iterations for the generated set (default 10)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of both data sets, the split and the initial factors "
                           "(default 0)")
    demo.add_argument("--threads", type=int, default=None, help="threads (default: all)")
    from . import evaluate, fit, info, query

    fit.add_parser(commands)
    evaluate.add_parser(commands)
    query.add_parsers(commands)
    info.add_parser(commands)
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help, or an argparse error already printed as one line
        return exit.code if isinstance(exit.code, int) else 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(ratings=args.ratings, factors=args.factors, iterations=args.iterations,
                     seed=args.seed, num_threads=args.threads)
        else:
            return args.run(args)
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as cat does
        # Python's documented recipe: point stdout at devnull so the flush at exit is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except _USER_ERRORS as error:
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"sparseals {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sparseals {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
