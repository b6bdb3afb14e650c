"""`--pin-frequencies`: fixed CPU clocks for a run on a rooted phone, put back afterwards.

A phone's governor moves its clocks every few milliseconds, and its thermal framework caps them
as it heats; both move latency from one trial to the next. On a rooted phone (`su` works) the
runner saves every core's governor and limits, pins each cluster to the highest frequency of its
ladder at most PIN_FRACTION of its top one (below where phones throttle within minutes), and
puts everything back when the run ends, also on Ctrl-C or an error. What it saved is kept on the
phone (`<workdir>/pinned-frequencies`) until it is put back, so a run killed outright is undone
by the next one. On other phones nothing is written: the runner records what it found.
"""

from __future__ import annotations

import logging
import shlex

from device_runners.android.adb import DeviceCallFailed, DeviceGone
from device_runners.android.probe import MARKER, split_sections

logger = logging.getLogger(__name__)

PIN_FRACTION = 0.8
CPU_DIR = "/sys/devices/system/cpu"
FILES = ("scaling_governor", "scaling_min_freq", "scaling_max_freq")
READ_SHELL = (
    "for c in /sys/devices/system/cpu/cpu[0-9]*; do f=$c/cpufreq; echo \"${c##*/} "
    "$(cat $f/scaling_governor) $(cat $f/scaling_min_freq) $(cat $f/scaling_max_freq) "
    "$(cat $f/scaling_available_frequencies 2>/dev/null | tr ' ' ,)\"; done 2>/dev/null"
)


class FrequencyPin:
    def __init__(self, link, workdir: str, topology):
        self.link = link
        self.saved_file = f"{workdir}/pinned-frequencies"
        self.topology = topology
        self.rooted = False
        self.pinned: dict[int, int] = {}
        self.found: dict[int, tuple[str, int, int]] = {}
        self.notes: list[str] = []

    def pin(self) -> None:
        """Put back what an earlier run left pinned, then pin (rooted) or only record."""
        self.rooted = "uid=0" in self.link.shell("su -c id 2>/dev/null", timeout_s=30).stdout
        if self.rooted:
            self._restore_leftover()
        cores, ladders = self._read()
        self.found = cores
        if not self.rooted:
            self.notes.append("--pin-frequencies: the phone is not rooted (no su); clocks left "
                              "to the governor as found: " + _describe(cores))
            return
        for cluster in self.topology:
            ladder = sorted(ladders.get(cluster.cpus[0]) or [cores[cluster.cpus[0]][2]])
            top = max(ladder)
            chosen = max((f for f in ladder if f <= top * PIN_FRACTION), default=min(ladder))
            for cpu in cluster.cpus:
                self.pinned[cpu] = chosen
        saved = "\n".join(f"{cpu} {g} {lo} {hi}" for cpu, (g, lo, hi) in sorted(cores.items()))
        commands = [f"printf %s {shlex.quote(saved)} > {self.saved_file}"]
        for cpu, khz in sorted(self.pinned.items()):
            base = f"{CPU_DIR}/cpu{cpu}/cpufreq"
            # Lower the ceiling first, then raise the floor: min <= max all along.
            commands += [f"echo {khz} > {base}/scaling_max_freq", f"echo {khz} > {base}/scaling_min_freq",
                         f"echo performance > {base}/scaling_governor"]
        self._su(commands)
        self.notes.append("--pin-frequencies: " + ", ".join(
            f"{c.role} {self.pinned[c.cpus[0]] / 1e6:.2f} GHz" for c in self.topology)
            + f" (the highest clock at most {PIN_FRACTION:.0%} of each cluster's top); put back "
            "when the run ends")

    def restore(self) -> None:
        """Put back what pin() saved; never raises (the run's own error, if any, stands)."""
        if not (self.rooted and self.pinned):
            return
        try:
            self._put_back({cpu: saved for cpu, saved in self.found.items()})
            self.pinned = {}
        except (DeviceGone, DeviceCallFailed) as exc:
            logger.warning("could not put the CPU clocks back on %s (%s); the next run with "
                           "--pin-frequencies will", self.link.serial, exc)

    def context(self) -> dict:
        return {"frequencies": {
            "rooted": self.rooted, "pinned_khz": {str(c): f for c, f in self.pinned.items()},
            "found": {str(c): {"governor": g, "min_khz": lo, "max_khz": hi}
                      for c, (g, lo, hi) in self.found.items()}}}

    # -- the phone --------------------------------------------------------------------------------

    def _read(self) -> tuple[dict[int, tuple[str, int, int]], dict[int, list[int]]]:
        cores, ladders = {}, {}
        for line in self.link.shell(READ_SHELL, timeout_s=30).stdout.splitlines():
            parts = line.split()
            if len(parts) < 4 or not parts[0][3:].isdigit() or not parts[2].isdigit() or not parts[3].isdigit():
                continue
            cpu = int(parts[0][3:])
            cores[cpu] = (parts[1], int(parts[2]), int(parts[3]))
            if len(parts) > 4:
                ladders[cpu] = [int(f) for f in parts[4].split(",") if f.isdigit()]
        return cores, ladders

    def _restore_leftover(self) -> None:
        text = self.link.shell(f"echo {MARKER}saved; cat {self.saved_file} 2>/dev/null",
                               timeout_s=30).stdout
        saved = {}
        for section in split_sections(text):
            for line in section.text.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[0].isdigit():
                    saved[int(parts[0])] = (parts[1], int(parts[2]), int(parts[3]))
        if saved:
            self._put_back(saved)
            self.notes.append("--pin-frequencies: put back the clocks an earlier run left pinned")

    def _put_back(self, saved: dict[int, tuple[str, int, int]]) -> None:
        commands = []
        for cpu, (governor, low, high) in sorted(saved.items()):
            base = f"{CPU_DIR}/cpu{cpu}/cpufreq"
            # Raise the ceiling first, then lower the floor: min <= max all along.
            commands += [f"echo {high} > {base}/scaling_max_freq", f"echo {low} > {base}/scaling_min_freq",
                         f"echo {shlex.quote(governor)} > {base}/scaling_governor"]
        commands.append(f"rm -f {self.saved_file}")
        self._su(commands)

    def _su(self, commands: list[str]) -> None:
        script = "; ".join(commands)
        output = self.link.shell(f"su -c {shlex.quote(script)}", timeout_s=60)
        if output.exit_code not in (0, None):
            raise DeviceCallFailed(f"su could not set the CPU clocks: {output.stderr.strip() or output.stdout.strip()}")


def _describe(cores: dict[int, tuple[str, int, int]]) -> str:
    governors = sorted({g for g, _, _ in cores.values()})
    return f"governor {', '.join(governors) or 'unknown'} on {len(cores)} cores"
