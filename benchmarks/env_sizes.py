"""How much disk each install of the README's table takes: `du` of a fresh virtual environment
holding PyTorch's CPU build and that install, as a new user makes it.

One environment with torch (tools/install_torch.py) is made first and measured alone; each row
is then a copy of it (a venv copied elsewhere still runs as `<copy>/bin/python -m pip`) with the
row's `pip install -e ".[extras]"`, measured with `du -sb`, and removed. pip takes its wheels
from its cache after the first row, so a run takes about a minute per row.

    python benchmarks/env_sizes.py                    # every row, about 15 minutes
    python benchmarks/env_sizes.py --rows core,phone  # some of them
    python benchmarks/env_sizes.py --write-readme     # and put the figures into README.md

Prints one line per row: the install, its size, and what pip added, largest first.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# README placeholder -> the extras installed (None: torch alone, "": the package without extras)
ROWS = {
    "TORCH": None,
    "CORE": "",
    "ET": "executorch",
    "TFLITE": "tflite",
    "PHONE": "executorch,tflite,native",
    "ONNX": "onnx",
    "COREML": "coreml",
    "SITE": "site",
    "EXPLORER": "explorer",
    "FARM": "farm",
    "IOS": "ios",
    "ALL": "all",
    "TEST": "all,test",
}
ALIASES = {name.lower(): name for name in ROWS}


def du_bytes(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def fmt_size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def run(*argv: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise SystemExit(f"{' '.join(argv[:6])} ... failed:\n" + "\n".join(tail))


def largest_added(venv: Path, base: set[str], n: int = 4) -> str:
    """The biggest distributions in `venv` that the base environment lacks."""
    site = next((venv / "lib").glob("python*/site-packages"))
    sizes = []
    for entry in site.iterdir():
        if entry.name not in base and entry.is_dir() and not entry.name.endswith(".dist-info"):
            sizes.append((du_bytes(entry), entry.name))
    sizes.sort(reverse=True)
    return ", ".join(f"{name} {fmt_size(size)}" for size, name in sizes[:n])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(n.lower() for n in ROWS),
                        help="which rows, comma separated (default: all)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter the environments are made from")
    parser.add_argument("--write-readme", action="store_true",
                        help="replace the README's SIZE_ placeholders (or figures) with these")
    args = parser.parse_args()
    try:
        rows = [ALIASES[r.strip().lower()] for r in args.rows.split(",") if r.strip()]
    except KeyError as exc:
        print(f"--rows: unknown row {exc}; known: {', '.join(ALIASES)}", file=sys.stderr)
        return 2

    figures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="env-sizes-") as tmp:
        base = Path(tmp) / "base"
        run(args.python, "-m", "venv", str(base))
        run(str(base / "bin" / "python"), str(ROOT / "tools" / "install_torch.py"))
        site = next((base / "lib").glob("python*/site-packages"))
        base_names = {p.name for p in site.iterdir()}
        figures["TORCH"] = fmt_size(du_bytes(base))
        print(f"{'torch alone':32s} {figures['TORCH']:>8s}", flush=True)
        for row in rows:
            extras = ROWS[row]
            if extras is None:
                continue
            copy = Path(tmp) / row.lower()
            shutil.copytree(base, copy, symlinks=True)
            target = f"{ROOT}[{extras}]" if extras else str(ROOT)
            run(str(copy / "bin" / "python"), "-m", "pip", "install", "--quiet",
                "--disable-pip-version-check", "-e", target)
            size = du_bytes(copy)
            figures[row] = fmt_size(size)
            label = f'-e ".[{extras}]"' if extras else "-e ."
            print(f"{label:32s} {figures[row]:>8s}   added: {largest_added(copy, base_names)}",
                  flush=True)
            shutil.rmtree(copy)

    if args.write_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        for row, figure in figures.items():
            # The placeholder, or a figure an earlier run wrote with its marker after it.
            text = re.sub(rf"(?:[0-9.]+ [MG]B )?<!-- SIZE_{row} -->|\bSIZE_{row}\b",
                          f"{figure} <!-- SIZE_{row} -->", text)
        stamp = f"measured {date.today().isoformat()} by benchmarks/env_sizes.py"
        text = re.sub(r"MEASURED_ON|measured \d{4}-\d{2}-\d{2} by benchmarks/env_sizes.py", stamp, text)
        readme.write_text(text)
        print(f"README.md: {len(figures)} figures written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
