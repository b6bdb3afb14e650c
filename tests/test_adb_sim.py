"""The adb simulator against the real adbutils client: protocol, phone behaviour and faults.

Every test talks to `AdbSimServer` through adbutils exactly as the Android runner will, so a
protocol detail adbutils depends on (framing, transport ids, shell v2 packets, sync structs) is
checked here rather than in the runner's tests. Shell tests need user namespaces and skip,
with the reason, on machines without them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import stat
import struct
import threading
import time
from pathlib import Path

import adbutils
import pytest
from adbutils.errors import AdbError

from tests.support.wait import wait_until
from tests.support.adb_sim import AdbSimServer, EnergyCounter, SimulatedPhone, sandbox_unavailable_reason
from tests.support.adb_sim.shell_service import ShellRequest

SERIAL = "SIMTEST01"
TIMEOUT_S = 10  # no adbutils call here may block longer than this
MODEL = "Pixel 8 Pro"

_no_sandbox = sandbox_unavailable_reason()
needs_sandbox = pytest.mark.needs(_no_sandbox and f"shell commands cannot run: {_no_sandbox}")


@pytest.fixture
def phone(tmp_path):
    with SimulatedPhone(SERIAL, root=tmp_path / "phone", props={"ro.product.model": MODEL}) as phone:
        yield phone


@pytest.fixture
def server(phone):
    with AdbSimServer([phone]) as server:
        yield server
    assert server.errors == []


@pytest.fixture
def client(server):
    return adbutils.AdbClient(host=server.host, port=server.port, socket_timeout=TIMEOUT_S)


@pytest.fixture
def device(client):
    return client.device(SERIAL)


def shell(device, command: str):
    """Shell protocol v2, so the exit code and stderr come back."""
    return device.shell2(command, timeout=TIMEOUT_S, v2=True)


def running_commands(marker: str) -> list[int]:
    """PIDs on this machine whose command line contains `marker` (zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


# -- host services --------------------------------------------------------------------------------


def test_device_list_shows_serial_state_and_model(client, phone):
    assert client.server_version() == 41
    assert [(d.serial, d.state) for d in client.list()] == [(SERIAL, "device")]
    (info,) = client.list(extended=True)
    # adb prints the model with every non-alphanumeric character as '_'.
    assert info.tags["model"] == "Pixel_8_Pro"
    assert info.tags["product"] == "panther"
    assert info.transport_id == phone.transport_id
    device = client.device(SERIAL)
    assert device.get_state() == "device"
    assert device.get_serialno() == SERIAL
    assert set(device.get_features().split(",")) >= {"shell_v2", "stat_v2", "ls_v2"}


def test_unknown_serial_is_an_adbutils_error(client):
    with pytest.raises(AdbError, match="device 'NOPE' not found"):
        client.device("NOPE").shell("true")


def test_server_listens_on_loopback_only(server):
    # /proc/net/tcp: local address as hex IP:port, state 0A is LISTEN.
    port = f"{server.port:04X}"
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[1].endswith(":" + port) and line.split()[3] == "0A"
    ]
    assert listening == [f"0100007F:{port}"]
    tcp6 = Path("/proc/net/tcp6").read_text().splitlines()[1:]
    assert not any(line.split()[1].endswith(":" + port) for line in tcp6)


def test_two_phones_are_told_apart_by_serial(tmp_path):
    with (
        SimulatedPhone("SIM_A", root=tmp_path / "a") as a,
        SimulatedPhone("SIM_B", root=tmp_path / "b") as b,
        AdbSimServer([a, b]) as server,
    ):
        client = adbutils.AdbClient(host=server.host, port=server.port, socket_timeout=TIMEOUT_S)
        assert sorted(d.serial for d in client.device_list()) == ["SIM_A", "SIM_B"]
        client.device("SIM_B").sync.push(b"for b", "/data/local/tmp/only_b")
        assert b.host_path("/data/local/tmp/only_b").read_bytes() == b"for b"
        assert not a.host_path("/data/local/tmp/only_b").exists()
        assert adbutils.AdbDevice(client, transport_id=a.transport_id).get_serialno() == "SIM_A"
        with pytest.raises(AdbError, match="no device with transport id"):
            adbutils.AdbDevice(client, transport_id=10**6).get_serialno()
        b.disconnect()
        assert [d.serial for d in client.device_list()] == ["SIM_A"]
    assert server.errors == []


