"""Errors of the device runners: one base class, each message one line saying what to do.

The harness's CLI turns a `DeviceError` into one line on stderr (as it does `HarnessError`);
anything else is a bug and shows its traceback. Device faults during a measurement (a phone
unplugged mid-trial) are not raised at all: they become a failed `RunResult` for that trial.
"""

from __future__ import annotations


class DeviceError(Exception):
    """A device or its tooling cannot be used as asked; the message is the whole line."""


class DeviceNameError(DeviceError):
    """The --device string is the user's to correct: it matches several attached devices (the
    harness exits with its usage code, 2)."""


class DeviceOptionError(DeviceError):
    """An option's value this device cannot take (`--cores prime` on a phone without prime
    cores): the user's to correct, like a misspelt name (exit code 2)."""


class NoSuchDevice(DeviceError):
    """A device kind knows the name (a catalog entry, say) but no such device is attached.

    The harness answers with every attached device of every kind, so the user sees what to
    pass instead; `attached` is what this kind saw, or why it saw nothing.
    """

    def __init__(self, name: str, attached: list[str]):
        self.name = name
        self.attached = attached
        listed = ", ".join(attached) if attached else "none"
        super().__init__(f"No attached device matches {name!r}. Attached: {listed}.")


class AmbiguousDevice(DeviceNameError):
    """Several attached devices match the name given (two Pixel 7s): pass one serial or UDID."""
