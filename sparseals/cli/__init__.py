"""The ``sparseals`` command line (also ``python -m sparseals``).

User mistakes end in one line on stderr and exit status 2, never a traceback.
"""

import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(
        prog="sparseals", description="Alternating least squares for sparse rating matrices.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="fit the textbook example and a generated MovieLens-sized data set",
        description="Fit the 50 × 200 textbook example, then a generated ~1M-rating data set "
                    "(no download), and print what was learned.")
    demo.add_argument("--ratings", type=int, default=1_000_209,
                      help="ratings in the generated data set (default: MovieLens 1M's count)")
    demo.add_argument("--factors", type=int, default=32, help="factors for the generated set")
    demo.add_argument("--iterations", type=int, default=10)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--threads", type=int, default=None, help="threads (default: all)")
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "demo":
            from .demo import run_demo

            run_demo(ratings=args.ratings, factors=args.factors, iterations=args.iterations,
                     seed=args.seed, num_threads=args.threads)
    except (ValueError, TypeError, OSError) as error:
        print(f"sparseals {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0
