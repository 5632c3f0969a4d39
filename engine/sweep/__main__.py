"""`python -m engine.sweep ARGS` == `cram sweep ARGS` (the console launches sweeps this way)."""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv=None) -> int:
    from engine.contract.config import ConfigError

    from .cli import add_sweep_parser

    p = argparse.ArgumentParser(prog="cram")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_sweep_parser(sub)
    args = p.parse_args(["sweep", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"cram sweep: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
