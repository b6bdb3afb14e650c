"""The devicectl transport's readers on the JSON real devicectl wrote (tests/data/real/devicectl,
each file's origin in that directory's README): devices and their problems, the install's
record, the launched process id, the running processes.
"""

from __future__ import annotations

import copy
import json

import pytest

from tests.support.paths import TESTS
from device_runners.ios import devicectl
from device_runners.ios.runner import describe
from device_runners.ios.transport import TransportError

REAL = TESTS / "data" / "real" / "devicectl"


def load(name: str) -> dict:
    return json.loads((REAL / name).read_text())


def test_an_idle_iphone_is_usable_and_a_watch_is_left_out():
    """shorebird's list: an iPhone 13 Pro over the network with its tunnel disconnected and no
    developer disk image mounted (devicectl connects on demand), and an Apple Watch."""
    [phone] = devicectl.parse_devices(load("list_iphone_and_watch.json"))
    assert (phone.product_type, phone.marketing_name, phone.device_type, phone.os_version,
            phone.connection, phone.problem) == ("iPhone14,2", "iPhone 13 Pro", "iPhone", "17.0.2",
                                                 "wifi", "")
    assert phone.is_phone and describe(phone).product_model == "iPhone 13 Pro"


def test_an_unpaired_device_says_so_and_a_connected_one_is_ready():
    devices = devicectl.parse_devices(load("list_unpaired_and_ready.json"))
    unpaired, *ready = devices
    assert "is not paired with this computer" in unpaired.problem
    assert [d.problem for d in ready] == ["", ""]
    assert [d.product_type for d in ready] == ["iPhone17,2", "iPhone11,6"]


@pytest.mark.parametrize("change, says", [
    (("deviceProperties", "bootState", "shutdown"), "is not booted (devicectl reports bootState 'shutdown')"),
    (("deviceProperties", "ddiServicesAvailable", False), "The developer disk image is not mounted"),
    (("connectionProperties", "tunnelState", "unavailable"), "The developer tunnel to"),
    (("deviceProperties", "developerModeStatus", "disabled"), "Developer Mode is off"),
])
def test_a_connected_device_s_states_are_one_line_problems(change, says):
    """The ready iPhone 16 Pro Max of a real list, one state changed at a time."""
    data = load("list_unpaired_and_ready.json")
    ready = copy.deepcopy(data)
    ready["result"]["devices"] = [data["result"]["devices"][1]]
    [phone] = devicectl.parse_devices(ready)
    assert phone.problem == ""
    part, key, value = change
    ready["result"]["devices"][0][part][key] = value
    [phone] = devicectl.parse_devices(ready)
    assert says in phone.problem and "\n" not in phone.problem


def test_an_ipad_is_listed_as_an_ipad_with_its_marketing_name():
    """Qt Creator's list: an iPad11,2, which no iPhone catalog knows."""
    [ipad] = devicectl.parse_devices(load("list_ipad.json"))
    assert (ipad.device_type, ipad.product_type, ipad.is_phone) == ("iPad", "iPad11,2", False)
    assert describe(ipad).product_model == "iPad mini (5th generation)"  # not "iPad11,2"


def test_the_install_record_the_launched_pid_and_the_running_processes_are_read():
    app = devicectl.installed(load("install_success.json"), "dev.shorebird.ios-test")
    assert app["installationURL"].startswith("file:///private/var/containers/Bundle/Application/")
    with pytest.raises(TransportError, match="reported dev.shorebird.ios-test installed, not org.harnessbench"):
        devicectl.installed(load("install_success.json"), "org.harnessbench.HarnessBench")
    assert devicectl.launched_pid(load("launch_success.json")) == 15443
    assert devicectl.running_pids(load("info_processes.json")) == {1000}
    code, text = devicectl.error_text(load("install_failure.json"))
    assert (code, text) == (1, "Internal logic error: Connection was invalidated")
