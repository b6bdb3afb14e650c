"""The catalog of Android phones the harness knows by name (`devices.yaml` beside this file).

`--device pixel7` is looked up here: a catalog entry names the `ro.product.model` values of one
phone, so the attached phone that reports one of them is the one meant. The entry also gives
what the phone itself may not report well: the SoC's marketing name, its core layout, and the
energy source to expect (ODPM rail counters on Pixel 6 and later, the battery's fuel gauge
elsewhere). What the phone does report (its properties, every core's cpuinfo_max_freq) wins.

Names are matched without regard to case, spaces, dashes or underscores, so "pixel7", "Pixel 7"
and "pixel-7" are the same name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from device_runners.phones import CatalogError, CoreCluster, normalize_name

CATALOG_PATH = Path(__file__).with_name("devices.yaml")
ENERGY_SOURCES = ("odpm", "battery")


@dataclass(frozen=True)
class SocSpec:
    key: str
    name: str
    reports: tuple[str, ...]  # ro.soc.model / ro.board.platform values meaning this SoC
    clusters: tuple[CoreCluster, ...]  # slowest first

    @property
    def core_count(self) -> int:
        return sum(c.cores for c in self.clusters)


@dataclass(frozen=True)
class PhoneSpec:
    key: str
    name: str
    energy: str
    aliases: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    model_prefixes: tuple[str, ...] = ()
    soc: str | None = None
    soc_by_model: dict[str, str] = field(default_factory=dict)

    def matches_model(self, model: str) -> bool:
        """Whether a phone reporting `ro.product.model` == `model` is this phone."""
        wanted = model.strip().lower()
        return wanted in (m.lower() for m in self.models) or any(
            wanted.startswith(p.lower()) for p in self.model_prefixes
        )

    def soc_key_for(self, model: str) -> str | None:
        """The SoC of this phone as sold under `model`; None where regions differ and the
        model is not listed (the phone's own properties then say)."""
        return self.soc_by_model.get(model.strip(), self.soc)

    def describe_models(self) -> str:
        shown = [repr(m) for m in self.models] + [f"'{p}*'" for p in self.model_prefixes]
        return f"{self.name} (ro.product.model {' or '.join(shown)})"


@dataclass(frozen=True)
class Catalog:
    phones: dict[str, PhoneSpec]
    socs: dict[str, SocSpec]

    def lookup(self, name: str) -> PhoneSpec | None:
        """The phone called `name` (a key, an alias, its full name or one of its models)."""
        wanted = normalize_name(name)
        for phone in self.phones.values():
            names = (phone.key, phone.name, *phone.aliases, *phone.models)
            if wanted in (normalize_name(n) for n in names):
                return phone
        return None

    def phone_for_model(self, model: str) -> PhoneSpec | None:
        """The catalog entry of a phone reporting `ro.product.model` == `model`, if any."""
        return next((p for p in self.phones.values() if p.matches_model(model)), None)

    def soc_for(self, model: str, reported: tuple[str, ...] = ()) -> SocSpec | None:
        """The SoC of a phone: by its model's catalog entry, else by what it reports."""
        phone = self.phone_for_model(model)
        key = phone.soc_key_for(model) if phone else None
        if key is not None:
            return self.socs[key]
        wanted = {r.strip().lower() for r in reported if r and r.strip()}
        return next(
            (s for s in self.socs.values() if wanted & {r.lower() for r in s.reports}), None
        )


def _tuple(entry: dict, name: str) -> tuple[str, ...]:
    values = entry.get(name) or ()
    if isinstance(values, str):
        values = [values]
    return tuple(str(v) for v in values)


def _parse_soc(key: str, entry: dict) -> SocSpec:
    try:
        clusters = tuple(
            CoreCluster(int(c["cores"]), str(c["core"]), int(c["max_mhz"]))
            for c in entry["clusters"]
        )
        return SocSpec(key, str(entry["name"]), _tuple(entry, "reports"), clusters)
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"SoC {key!r} in the Android catalog is malformed: {exc!r}.") from None


def _parse_phone(key: str, entry: dict, socs: dict[str, SocSpec]) -> PhoneSpec:
    if not isinstance(entry, dict) or "name" not in entry:
        raise CatalogError(f"Phone {key!r} in the Android catalog needs a name.")
    energy = entry.get("energy")
    if energy not in ENERGY_SOURCES:
        raise CatalogError(
            f"Phone {key!r} has energy {energy!r}; use one of {', '.join(ENERGY_SOURCES)}."
        )
    soc_by_model = {str(m): str(s) for m, s in (entry.get("soc_by_model") or {}).items()}
    for soc in [entry.get("soc"), *soc_by_model.values()]:
        if soc is not None and soc not in socs:
            raise CatalogError(f"Phone {key!r} names SoC {soc!r}, which the catalog lacks.")
    phone = PhoneSpec(
        key=key,
        name=str(entry["name"]),
        energy=energy,
        aliases=_tuple(entry, "aliases"),
        models=_tuple(entry, "models"),
        model_prefixes=_tuple(entry, "model_prefixes"),
        soc=entry.get("soc"),
        soc_by_model=soc_by_model,
    )
    if not phone.models and not phone.model_prefixes:
        raise CatalogError(f"Phone {key!r} needs models or model_prefixes to be recognised.")
    return phone


def parse_catalog(data: dict) -> Catalog:
    """A Catalog from the YAML's data; raises CatalogError naming the first problem."""
    socs = {key: _parse_soc(key, entry) for key, entry in (data.get("socs") or {}).items()}
    phones = {
        key: _parse_phone(key, entry, socs) for key, entry in (data.get("phones") or {}).items()
    }
    seen: dict[str, str] = {}
    for phone in phones.values():
        for name in {normalize_name(n) for n in (phone.key, phone.name, *phone.aliases)}:
            if name in seen:
                raise CatalogError(f"{name!r} names both {seen[name]!r} and {phone.key!r}.")
            seen[name] = phone.key
    return Catalog(phones, socs)


@lru_cache(maxsize=4)
def load_catalog(path: str | Path = CATALOG_PATH) -> Catalog:
    with open(path) as f:
        return parse_catalog(yaml.safe_load(f) or {})
