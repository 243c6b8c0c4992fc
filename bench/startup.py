"""How long does `n2gkb` take to answer? Wall-clock time of commands that need no database.

    python bench/startup.py                       # this checkout
    python bench/startup.py --repo /path/to/other/checkout --json out.json

Each command runs `--runs` times in a fresh Python process (`python -m cli.main ...`
with PYTHONPATH set to the checkout); prints the median and the slowest run. The target
for every command other than ingest is under one second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = [
    ["version"],
    ["--help"],
    ["search", "token", "--help"],
    ["show", "--help"],
    ["queries", "list"],
    ["ingest", "--help"],
]


def time_command(repo: Path, args: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=repo, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"`n2gkb {' '.join(args)}` failed in {repo}: {done.stderr.decode()[-300:]}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1], help="Checkout to time.")
    parser.add_argument("--runs", type=int, default=5, help="Runs per command.")
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    rows = []
    print(f"n2gkb startup, {args.repo}, {args.runs} runs each")
    print(f"{'command':32} {'median s':>9} {'max s':>7}")
    for command in COMMANDS:
        times = time_command(args.repo, command, args.runs)
        row = {"command": " ".join(command), "median_s": statistics.median(times), "max_s": max(times)}
        rows.append(row)
        print(f"{row['command']:32} {row['median_s']:9.2f} {row['max_s']:7.2f}")
    if args.json:
        args.json.write_text(json.dumps({"repo": str(args.repo), "runs": args.runs, "commands": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
