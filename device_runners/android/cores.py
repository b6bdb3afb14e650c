"""A phone's CPU clusters, and the cores `--cores prime|big|little|all` means on it.

Phones group cores in clusters of one core type: a Pixel 7 has 4 Cortex-A55 (little), 2 A78
(big) and 2 X1 (prime). The kernel says which core is which two ways: `cpu_capacity` (the
scheduler's relative speed, 1024 for the fastest core at its top frequency) and
`cpufreq/cpuinfo_max_freq`. Cores sharing both are one cluster; clusters sort by capacity, then
frequency. Where a phone hides both (some vendors do, to the shell user), the catalog's layout of
its SoC stands in (device_runners/android/devices.yaml), numbered little cores first as Linux
numbers them.

The roles: with three clusters or more, the slowest is `little`, the fastest `prime`, and the
ones between `big`; with two, `little` and `big`; one cluster is only `all`.
"""

from __future__ import annotations

from dataclasses import dataclass

from device_runners.compute_peak import phone_peak
from device_runners.errors import DeviceOptionError

CORE_CHOICES = ("prime", "big", "little", "all")


@dataclass(frozen=True)
class Cluster:
    role: str  # little, big, prime; all for a phone of one cluster
    cpus: tuple[int, ...]
    max_khz: int | None
    capacity: int | None
    core: str = ""  # the core type, from the catalog where it knows the SoC

    def describe(self) -> str:
        ghz = f" {self.max_khz / 1e6:.2f} GHz" if self.max_khz else ""
        core = f" {self.core}" if self.core else ""
        return f"{self.role} {len(self.cpus)}x{core}{ghz} (CPU {_span(self.cpus)})"


class CoresUnavailable(DeviceOptionError):
    """`--cores` asked for a cluster this phone does not have."""


def topology(freqs: dict[int, int | None], capacities: dict[int, int | None],
             catalog_clusters=()) -> list[Cluster]:
    """The clusters of a phone, slowest first, with their roles."""
    groups: dict[tuple[int, int], list[int]] = {}
    for cpu in sorted(set(freqs) | set(capacities)):
        khz, capacity = freqs.get(cpu), capacities.get(cpu)
        if khz is None and capacity is None:
            continue
        groups.setdefault((capacity or 0, khz or 0), []).append(cpu)
    if groups:
        ordered = sorted(groups.items())
        names = _catalog_names(catalog_clusters, [len(cpus) for _, cpus in ordered])
        parts = [(tuple(cpus), khz or None, capacity or None, name)
                 for ((capacity, khz), cpus), name in zip(ordered, names)]
    elif catalog_clusters:  # the phone hides both: the catalog's nominal layout
        parts, first = [], 0
        for c in catalog_clusters:
            parts.append((tuple(range(first, first + c.cores)), c.max_khz, None, c.core))
            first += c.cores
    else:
        return []
    roles = _roles(len(parts))
    return [Cluster(role, cpus, khz, capacity, core) for role, (cpus, khz, capacity, core) in zip(roles, parts)]


def _roles(count: int) -> list[str]:
    if count == 1:
        return ["all"]
    if count == 2:
        return ["little", "big"]
    return ["little", *["big"] * (count - 2), "prime"]


def _catalog_names(catalog_clusters, sizes: list[int]) -> list[str]:
    """The catalog's core names, where its layout matches what the phone reports."""
    if [c.cores for c in catalog_clusters] == sizes:
        return [c.core for c in catalog_clusters]
    return [""] * len(sizes)


def cores_for(choice: str, clusters: list[Cluster], phone: str) -> tuple[int, ...]:
    """The CPUs `--cores choice` means on this phone; raises CoresUnavailable in one line."""
    if choice not in CORE_CHOICES:
        raise CoresUnavailable(f"--cores takes {', '.join(CORE_CHOICES)}, not {choice!r}.")
    if not clusters:
        raise CoresUnavailable(f"--cores {choice}: {phone} reports neither core capacities nor "
                               "frequencies and its SoC is not in the catalog; use --affinity CPUS.")
    if choice == "all":
        return tuple(sorted(c for cluster in clusters for c in cluster.cpus))
    chosen = tuple(sorted(c for cluster in clusters if cluster.role == choice for c in cluster.cpus))
    if chosen:
        return chosen
    layout = ", ".join(c.describe() for c in clusters)
    instead = {"prime": "big", "big": "all", "little": "all"}[choice]
    raise CoresUnavailable(f"--cores {choice}: {phone} has no {choice} cores ({layout}); "
                           f"use --cores {instead}.")


def describe_topology(clusters: list[Cluster]) -> str:
    """"little 4x Cortex-A55 1.80 GHz (CPU 0-3) + big 2x ... + prime 2x ...", slowest first."""
    return " + ".join(c.describe() for c in clusters)


def _span(cpus: tuple[int, ...]) -> str:
    if len(cpus) > 1 and cpus == tuple(range(cpus[0], cpus[-1] + 1)):
        return f"{cpus[0]}-{cpus[-1]}"
    return ",".join(map(str, cpus))


@dataclass(frozen=True)
class Placement:
    """Where a phone's trials run: the cores `--cores` asked for (none: the runner's default,
    the fastest cores the threads need), and the phone's clusters to describe them by."""

    asked: str
    cpus: tuple[int, ...]
    topology: tuple[Cluster, ...]
    soc: str = ""

    @classmethod
    def choose(cls, choice: str | None, clusters: list[Cluster], phone: str, soc: str = "") -> Placement:
        return cls(choice or "", cores_for(choice, clusters, phone) if choice else (), tuple(clusters), soc)

    def context(self, used: tuple[int, ...], threads: int = 1) -> dict:
        """What a trial's context records: the choice, the CPUs used and their clusters, and
        the most the cores its threads ran on could compute (device_runners/compute_peak.py)."""
        roles = [c.role for c in self.topology if set(c.cpus) & set(used)]
        rank = {cpu: i for i, cluster in enumerate(self.topology) for cpu in cluster.cpus}
        busy = sorted(used, key=lambda cpu: rank.get(cpu, 0), reverse=True)[:max(1, threads)]
        return {"cores": {"asked": self.asked, "cpus": list(used), "clusters": roles,
                          "layout": describe_topology(list(self.topology))},
                "compute_peak": phone_peak(self.topology, busy, self.soc) if used else None}