# -- shell ----------------------------------------------------------------------------------------


@needs_sandbox
def test_shell_v2_separates_stdout_stderr_and_keeps_the_exit_code(device):
    result = shell(device, "echo to-stdout; echo to-stderr >&2; exit 7")
    assert result.returncode == 7
    assert result.stdout == "to-stdout\n"
    assert result.stderr == "to-stderr\n"


@needs_sandbox
def test_legacy_shell_merges_stderr_into_the_output(device):
    assert device.shell("echo a; echo b >&2") == "a\nb"
    # adbutils recovers a v1 exit code by appending `; echo X4EXIT:$?`.
    assert device.shell2("false", timeout=TIMEOUT_S).returncode == 1


@needs_sandbox
def test_getprop_answers_from_the_props_the_test_set(device, phone):
    assert shell(device, "getprop ro.product.model").stdout == MODEL + "\n"
    assert device.prop.model == MODEL
    listing = shell(device, "getprop").stdout
    assert f"[ro.serialno]: [{SERIAL}]\n" in listing
    assert "[ro.build.version.sdk]: [34]\n" in listing
    phone.set_prop("ro.soc.model", "Tensor G3")
    assert shell(device, "getprop ro.soc.model").stdout == "Tensor G3\n"
    assert shell(device, "getprop no.such.prop").stdout == "\n"
    assert shell(device, "getprop no.such.prop fallback").stdout == "fallback\n"


@needs_sandbox
def test_dumpsys_answer_is_computed_when_the_command_runs(device, phone):
    status = {"now": 0}
    phone.set_dumpsys("thermalservice", lambda t: f"Thermal Status: {status['now']}\n")
    assert shell(device, "dumpsys thermalservice").stdout == "Thermal Status: 0\n"
    status["now"] = 3
    assert shell(device, "dumpsys thermalservice | grep Status").stdout == "Thermal Status: 3\n"
    missing = shell(device, "dumpsys no_such_service")
    assert (missing.returncode, missing.stdout) == (0, "")
    assert missing.stderr == "Can't find service: no_such_service\n"


@needs_sandbox
def test_host_tools_run_for_real_with_the_real_proc(device):
    result = shell(
        device, "taskset -c 0 grep Cpus_allowed_list /proc/self/status; nproc; cd /sdcard && pwd"
    )
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"Cpus_allowed_list:\s+0", lines[0])
    assert int(lines[1]) == len(os.sched_getaffinity(0))
    assert lines[2] == "/sdcard"


@needs_sandbox
def test_pushed_script_runs_and_reads_sysfs(device, phone):
    phone.sysfs.set_battery(capacity=57, status="Charging")
    script = (
        b"#!/system/bin/sh\n"
        b"cd /sys/class/power_supply/battery\n"
        b'echo "$(cat capacity) $(cat status)"\n'
        b"exit 4\n"
    )
    device.sync.push(script, "/data/local/tmp/bench/probe.sh", 0o755)  # bench/ does not exist yet
    result = shell(device, "/data/local/tmp/bench/probe.sh")
    assert (result.returncode, result.stdout) == (4, "57 Charging\n")
    assert (phone.host_path("/data/local/tmp/bench/probe.sh").stat().st_mode & 0o777) == 0o777


@needs_sandbox
def test_cpufreq_tree_lists_every_cpu(device, phone):
    phone.sysfs.set_cpus([1_700_000, 2_400_000, 3_000_000])
    cpus = "/sys/devices/system/cpu"
    out = shell(device, f"cat {cpus}/possible {cpus}/cpu*/cpufreq/cpuinfo_max_freq")
    assert out.stdout.split() == ["0-2", "1700000", "2400000", "3000000"]


# -- sync -----------------------------------------------------------------------------------------


def test_push_stat_pull_roundtrip_keeps_every_byte(device, phone, tmp_path):
    payload = os.urandom(200_000) + bytes(range(256)) * 8  # > 3 DATA chunks, every byte value
    local = tmp_path / "model.pte"
    local.write_bytes(payload)
    remote = "/data/local/tmp/model.pte"

    assert device.sync.push(local, remote, 0o644) == len(payload)
    info = device.sync.stat(remote)
    assert stat.S_ISREG(info.mode) and info.size == len(payload)
    assert info.mode & 0o777 == 0o666  # adbd copies the owner's bits to group and others
    pulled = tmp_path / "pulled.pte"
    assert device.sync.pull(remote, pulled) == len(payload)
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert [entry.path for entry in device.sync.list("/data/local/tmp")] == [".", "..", "model.pte"]
    assert phone.sync_requests("SEND") == [remote]


