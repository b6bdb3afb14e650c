"""Contract.swift: the benchmark app's contract types, generated from contract.schema.json.

    npm install                                     # once, at the repository root: quicktype 26.0.0
    python -m device_runners.ios.swift_contract     # rewrites ios_app/HarnessCore/Sources/HarnessCore/Contract.swift

The file is quicktype's Codable structs for the schema's $defs (each named as the schema names
it), then one constant, `contractSchemaVersion`, taken from the RunRequest's `schema_version`
const, which the app writes into every result and checks every request against. quicktype's
version and flags are fixed here, so the output depends on the schema alone;
tests/test_ios_app.py generates it again and fails on any difference, so the Swift app cannot
drift from the schema the Python runners validate against.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Path("device_runners") / "contract.schema.json"  # relative to REPO: no path in the output
OUTPUT = REPO / "ios_app" / "HarnessCore" / "Sources" / "HarnessCore" / "Contract.swift"
QUICKTYPE = REPO / "node_modules" / ".bin" / "quicktype"
QUICKTYPE_VERSION = "26.0.0"  # package.json pins the same
# Every $def that becomes a Swift type; passing each as a source names it as the schema does
# (otherwise quicktype names nested types after their property: Device, Energy, ...).
TYPES = ("RunRequest", "RunResult", "DeviceInfo", "EnergyInfo", "ThermalInfo", "CheckOutput")
FLAGS = (
    "--lang", "swift", "--src-lang", "schema",
    "--no-initializers",        # plain Codable structs; no convenience decoders or `with` mutators
    "--mutable-properties",     # `var`: the memberwise init then defaults optionals to nil
    "--acronym-style", "camel",  # loadMs, deviceId, peakRssLoadKb
    "--access-level", "internal", "--struct-or-class", "struct", "--protocol", "none",
    "--quiet",
)
HEADER = """\
// GENERATED from device_runners/contract.schema.json by quicktype {version}
// (device_runners/ios/swift_contract.py). Do not edit: change the schema, then run
//   npm install && python -m device_runners.ios.swift_contract
// tests/test_ios_app.py fails while this file and the schema disagree.

"""


class QuicktypeMissing(RuntimeError):
    pass


def quicktype_command(quicktype: Path = QUICKTYPE) -> list[str]:
    """The command, run from the repository root (see `generate`)."""
    sources = []
    for name in TYPES:
        sources += ["--src", f"{SCHEMA.as_posix()}#/$defs/{name}"]
    return [str(quicktype), *FLAGS, *sources]


def installed_version(quicktype: Path = QUICKTYPE) -> str:
    """The version of the quicktype package `quicktype` runs (node_modules/quicktype/package.json)."""
    package = quicktype.resolve().parents[1] / "package.json"
    try:
        return json.loads(package.read_text()).get("version", "unknown")
    except (OSError, ValueError):
        return "unknown"


def schema_version(schema_path: Path = REPO / SCHEMA) -> int:
    schema = json.loads(schema_path.read_text())
    return int(schema["$defs"]["RunRequest"]["properties"]["schema_version"]["const"])


def generate(quicktype: Path = QUICKTYPE) -> str:
    """The text Contract.swift must hold; raises QuicktypeMissing when quicktype is not installed."""
    if not quicktype.exists():
        raise QuicktypeMissing(f"quicktype is not installed ({quicktype} is missing): run `npm install` "
                               "at the repository root")
    installed = installed_version(quicktype)
    if installed != QUICKTYPE_VERSION:
        raise QuicktypeMissing(f"quicktype {installed} is installed, the contract is generated with "
                               f"{QUICKTYPE_VERSION}: run `npm install` at the repository root")
    try:
        proc = subprocess.run(quicktype_command(quicktype), cwd=REPO, capture_output=True, text=True,
                              timeout=120, check=False)
    except OSError as exc:  # quicktype is a node script: no node, no quicktype
        raise QuicktypeMissing(f"quicktype cannot start ({exc}): install Node.js, then run `npm install` "
                               "at the repository root") from None
    if proc.returncode != 0:
        raise RuntimeError(f"quicktype failed: {proc.stderr.strip() or proc.stdout.strip()}")
    version = schema_version()
    return (HEADER.format(version=QUICKTYPE_VERSION) + proc.stdout.rstrip("\n") + "\n\n"
            "// MARK: - Contract version\n\n"
            "/// The RunRequest's `schema_version` const: what the app writes into results and expects.\n"
            f"let contractSchemaVersion = {version}\n")


def main() -> int:
    try:
        text = generate()
    except QuicktypeMissing as exc:
        print(exc, file=sys.stderr)
        return 1
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
