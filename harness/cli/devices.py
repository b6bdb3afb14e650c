"""`harness devices` (what is attached, and whether this host is ready for it) and
`harness build-runner` (the native ExecuTorch runner, for a target a device kind names)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import click

from harness.cli.options import translate_errors
from harness.cli.output import echo, echo_json, echo_prose, echo_table, json_option


@click.command(short_help="What is attached, or how to attach it.")
@json_option
@translate_errors
def devices(as_json):
    """What is attached, of every kind of device the harness drives; a kind with none says how
    to attach one."""
    from harness.devices import KINDS
    from harness.report.jsonable import dumps
    from harness.report.text import Column, TextTable

    listed = [(kind, _kind_devices(kind)) for kind in KINDS]
    hints = {kind.name: (kind.no_devices_hint() if kind.no_devices_hint and not attached else None)
             for kind, attached in listed}
    if as_json:
        echo_json(dumps({
            "devices": [{**dataclasses.asdict(a.info), "state": a.state, "label": a.label,
                         "ready": a.ready} for _, attached in listed for a in attached],
            "kinds": [{"name": kind.name, "description": kind.description,
                       "devices": len(attached), "hint": hints[kind.name]}
                      for kind, attached in listed],
        }))
        return
    table = TextTable([Column("id", key=True), Column("kind"), Column("model"),
                       Column("SoC / CPU", hide=2), Column("OS", hide=1),
                       Column("cores", "right"), Column("state"), Column("this host")],
                      title="Devices")
    for _, attached in listed:
        for a in attached:
            d = a.info
            table.add_row(d.device_id, d.kind, d.product_model,
                          d.soc + (f" / {d.cpu}" if d.cpu else ""), d.os_version,
                          str(d.cpu_count), a.state, a.ready)
    echo_table(table)
    for kind, attached in listed:
        if not attached:
            echo_prose(f"{kind.name} ({kind.description}): "
                       + (hints[kind.name] or "none attached"))


def _kind_devices(kind) -> list:
    """A kind's devices; none when its tooling is absent or broken (its hint says what to do)."""
    try:
        return kind.list_devices()
    except Exception as exc:  # noqa: BLE001 (a kind's own tooling may raise anything)
        logging.getLogger("harness.devices").info("listing %s devices failed: %s", kind.name, exc)
        return []


class TargetChoice(click.Choice):
    """The native runner's build targets the device kinds declare (DeviceKind.build_targets),
    read when the option is used: a kind added to harness.devices brings its targets along."""

    def __init__(self):
        super().__init__([])

    def convert(self, value, param, ctx):
        from harness.devices import KINDS

        self.choices = tuple(t for kind in KINDS for t in kind.build_targets)
        return super().convert(value, param, ctx)


@click.command("build-runner", short_help="Build the native ExecuTorch runner.")
@click.option("--target", type=TargetChoice(), default="host",
              show_default=True, help="Where the native runner will run.")
@click.option("--ndk", type=click.Path(file_okay=False, path_type=Path), envvar="ANDROID_NDK",
              default=None, help="Android NDK directory (android-arm64; default $ANDROID_NDK).")
@click.option("--executorch-android", type=click.Path(file_okay=False, path_type=Path),
              envvar="EXECUTORCH_ANDROID_DIR", default=None,
              help="Install prefix of an ExecuTorch arm64-v8a build (android-arm64; default "
                   "$EXECUTORCH_ANDROID_DIR).")
@translate_errors
def build_runner(target, ndk, executorch_android):
    """Build the native ExecuTorch runner (device_runners/native) with CMake."""
    from device_runners.native.build import build_native_runner

    binary = build_native_runner(target, android_ndk=ndk, executorch_android_dir=executorch_android)
    echo(f"Native runner for {target}: {binary}")