@needs_sandbox
def test_sha256sum_on_the_phone_matches_the_pushed_file(device):
    payload = os.urandom(70_000)
    device.sync.push(payload, "/data/local/tmp/blob.bin")
    result = shell(device, "sha256sum /data/local/tmp/blob.bin")
    assert result.stdout.split()[0] == hashlib.sha256(payload).hexdigest()


def test_missing_and_read_only_files_fail_like_adbd(device, phone):
    assert not device.sync.exists("/data/local/tmp/absent.bin")
    with pytest.raises(AdbError, match="open failed: No such file or directory"):
        device.sync.read_bytes("/data/local/tmp/absent.bin")
    with pytest.raises(AdbError):  # outside the sandbox, the phone's filesystem is read-only
        device.sync.push(b"x", "/etc/adb_sim_must_not_exist")
    assert not Path("/etc/adb_sim_must_not_exist").exists()


@needs_sandbox
def test_command_log_shows_whether_a_push_was_skipped(device, phone):
    payload = b"weights" * 1000
    remote = "/data/local/tmp/w.bin"
    digest = hashlib.sha256(payload).hexdigest()

    def push_unless_present():  # what a runner's artifact cache does
        if shell(device, f"sha256sum {remote}").stdout.split()[:1] != [digest]:
            device.sync.push(payload, remote)

    push_unless_present()
    assert phone.sync_requests("SEND") == [remote]
    phone.clear_log()
    push_unless_present()
    assert phone.sync_requests("SEND") == []
    assert phone.shell_commands() == [f"sha256sum {remote}"]


# -- sysfs over time ------------------------------------------------------------------------------

_ODPM_LINE = re.compile(r"^CH\d+\(T=(\d+)\)\[([^\]]+)\], (\d+)$")


def parse_energy_values(text: str) -> list[tuple[int, dict[str, int]]]:
    """Every `energy_value` block in `text` as (t_ms, {rail: µWs})."""
    blocks = []
    for line in text.splitlines():
        if line.startswith("t="):
            blocks.append((int(line[2:]), {}))
        else:
            t_channel, rail, energy = _ODPM_LINE.match(line).groups()
            assert int(t_channel) == blocks[-1][0]
            blocks[-1][1][rail] = int(energy)
    return blocks


@needs_sandbox
def test_odpm_counters_are_exact_functions_of_the_printed_time(device, phone):
    odpm = phone.sysfs.add_odpm({"S4M_VDD_CPUCL0": 2.0, "S2M_VDD_CPUCL2": lambda t: 1.0 + t})
    # A loop on the phone sees the counters move: the ticker rewrites the file as time passes.
    text = shell(
        device, "for i in 1 2 3; do cat /sys/bus/iio/devices/iio:device*/energy_value; sleep 0.1; done"
    ).stdout
    blocks = parse_energy_values(text)
    assert len(blocks) == 3
    times = [t_ms for t_ms, _ in blocks]
    assert times == sorted(times) and times[-1] > times[0]
    for t_ms, energy in blocks:
        assert energy["S4M_VDD_CPUCL0"] == 2000 * t_ms  # 2 W for t ms = 2000 µWs per ms
        assert energy["S2M_VDD_CPUCL2"] == odpm.counters["S2M_VDD_CPUCL2"].energy_uws(t_ms)
    rails = shell(device, "cat /sys/bus/iio/devices/iio:device0/enabled_rails").stdout
    assert rails == "CH0[S4M_VDD_CPUCL0]:\nCH1[S2M_VDD_CPUCL2]:\n"


def test_energy_counter_integrates_power_exactly():
    assert EnergyCounter(1.5).energy_uws(2000) == 3_000_000
    ramp = EnergyCounter(lambda t: t)  # P = t watts: 0.5 J over the first second
    assert ramp.energy_uws(1000) == 500_000
    assert ramp.energy_uws(2000) == 2_000_000
    assert ramp.energy_uws(1000) == 500_000  # asking about the past recomputes, same answer
    assert ramp.energy_j(1000, 2000) == 1.5


