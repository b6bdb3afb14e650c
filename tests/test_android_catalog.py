"""Which phone `--device` means: the catalog, what a phone reports, and the line when none matches.

The first tests read the catalog and recorded phone output; the last ones ask the loopback adb
server (tests/support/adb_sim) with real adbutils, as `harness devices` and `harness run` do.
"""

import socket

import pytest
from click.testing import CliRunner

from tests.support.adb_sim import AdbSimServer, SimulatedPhone, sandbox_unavailable_reason
from tests.support.paths import TINY
from device_runners.android.catalog import CatalogError, load_catalog, parse_catalog
from device_runners.android.probe import (
    cpu_mask,
    describe_clusters,
    fastest_cores,
    parse_battery_state,
    parse_cpu_freqs,
    parse_probe,
)
from harness.cli import main

_no_sandbox = sandbox_unavailable_reason()
needs_sandbox = pytest.mark.needs(_no_sandbox and f"no phone shell: {_no_sandbox}")

# What `dumpsys battery` prints on a Pixel on a USB cable (Android 14).
DUMPSYS_BATTERY = """\
Current Battery Service state:
  AC powered: false
  USB powered: true
  Wireless powered: false
  Dock powered: false
  Max charging current: 500000
  Max charging voltage: 5000000
  Charge counter: 3051000
  status: 2
  health: 2
  present: true
  level: 64
  scale: 100
  voltage: 4251
  temperature: 284
  technology: Li-ion
"""

PIXEL7_CPUS = "\n".join(
    f"cpu{n} {khz}" for n, khz in enumerate([1803000] * 4 + [2348000] * 2 + [2850000] * 2)
)


# -- the catalog ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, key", [
    ("pixel7", "pixel7"), ("Pixel 7", "pixel7"), ("pixel-7", "pixel7"), ("PIXEL_7", "pixel7"),
    ("Pixel 7 Pro", "pixel7pro"), ("pixel8a", "pixel8a"), ("s22", "galaxy_s22"),
    ("s22+", "galaxy_s22plus"), ("Samsung Galaxy S24 Ultra", "galaxy_s24ultra"),
])
def test_names_resolve_without_regard_to_case_or_punctuation(name, key):
    assert load_catalog().lookup(name).key == key


def test_unknown_names_resolve_to_nothing():
    catalog = load_catalog()
    assert catalog.lookup("pixel99") is None
    assert catalog.lookup("s2") is None


def test_models_and_regional_variants_find_their_phone_and_soc():
    catalog = load_catalog()
    assert catalog.phone_for_model("Pixel 7").key == "pixel7"
    assert catalog.phone_for_model("Pixel 7a").key == "pixel7a"  # not a prefix match on Pixel 7
    assert catalog.phone_for_model("SM-S901U1").key == "galaxy_s22"
    assert catalog.soc_for("SM-S901B").name == "Exynos 2200"
    assert catalog.soc_for("SM-S901U").name == "Snapdragon 8 Gen 1"
    # A variant the catalog does not list: the SoC comes from what the phone reports.
    assert catalog.soc_for("SM-S901E", ("SM8450", "taro")).name == "Snapdragon 8 Gen 1"
    assert catalog.soc_for("Nothing Phone", ("", "kalama")).key == "sm8550"
    assert catalog.soc_for("Nothing Phone", ("XYZ",)) is None


def test_every_phone_is_pixel_odpm_or_battery_and_every_soc_has_its_cores():
    catalog = load_catalog()
    for phone in catalog.phones.values():
        assert phone.energy == ("odpm" if phone.key.startswith("pixel") else "battery"), phone.key
    for soc in catalog.socs.values():
        assert 8 <= soc.core_count <= 10, soc.key  # Tensor G3 has 9, Exynos 2400 10
        freqs = [c.max_mhz for c in soc.clusters]
        assert freqs == sorted(freqs), f"{soc.key}: clusters must go slowest first"


