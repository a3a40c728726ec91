"""`paperlake`: ingest papers, extract summaries and questions, and query the lake.

Each command lives in a module of this package that registers itself (`register`). Quick commands
(`sql`, `shell`) import neither Prefect nor llama-index (2 s of imports together): the modules import
flows only inside the commands that run them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from cli import ask, evaluate, evaluate_safety, ingest, lake, query, watch
from paperlake.errors import PaperlakeError
from paperlake.settings import load_settings

# Order is the order of `paperlake --help`.
COMMAND_MODULES = (ingest, watch, query, ask, evaluate, evaluate_safety, lake)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paperlake", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _invalid_settings(exc: ValidationError) -> str:
    problems = "; ".join(f"PAPERLAKE_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
    return f"invalid setting: {problems}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        return args.handler(args, settings)
    except ValidationError as exc:  # a PAPERLAKE_* variable that does not parse
        print(f"paperlake: {_invalid_settings(exc)}", file=sys.stderr)
        return 2
    except PaperlakeError as exc:
        print(f"paperlake: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
