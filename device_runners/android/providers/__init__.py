"""Services that lend Android phones to the farm (farm.yaml's `provider:` on a device).

    stf.py              DeviceFarmer STF: reserve, remoteConnect, `adb connect`; the phone is then
                        measured by the ordinary Android runner, and released when it closes
    aws_device_farm.py  AWS Device Farm: each trial uploaded as a test package with a custom test
                        spec, scheduled, and its result.json collected

Both are imported only when a farm device names them.
"""

from __future__ import annotations

from device_runners.runner import DeviceProvider


def _open_stf(spec, settings, options):
    from device_runners.android.providers.stf import open_stf_runner

    return open_stf_runner(spec, settings, options)


def _open_device_farm(spec, settings, options):
    from device_runners.android.providers.aws_device_farm import open_device_farm_runner

    return open_device_farm_runner(spec, settings, options)


PROVIDERS = (
    DeviceProvider("stf", "a phone borrowed from DeviceFarmer STF", _open_stf,
                   required=("url", "serial")),
    DeviceProvider("aws_device_farm", "a phone in AWS Device Farm", _open_device_farm,
                   required=("project_arn", "device_pool_arn", "app")),
)