def test_a_malformed_catalog_is_refused_with_the_entry_named():
    soc = {"name": "X", "clusters": [{"cores": 8, "core": "A55", "max_mhz": 2000}]}
    with pytest.raises(CatalogError, match="'phone_a' names SoC 'nope'"):
        parse_catalog({"socs": {"x": soc},
                       "phones": {"phone_a": {"name": "A", "models": ["A"], "soc": "nope",
                                              "energy": "battery"}}})
    with pytest.raises(CatalogError, match="'a1' names both"):
        parse_catalog({"phones": {"a1": {"name": "A", "models": ["A"], "energy": "battery"},
                                  "b": {"name": "B", "aliases": ["a-1"], "models": ["B"],
                                        "energy": "battery"}}})
    with pytest.raises(CatalogError, match="energy 'solar'"):
        parse_catalog({"phones": {"a": {"name": "A", "models": ["A"], "energy": "solar"}}})


# -- what a phone reports -------------------------------------------------------------------------


def test_the_fastest_cluster_is_pinned_and_widened_for_more_threads():
    freqs = parse_cpu_freqs(PIXEL7_CPUS + "\ncpu8 \n")  # cpu8: no cpufreq (offline)
    assert freqs[8] is None
    assert fastest_cores(freqs, threads=1) == (6, 7)
    assert cpu_mask(fastest_cores(freqs, threads=1)) == "c0"
    assert fastest_cores(freqs, threads=3) == (4, 5, 6, 7)
    assert cpu_mask(fastest_cores(freqs, threads=8)) == "ff"
    assert describe_clusters(freqs) == "4x1.80 + 2x2.35 + 2x2.85 GHz"
    assert fastest_cores({0: None, 1: None}) == ()


def test_dumpsys_battery_gives_level_status_and_power_source():
    battery = parse_battery_state(DUMPSYS_BATTERY)
    assert (battery.level_pct, battery.status, battery.powered_by) == (64, "Charging", ("USB",))
    assert battery.temperature_c == pytest.approx(28.4)
    assert battery.on_external_power
    assert battery.describe() == "battery 64% charging, USB powered"
    # No battery service (a shell without dumpsys): the sysfs capacity and status lines.
    fallback = parse_battery_state("", "57\nDischarging\n")
    assert (fallback.level_pct, fallback.status, fallback.on_external_power) == (57, "Discharging", False)


def test_a_probe_is_split_into_props_cpus_battery_and_thermal():
    output = (
        "[ro.product.model]: [Pixel 7]\n[ro.build.version.release]: [14]\n"
        "[ro.build.version.sdk]: [34]\n[ro.soc.model]: [GS201]\n"
        f"@@harness:cpus\n{PIXEL7_CPUS}\n"
        f"@@harness:battery\n{DUMPSYS_BATTERY}"
        "@@harness:battery_sysfs\n64\nCharging\n"
        "@@harness:thermal\nThermal Status: 1\nCurrent temperatures from HAL:\n"
        "\tTemperature{mValue=44.5, mType=0, mName=BIG, mStatus=1}\n"
    )
    probe = parse_probe(output)
    assert probe.model == "Pixel 7" and probe.android_version == "Android 14 (SDK 34)"
    assert len(probe.cpu_freqs) == 8 and probe.battery.level_pct == 64
    assert (probe.thermal.state, probe.thermal.max_temp_c) == ("light", 44.5)


# -- against the loopback adb server --------------------------------------------------------------


def _env(server) -> dict:
    return {"ANDROID_ADB_SERVER_HOST": server.host, "ANDROID_ADB_SERVER_PORT": str(server.port)}