@needs_sandbox
def test_thermal_zone_follows_the_value_the_test_sets(device, phone):
    temps = {"now": 41_000}
    zone = phone.sysfs.add_thermal_zone("cpu-big", lambda t: temps["now"])
    path = f"/sys/class/thermal/thermal_zone{zone}"
    assert shell(device, f"cat {path}/type {path}/temp").stdout == "cpu-big\n41000\n"
    temps["now"] = 87_500
    assert shell(device, f"cat {path}/temp").stdout == "87500\n"


# -- the protocol beneath adbutils -----------------------------------------------------------------
# adbutils uses STAT/LIST v1 and shell v2 only; the phone also advertises stat_v2 and ls_v2, and
# other clients use exec: and transport-any, so those are checked with a raw client.


class RawAdb:
    """A bare adb client connection: length-prefixed requests, OKAY checks, exact reads."""

    def __init__(self, server: AdbSimServer):
        self.sock = socket.create_connection((server.host, server.port), timeout=TIMEOUT_S)

    def send(self, service: str) -> None:
        self.sock.sendall(f"{len(service):04x}{service}".encode())

    def request(self, service: str) -> None:
        self.send(service)
        assert self.read(4) == b"OKAY"

    def failure(self, service: str) -> str:
        """Send `service`, expect FAIL, return its message."""
        self.send(service)
        assert self.read(4) == b"FAIL"
        return self.read(int(self.read(4), 16)).decode()

    def read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            assert chunk, f"connection closed {size - len(data)} bytes short"
            data += chunk
        return data

    def read_all(self) -> bytes:
        chunks = []
        while chunk := self.sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def sync(self, sync_id: bytes, path: str) -> None:
        self.sock.sendall(sync_id + struct.pack("<I", len(path)) + path.encode())


STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")
DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")


def test_stat_v2_and_list_v2(server, phone):
    phone.files.write("/data/local/tmp/a.txt", "12345")
    raw = RawAdb(server)
    raw.request("host:tport:any")
    assert struct.unpack("<Q", raw.read(8))[0] == phone.transport_id
    raw.request("sync:")

    raw.sync(b"STA2", "/data/local/tmp/a.txt")
    reply = STAT_V2.unpack(raw.read(STAT_V2.size))
    assert (reply[0], reply[1], stat.S_ISREG(reply[4]), reply[8]) == (b"STA2", 0, True, 6)
    raw.sync(b"LST2", "/data/local/tmp/missing")
    reply = STAT_V2.unpack(raw.read(STAT_V2.size))
    assert (reply[0], reply[1]) == (b"LST2", errno.ENOENT)

    raw.sync(b"LIS2", "/data/local/tmp")
    names = []
    while True:
        entry = DENT_V2.unpack(raw.read(DENT_V2.size))
        if entry[0] == b"DONE":
            break
        assert entry[0] == b"DNT2" and entry[1] == 0
        names.append(raw.read(entry[-1]).decode())
    assert names == [".", "..", "a.txt"]
    assert [r.service for r in phone.log] == ["STA2", "LST2", "LIS2"]


@pytest.mark.parametrize(
    "service, expected",
    [
        ("shell:ls -l", ShellRequest("ls -l", v2=False)),
        ("shell,v2,raw:echo a:b", ShellRequest("echo a:b", v2=True)),
        ("shell,v2,TERM=xterm-256color,pty:id", ShellRequest("id", v2=True)),
        ("exec:cat /sdcard/x", ShellRequest("cat /sdcard/x", v2=False)),
        ("sync:", None),
        ("shellx:ls", None),
    ],
)
def test_shell_service_names_parse_as_adbd_reads_them(service, expected):
    assert ShellRequest.parse(service) == expected


@needs_sandbox
def test_exec_service_on_the_only_phone(server):
    raw = RawAdb(server)
    raw.request("host:transport-any")
    raw.request("exec:echo out; echo err >&2")
    assert raw.read_all() == b"out\nerr\n"


