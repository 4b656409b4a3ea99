#!/usr/bin/env python3
"""Print the fault matrix (RELIABILITY.md) from the results the fault-injection tests append
to `.wirewatch/fault-matrix.jsonl`: the latest run of each case, as a Markdown table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="?", type=Path,
                        default=Path(".wirewatch/fault-matrix.jsonl"))
    parser.add_argument("--all", action="store_true", help="every run, not the latest per case")
    args = parser.parse_args()
    if not args.results.exists():
        raise SystemExit(f"{args.results} does not exist: run `make faults` first")
    runs = [json.loads(line) for line in args.results.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    if not args.all:
        runs = list({run["case"]: run for run in runs}.values())
    standard = ("case", "dispatches", "lost", "misrouted", "duplicated", "seed", "at")
    out = sys.stdout
    out.write("| case | dispatches | lost | misrouted | duplicated | notes | seed |\n")
    out.write("| --- | ---: | ---: | ---: | ---: | --- | ---: |\n")
    for run in runs:
        notes = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in run.items()
                          if k not in standard)
        out.write(f"| {run['case']} | {run['dispatches']} | {run['lost']} "
                  f"| {run['misrouted']} | {run['duplicated']} | {notes} | {run['seed']} |\n")


if __name__ == "__main__":
    main()
