"""The `harness` command: one module per command or group, each parsing its options, calling the
library and printing (tables are built in harness.report). Nothing here measures or decides."""

from __future__ import annotations

import click

from harness.cli.cache import cache_group
from harness.cli.devices import build_runner, devices
from harness.cli.export import export_command
from harness.cli.farm import farm_group
from harness.cli.results import compare, report, runs_command, show, site
from harness.cli.results_io import results_group
from harness.cli.run import run
from harness.cli.setup import setup_group
import harness
from device_runners.install_hint import DISTRIBUTION
from harness.cli.zoo import models


@click.group()
@click.version_option(version=harness.__version__, package_name=DISTRIBUTION)
def main():
    """Export efficient vision networks to phone runtimes and measure them honestly.

    Start with `harness run --models repvit_m0_9 --formats executorch,tflite`; `harness runs`
    lists what is stored, `harness show` shows one run. Tables fit the terminal (--wide shows
    every column); --json prints JSON instead (run, show, compare, runs, models, devices)."""


for command in (models, devices, run, setup_group, runs_command, show, compare, report, site,
                results_group, export_command, cache_group, farm_group, build_runner):
    main.add_command(command)