@needs_sandbox
def test_devices_lists_each_phone_with_soc_android_battery_and_heat(tmp_path):
    thermal = ("Thermal Status: 0\nCurrent temperatures from HAL:\n"
               "\tTemperature{mValue=36.5, mType=0, mName=BIG, mStatus=0}\n")
    with (SimulatedPhone("SIM7", root=tmp_path / "a") as pixel7,
          SimulatedPhone("SIMS22", root=tmp_path / "b",
                         props={"ro.product.model": "SM-S901B", "ro.soc.model": "s5e9925",
                                "ro.build.version.release": "13", "ro.build.version.sdk": "33"}) as s22,
          AdbSimServer([pixel7, s22]) as server):
        pixel7.sysfs.set_battery(capacity=80, status="Discharging")
        pixel7.set_dumpsys("thermalservice", thermal)
        s22.set_state("unauthorized")
        out = CliRunner().invoke(main, ["devices"], env=_env(server))
    assert out.exit_code == 0, out.output
    rows = {line.split()[0]: line for line in out.output.splitlines() if line.strip()}
    assert "host" in rows
    assert "Pixel 7" in rows["SIM7"] and "Google Tensor G2" in rows["SIM7"]
    assert "Android 14 (SDK 34)" in rows["SIM7"]
    assert "battery 80%" in rows["SIM7"] and "thermal none (36 °C)" in rows["SIM7"]
    assert "unauthorized" in rows["SIMS22"]


@needs_sandbox
def test_a_catalog_name_with_no_such_phone_is_one_line_listing_what_is_attached(tmp_path, tmp_results):
    with (SimulatedPhone("SIM8P", root=tmp_path / "p", props={"ro.product.model": "Pixel 8 Pro"}) as phone,
          AdbSimServer([phone]) as server):
        out = CliRunner().invoke(main, ["run", "--device", "pixel7", "--models", TINY], env=_env(server))
    assert out.exit_code == 1
    [line] = [line for line in out.output.splitlines() if line.strip()]
    assert line == ("Error: No device matches 'pixel7'. Attached: host, SIM8P (Pixel 8 Pro). "
                    "Run `harness devices` to see them.")


@needs_sandbox
def test_two_phones_of_the_same_model_need_a_serial(tmp_path, tmp_results):
    with (SimulatedPhone("SIM_A", root=tmp_path / "a") as a,
          SimulatedPhone("SIM_B", root=tmp_path / "b") as b,
          AdbSimServer([a, b]) as server):
        out = CliRunner().invoke(main, ["run", "--device", "pixel7", "--models", TINY], env=_env(server))
    assert out.exit_code == 2
    assert "2 attached phones match 'pixel7' (SIM_A, SIM_B); pass one serial with --device." in out.output


@pytest.mark.parametrize("adb_installed", [True, False])
def test_without_an_adb_server_there_are_no_phones_and_no_error(tmp_results, tmp_path, adb_installed):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_dir = tmp_path / "bin"  # PATH: an `adb` that must never be run, or none at all
    bin_dir.mkdir()
    if adb_installed:
        (bin_dir / "adb").write_text("#!/bin/sh\ntouch \"$0.ran\"\nexit 1\n")
        (bin_dir / "adb").chmod(0o755)
    env = {"ANDROID_ADB_SERVER_HOST": "127.0.0.1", "ANDROID_ADB_SERVER_PORT": str(port),
           "PATH": f"{bin_dir}:/usr/bin:/bin" if adb_installed else str(bin_dir)}
    hint = ("start one with `adb start-server`" if adb_installed else
            "adb is not installed: install it (Debian and Ubuntu: `sudo apt-get install adb`; "
            "elsewhere Android's platform-tools), then `adb start-server`")
    listed = CliRunner().invoke(main, ["devices"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "host" in listed.output
    assert not [line for line in listed.output.splitlines() if line.split()[1:2] == ["android"]]
    assert f"no adb server at 127.0.0.1:{port}: {hint}" in listed.output
    out = CliRunner().invoke(main, ["run", "--device", "pixel7", "--models", TINY], env=env)
    assert out.exit_code == 1  # a known phone that is not attached: not a usage error
    assert f"no adb server at 127.0.0.1:{port} ({hint})" in out.output
    assert not (bin_dir / "adb.ran").exists()  # the harness never starts an adb server
