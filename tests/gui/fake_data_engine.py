"""A stand-in for `python -m engine data fetch|build ... --jsonl` that never finishes on its own: it reports
progress until SIGTERM, then says it was cancelled the way the engine does (`error` kind cancelled, `done`
stopped, exit 2). Accepts and ignores the real arguments.

  --pid-file PATH    write this process's pid there
  --total N          progress total (0 = unknown, the default)
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.contract.events import encode  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid-file")
    ap.add_argument("--total", type=int, default=0)
    a, _rest = ap.parse_known_args()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    if a.pid_file:
        Path(a.pid_file).write_text(str(__import__("os").getpid()))
    done = 0
    while not stop:
        print(encode("progress", task="fetch", done=done, total=a.total, message=f"fetching ruby/train.jsonl "
                     f"({done} rows)"), flush=True)
        done += 100
        time.sleep(0.05)
    print(encode("error", kind="cancelled", message="cancelled", hint=""), flush=True)
    print(encode("done", status="stopped"), flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
