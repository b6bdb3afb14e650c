"""Host context readers against a temporary /sys and /proc tree with known contents."""

from pathlib import Path

from device_runners.host import system


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _cpufreq(root: Path, cpu: int, governor: str, lo: int, hi: int, cur: int, hw: int) -> None:
    base = f"sys/devices/system/cpu/cpu{cpu}/cpufreq"
    _write(root, f"{base}/scaling_governor", governor + "\n")
    _write(root, f"{base}/scaling_min_freq", f"{lo}\n")
    _write(root, f"{base}/scaling_max_freq", f"{hi}\n")
    _write(root, f"{base}/scaling_cur_freq", f"{cur}\n")
    _write(root, f"{base}/cpuinfo_max_freq", f"{hw}\n")


def test_frequency_policy_of_the_cpus_a_measurement_may_use(tmp_path):
    _cpufreq(tmp_path, 0, "performance", 400000, 3500000, 3400000, 3700000)
    _cpufreq(tmp_path, 1, "powersave", 400000, 2000000, 800000, 3700000)
    _cpufreq(tmp_path, 2, "schedutil", 400000, 3500000, 1000000, 3700000)
    _write(tmp_path, "sys/devices/system/cpu/cpufreq/boost", "0\n")
    _write(tmp_path, "sys/devices/system/cpu/online", "0-3\n")
    _write(tmp_path, "sys/devices/system/cpu/isolated", "3\n")
    _write(tmp_path, "sys/devices/system/cpu/smt/control", "on\n")

    ctx = system.cpu_context([1, 0], root=tmp_path)  # cpu2 is outside the affinity mask
    assert ctx["cpufreq"] == {
        "0": {"governor": "performance", "min_khz": 400000, "max_khz": 3500000,
              "cur_khz": 3400000, "hardware_max_khz": 3700000},
        "1": {"governor": "powersave", "min_khz": 400000, "max_khz": 2000000,
              "cur_khz": 800000, "hardware_max_khz": 3700000},
    }
    assert ctx["governors"] == ["performance", "powersave"]
    assert ctx["turbo"] is False
    assert (ctx["online"], ctx["isolated"], ctx["smt"]) == ("0-3", "3", "on")


def test_intel_pstate_no_turbo_is_read_the_other_way_round(tmp_path):
    _write(tmp_path, "sys/devices/system/cpu/intel_pstate/no_turbo", "0\n")
    assert system.turbo_enabled(tmp_path) is True
    _write(tmp_path, "sys/devices/system/cpu/intel_pstate/no_turbo", "1\n")
    assert system.turbo_enabled(tmp_path) is False


def test_a_machine_without_cpufreq_gives_no_guesses(tmp_path):
    (tmp_path / "sys/devices/system/cpu/cpu0").mkdir(parents=True)
    ctx = system.cpu_context([0], root=tmp_path)
    assert ctx == {}
    assert system.turbo_enabled(tmp_path) is None
    assert system.cpu_frequency(0, tmp_path) == {}


def test_unreadable_and_garbled_files_are_left_out(tmp_path):
    _cpufreq(tmp_path, 0, "ondemand", 1, 2, 3, 4)
    _write(tmp_path, "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "<unsupported>\n")
    (tmp_path / "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").unlink()
    assert system.cpu_frequency(0, tmp_path) == {"governor": "ondemand", "min_khz": 1, "max_khz": 2}


def test_load_average(tmp_path):
    _write(tmp_path, "proc/loadavg", "6.87 7.30 5.64 9/137 6323\n")
    assert system.load_average(tmp_path) == {
        "1min": 6.87, "5min": 7.30, "15min": 5.64, "running": 9, "tasks": 137}
    _write(tmp_path, "proc/loadavg", "garbage\n")
    assert system.load_average(tmp_path) == {}
    assert system.load_average(tmp_path / "nowhere") == {}


def test_this_machine_reads_without_error():
    # Whatever this host has, the readers return plain JSON-able data.
    import json
    import os

    json.dumps(system.cpu_context(os.sched_getaffinity(0)))
    assert system.load_average()["1min"] >= 0