def test_unimplemented_services_fail_with_their_name(server):
    raw = RawAdb(server)
    raw.request(f"host:transport:{SERIAL}")
    assert "does not implement the device service 'reverse'" in raw.failure("reverse:list-forward")
    assert RawAdb(server).failure("host:reconnect-offline") == (
        "the adb simulator does not implement the host service 'reconnect-offline'"
    )


# -- faults ---------------------------------------------------------------------------------------


@needs_sandbox
def test_unplug_drops_a_running_command_and_replug_restores_the_phone(client, device, phone):
    marker = "sleep 31.4159"
    stream = device.shell(f"{marker}; echo never", stream=True)
    stream.conn.settimeout(TIMEOUT_S)
    wait_until(lambda: running_commands(marker), TIMEOUT_S)
    old_transport = phone.transport_id

    started = time.monotonic()
    phone.disconnect()
    assert stream.read_until_close() == ""  # dropped, not finished
    assert time.monotonic() - started < 5
    wait_until(lambda: not running_commands(marker), TIMEOUT_S)
    assert client.list() == []
    with pytest.raises(AdbError, match=f"device '{SERIAL}' not found"):
        shell(device, "true")

    phone.reconnect()
    assert [d.serial for d in client.device_list()] == [SERIAL]
    assert phone.transport_id != old_transport
    assert shell(device, "echo back").stdout == "back\n"


def test_sync_fails_while_unplugged(device, phone):
    device.sync.push(b"x" * 10, "/data/local/tmp/x")
    phone.disconnect()
    with pytest.raises(AdbError):
        device.sync.read_bytes("/data/local/tmp/x")
    phone.reconnect()
    assert device.sync.read_bytes("/data/local/tmp/x") == b"x" * 10


def test_unauthorized_phone_is_listed_but_refuses_commands(client, device, phone):
    phone.set_state("unauthorized")
    assert [(d.serial, d.state) for d in client.list()] == [(SERIAL, "unauthorized")]
    assert client.list(extended=True)[0].tags.get("model") is None  # unknown until authorized
    assert device.get_state() == "unauthorized"
    with pytest.raises(AdbError, match="device unauthorized"):
        device.sync.exists("/data")
    phone.set_state("device")
    assert device.sync.exists("/data")


def test_track_devices_reports_unplug_and_replug(client, phone):
    events = client.track_devices()
    assert next(events) == adbutils.DeviceEvent(True, SERIAL, "device")
    phone.disconnect()
    assert next(events) == adbutils.DeviceEvent(False, SERIAL, "absent")
    phone.reconnect()
    assert next(events) == adbutils.DeviceEvent(True, SERIAL, "device")
    events.close()


def test_wait_for_returns_once_the_phone_is_back(client, phone):
    phone.disconnect()
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (client.wait_for(SERIAL, timeout=TIMEOUT_S), done.set()))
    waiter.start()
    assert not done.wait(0.2)  # still unplugged: wait-for must not return yet
    phone.reconnect()
    waiter.join(TIMEOUT_S)
    assert done.is_set()


def test_command_latency_delays_each_request(device, phone):
    phone.command_latency_s = 0.15
    started = time.monotonic()
    device.sync.exists("/data/local/tmp")
    assert time.monotonic() - started >= 0.15


@needs_sandbox
def test_stop_ends_running_commands(phone):
    marker = "sleep 27.1828"
    server = AdbSimServer([phone]).start()
    device = adbutils.AdbClient(host=server.host, port=server.port).device(SERIAL)
    stream = device.shell(f"{marker}; echo never", stream=True)
    stream.conn.settimeout(TIMEOUT_S)
    wait_until(lambda: running_commands(marker), TIMEOUT_S)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert stream.read_until_close() == ""
    wait_until(lambda: not running_commands(marker), TIMEOUT_S)
    assert server.errors == []


@needs_sandbox
def test_closing_the_phone_kills_what_commands_left_running(tmp_path):
    marker = "sleep 33.3"
    with SimulatedPhone(SERIAL, root=tmp_path / "phone") as phone, AdbSimServer([phone]) as server:
        device = adbutils.AdbClient(host=server.host, port=server.port).device(SERIAL)
        assert shell(device, f"nohup {marker} >/dev/null 2>&1 &").returncode == 0
        wait_until(lambda: running_commands(marker), TIMEOUT_S)  # outlives its command, as on a phone
    wait_until(lambda: not running_commands(marker), TIMEOUT_S)
