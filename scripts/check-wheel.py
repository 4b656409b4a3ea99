"""What users install, checked: build the wheel, find every data file of the source tree in
it, install it in a fresh virtual environment outside the tree, and run the installed
`wirewatch` on the seed feed.

    .venv/bin/python scripts/check-wheel.py      (make test runs it)

The editable install that `make` uses reads data files from the source tree, so a data
folder missing from the wheel (the gazetteer once was) only shows in an installed package.
Exit status 1 with one line per problem.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("streams", "schemas", "seeds")
WATCHED = {"withdrawal", "russia-ukraine", "iran-deal"}


def source_files() -> list[str]:
    """The files of the tree as a fresh clone has them, plus new ones not ignored."""
    return subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                          cwd=ROOT, check=True, capture_output=True, text=True).stdout.split()


def build_wheel(files: list[str], scratch: Path) -> Path:
    """Build from a copy of the source files: a `build/` folder left in the tree by an
    earlier build would otherwise hide what the package data declaration misses."""
    source = scratch / "source"
    for name in files:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--wheel-dir", str(scratch / "dist"), str(source)], check=True)
    [wheel] = (scratch / "dist").glob("wirewatch-*.whl")
    return wheel


def run(command: list[str], cwd: Path, stdin: bytes | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, input=stdin, capture_output=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"check-wheel: {' '.join(command[-2:])} exited {done.returncode}:\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return done.stdout.decode()


def main() -> None:
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wirewatch-wheel-") as scratch:
        where = Path(scratch)
        files = source_files()
        wheel = build_wheel(files, where)
        shipped = set(zipfile.ZipFile(wheel).namelist())
        data_files = {name for name in files
                      if name.split("/")[0] in PACKAGES and not name.endswith(".py")}
        missing = sorted(data_files - shipped)
        if missing:  # the installed package cannot work: say what it lacks, and stop
            for name in missing:
                print(f"check-wheel: {name} is in the source tree but not in the wheel",
                      file=sys.stderr)
            raise SystemExit(1)
        print(f"check-wheel: {wheel.name}, {len(shipped)} files; installing it in a fresh "
              "virtual environment", flush=True)
        venv.create(where / "venv", with_pip=True)
        bin_dir = where / "venv" / "bin"
        run([str(bin_dir / "pip"), "install", "--quiet", str(wheel)], cwd=where)
        wirewatch = str(bin_dir / "wirewatch")
        version = run([wirewatch, "--version"], cwd=where).strip()
        if not version.startswith("wirewatch "):
            problems.append(f"`wirewatch --version` printed {version!r}")
        if "wirewatch" not in run([wirewatch, "--help"], cwd=where):
            problems.append("`wirewatch --help` does not speak of wirewatch")
        seed = (ROOT / "seeds" / "feed.jsonl").read_bytes()
        [line] = run([wirewatch, "enrich"], cwd=where, stdin=seed).splitlines()
        enriched = json.loads(line)
        if not any(entity.get("wikidata_id") for entity in enriched["entities"]):
            problems.append("the installed enrich linked no entity to Wikidata")
        topics = {match["topic"] for match in enriched["topics"]}
        if topics != WATCHED:
            problems.append(f"the installed enrich found topics {sorted(topics)} on the seed")
    for problem in problems:
        print(f"check-wheel: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(1)
    print(f"check-wheel: ok ({version}; seed: {len(enriched['entities'])} entities, "
          f"topics {', '.join(sorted(topics))})")


if __name__ == "__main__":
    main()
