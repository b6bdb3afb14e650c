"""Where a farm run across hosts stands: per device, cells queued on the broker, the one being
measured (and by which host), and the ones stored, done or failed; and waiting for it to end.

Queued and running come from the broker (its queue lengths, and the key a worker sets while it
measures a cell); done and failed from the results database, which is the truth: a cell counts as
done only once its record is stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.farm.config import FarmConfig
from harness.farm.local import device_run_id
from harness.redact import redact_url

WAIT_POLL_S = 2.0


@dataclass(frozen=True)
class DeviceStatus:
    device: str
    cells: int  # in the plan
    queued: int
    running: str  # "model/format on host", or ""
    done: int  # stored ok
    failed: int  # stored, not ok (failed, unsupported, skipped)

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.cells


def _stored(store, run_id: str) -> tuple[int, int]:
    if not any(r.id == run_id for r in store.runs()):
        return 0, 0
    records = store.records(run_id)
    done = sum(r.status == "ok" for r in records)
    return done, len(records) - done


def farm_status_rows(config: FarmConfig, farm_run: str, store, url: str) -> list[DeviceStatus]:
    from harness.farm.queue import broker_problem, plan_of, queue_name, queued, running_cell

    try:
        plan = plan_of(url, farm_run)
        if plan is None:
            raise HarnessError(f"No farm run {farm_run!r} was submitted to {redact_url(url)}; "
                               "`harness farm submit` queues one (--run names it).")
        rows = []
        for device in config.devices:
            entry = plan["devices"].get(device.slug, {"cells": []})
            now = running_cell(url, farm_run, device.slug)
            done, failed = _stored(store, device_run_id(farm_run, device))
            rows.append(DeviceStatus(
                device=device.name, cells=len(entry["cells"]), queued=queued(url, queue_name(device)),
                running=f"{now['cell'].split('/', 1)[1]} on {now['host']}" if now else "",
                done=done, failed=failed))
    except HarnessError:
        raise
    except Exception as exc:  # noqa: BLE001 - redis' own: the broker is down, elsewhere, or refuses us
        raise HarnessError(broker_problem(url, exc)) from None
    return rows


def status_table(farm_run: str, rows: list[DeviceStatus]) -> str:
    from harness.report.text import Column, TextTable

    table = TextTable([Column("device", key=True), Column("cells", "right"), Column("queued", "right"),
                       Column("running"), Column("done", "right"), Column("failed", "right")],
                      title=f"farm run {farm_run}")
    for r in rows:
        table.add_row(r.device, str(r.cells), str(r.queued), r.running or "-", str(r.done), str(r.failed))
    return "\n".join(table.render())


def wait_for_cells(store, config: FarmConfig, farm_run: str, specs, formats,
                   timeout_s: float | None = None, poll_s: float = WAIT_POLL_S) -> None:
    """Until every device's run holds a record of every cell (a variant's records count for
    their cell); HarnessError after `timeout_s`."""
    wanted = {(s.name, f.name) for s in specs for f in formats}
    deadline = time.monotonic() + timeout_s if timeout_s else None
    while True:
        missing = 0
        for device in config.devices:
            run_id = device_run_id(farm_run, device)
            have = set()
            if any(r.id == run_id for r in store.runs()):
                have = {(r.model, r.format.split("@", 1)[0]) for r in store.records(run_id)}
            missing += len(wanted - have)
        if not missing:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise HarnessError(f"farm run {farm_run}: {missing} cells still not stored after "
                               f"{timeout_s:g} s; `harness farm status` shows where they are.")
        time.sleep(poll_s)
