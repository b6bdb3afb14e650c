"""The catalog of iPhones the harness knows by name (`devices.yaml` beside this file).

`--device iphone12` is looked up here: an entry names the product types (model identifiers such
as `iPhone13,2`) of one phone, so the attached iPhone reporting one of them is the one meant.
The entry also gives what iOS does not report: the SoC's name, its CPU clusters and Neural
Engine. Names match without regard to case, spaces, dashes or underscores ("iPhone 12" is
"iphone12"); parentheses are dropped too, so "iPhone SE (3rd generation)" is "iphonese3rdgeneration".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from device_runners.phones import CatalogError, CoreCluster, describe_clusters, normalize_name

CATALOG_PATH = Path(__file__).with_name("devices.yaml")


@dataclass(frozen=True)
class SocSpec:
    key: str
    name: str
    clusters: tuple[CoreCluster, ...]  # slowest first
    neural_engine_cores: int

    @property
    def core_count(self) -> int:
        return sum(c.cores for c in self.clusters)

    def describe_cpu(self) -> str:
        """"4x1.82 + 2x2.99 GHz (nominal)", as the Android catalog writes a layout."""
        return describe_clusters(self.clusters)


@dataclass(frozen=True)
class PhoneSpec:
    key: str
    name: str
    aliases: tuple[str, ...]
    product_types: tuple[str, ...]
    soc: SocSpec

    def names(self) -> set[str]:
        return {normalize_name(n) for n in (self.key, self.name, *self.aliases)}


@dataclass(frozen=True)
class Catalog:
    phones: tuple[PhoneSpec, ...]

    def lookup(self, name: str) -> PhoneSpec | None:
        """The entry `--device NAME` means, by key, name or alias."""
        wanted = normalize_name(name)
        return next((p for p in self.phones if wanted in p.names()), None)

    def for_product_type(self, product_type: str) -> PhoneSpec | None:
        return next((p for p in self.phones if product_type in p.product_types), None)


def parse_catalog(data: dict) -> Catalog:
    try:
        socs = {
            key: SocSpec(key, entry["name"],
                         tuple(CoreCluster(int(c["cores"]), str(c["core"]), int(c["max_mhz"]))
                               for c in entry["clusters"]),
                         int(entry.get("neural_engine_cores", 0)))
            for key, entry in data["socs"].items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise CatalogError(f"{CATALOG_PATH.name}: a SoC entry is malformed ({exc!r}).") from None
    phones = []
    seen: dict[str, str] = {}
    for key, entry in data["phones"].items():
        if entry.get("soc") not in socs:
            raise CatalogError(f"{CATALOG_PATH.name}: {key!r} names SoC {entry.get('soc')!r}, "
                               "which is not under socs.")
        types = tuple(str(t) for t in entry.get("product_types") or ())
        if not types:
            raise CatalogError(f"{CATALOG_PATH.name}: {key!r} lists no product_types.")
        for t in types:
            if t in seen:
                raise CatalogError(f"{CATALOG_PATH.name}: product type {t} is in both "
                                   f"{seen[t]!r} and {key!r}.")
            seen[t] = key
        phones.append(PhoneSpec(key, entry["name"], tuple(entry.get("aliases") or ()), types,
                                socs[entry["soc"]]))
    return Catalog(tuple(phones))


@lru_cache(maxsize=4)
def load_catalog(path: str | Path = CATALOG_PATH) -> Catalog:
    return parse_catalog(yaml.safe_load(Path(path).read_text()))
