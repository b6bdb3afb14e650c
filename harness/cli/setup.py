"""`harness setup <kind>`: build or fetch what this host needs to drive a kind of device.

A kind offers it by declaring a `KindSetup` (device_runners.runner): its options and the steps.
The subcommands are made from harness.devices.KINDS when the CLI asks for them, so a new kind
with a setup brings its own `harness setup` subcommand. Each step prints one line, done or what
to do; the exit code is 0 when every step was done, 1 otherwise.
"""

from __future__ import annotations

import click

from harness import exit_codes
from harness.cli.options import _click_option, translate_errors
from harness.cli.output import echo_prose


class SetupGroup(click.Group):
    def _kinds(self) -> dict:
        from harness.devices import KINDS

        return {kind.name: kind for kind in KINDS if kind.setup is not None}

    def list_commands(self, ctx):
        return sorted(self._kinds())

    def get_command(self, ctx, name):
        kind = self._kinds().get(name)
        if kind is None:
            return None
        return _setup_command(kind)


def _setup_command(kind) -> click.Command:
    @translate_errors
    def callback(**options):
        steps = kind.setup.run({k: v for k, v in options.items() if v is not None})
        for step in steps:
            echo_prose(f"{'done' if step.done else 'NOT DONE'}  {step.name}: {step.line}")
        undone = [s.name for s in steps if not s.done]
        if undone:
            echo_prose(f"{kind.name}: {len(steps) - len(undone)} of {len(steps)} steps done; "
                       "the lines above say what the others need.")
            raise click.exceptions.Exit(exit_codes.ERROR)
        echo_prose(f"{kind.name}: every step done; `harness devices` shows what is attached.")

    return click.Command(kind.name, callback=callback, params=[_click_option(o) for o in kind.setup.options],
                         help=kind.setup.description, short_help=kind.setup.description)


@click.group("setup", cls=SetupGroup, short_help="Build or fetch what a kind of device needs here.")
def setup_group():
    """Build or fetch what this host needs to drive a kind of device (`harness setup android`:
    the NDK found, the native runner built for arm64, LiteRT's benchmark_model fetched)."""
