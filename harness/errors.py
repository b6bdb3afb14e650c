"""Errors a user can cause. Each formats itself as one line that says what to do.

The CLI turns every `HarnessError` into a `click.ClickException` once, so library code raises
these and never prints.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: the message is the whole line shown to the user (exit code 1)."""


class UsageError(HarnessError):
    """The command line (or the file it names, such as a farm.yaml) asks for something that does
    not exist or cannot be used: a misspelt model, format or device, a bad option value. Found
    before any work; exit code 2, like click's own usage errors (harness.exit_codes)."""


class UnknownModelError(UsageError):
    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown model {name!r}.{hint} Run `harness models` for the full list.")


class UnknownFormatError(UsageError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"Unknown format {name!r}. Known formats: {', '.join(known)}.")


def _no_device_line(name: str, attached: list[str]) -> str:
    listed = ", ".join(attached) if attached else "none"
    return f"No device matches {name!r}. Attached: {listed}. Run `harness devices` to see them."


class UnknownDeviceError(UsageError):
    """No kind of device knows the name: a misspelling (exit 2)."""

    def __init__(self, name: str, attached: list[str]):
        super().__init__(_no_device_line(name, attached))


class DeviceNotAttached(HarnessError):
    """A kind knows the name (a catalog phone, say) but no such device is attached: the device
    is missing, not the command line wrong (exit 1)."""

    def __init__(self, name: str, attached: list[str]):
        super().__init__(_no_device_line(name, attached))


class StoreError(HarnessError):
    """The results database cannot be used as asked."""


class NoSuchRun(StoreError, UsageError):
    """A run id (or prefix) that names no stored run, or several."""
