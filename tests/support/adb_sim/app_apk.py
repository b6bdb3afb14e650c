"""Stand-in APKs for the simulated phone's `pm install` (tests/support/adb_sim/shims/pm): a zip, as a
real APK is, holding `sim-manifest` (package, versionCode, and the command `am start` runs:
this interpreter with app_standin.py)."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from device_runners.android.app_protocol import APP_VERSION_CODE, DEFAULT_PACKAGE

STANDIN = Path(__file__).with_name("app_standin.py")


def build_standin_apk(path: Path, *, version_code: int = APP_VERSION_CODE,
                      package: str = DEFAULT_PACKAGE) -> Path:
    manifest = (f"package={package}\nversionCode={version_code}\n"
                f"main={sys.executable} {STANDIN}\n")
    with zipfile.ZipFile(path, "w") as apk:
        apk.writestr("sim-manifest", manifest)
    return path
