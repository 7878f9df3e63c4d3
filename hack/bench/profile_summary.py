"""Sum up py-spy's folded stacks (``-f raw``): where the operator's CPU time went.

Usage: .venv/bin/python hack/bench/profile_summary.py FILE.folded [--top N] [--only SUBSTR]

Prints the functions with the most samples on the CPU themselves ("self") and anywhere
on the stack ("inclusive"), as shares of all samples. Idle samples (a thread waiting in
select/epoll) are counted apart, so the shares are of the time spent working.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

IDLE_MARKERS = (
    "select (selectors.py",
    "_run_once (asyncio/base_events.py",
    "wait (threading.py",
    # An executor's thread waiting for work (its queue's get, line 81): blocked, not working.
    "_worker (concurrent/futures/thread.py:81)",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--only", default="", help="keep stacks containing this text")
    args = parser.parse_args()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    working = idle = 0
    for line in args.file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        if args.only and args.only not in stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE_MARKERS):
            idle += count
            continue
        working += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not working:
        print("no working samples", file=sys.stderr)
        return 1
    print(f"{working} working samples ({idle} idle)\n")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"-- {title}")
        for frame, count in counter.most_common(args.top):
            print(f"{count / working * 100:6.1f} %  {frame}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
