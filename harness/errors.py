"""Errors a user can cause. Each formats itself as one line that says what to do.

The CLI turns every `HarnessError` into a `click.ClickException` once, so library code raises
these and never prints.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: the message is the whole line shown to the user."""


class UnknownModelError(HarnessError):
    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown model {name!r}.{hint} Run `harness models` for the full list.")


class UnknownFormatError(HarnessError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"Unknown format {name!r}. Known formats: {', '.join(known)}.")


class UnknownDeviceError(HarnessError):
    def __init__(self, name: str, attached: list[str]):
        listed = ", ".join(attached) if attached else "none"
        super().__init__(
            f"No device matches {name!r}. Attached: {listed}. Run `harness devices` to see them."
        )


class ConfigError(HarnessError):
    """A broken config file or option value."""


class StoreError(HarnessError):
    """The results database cannot be used as asked."""
