"""A farm across hosts on Celery: one queue per device, one worker per device, a Redis broker.

    harness farm submit farm.yaml            exports every model into the shared cache, then
                                             enqueues one task per cell on its device's queue
    harness farm worker farm.yaml --device D on the host D is attached to: measures D's cells,
                                             one at a time, into the results database
    harness farm status farm.yaml            queued / running / done / failed per device and host

Delivery is at least once, storage exactly once. The worker acknowledges a task only after the
cell is stored (`acks_late`), takes one task at a time (`prefetch_multiplier` 1, concurrency 1,
the solo pool: the measuring process is the worker, so killing it kills the measurement), and a
task whose worker died is delivered again (`reject_on_worker_lost`; with Redis, after the
broker's `visibility_timeout`, which is set above the longest cell a farm.yaml allows). The
store is the idempotency check: a cell already stored for the farm run and device is not
measured again (cell.py). The broker must keep its queues across a restart: run Redis with its
append-only file (`appendonly yes`).

The Celery app is made per farm.yaml (`make_app`), not at import, so that importing the harness
never needs Celery; the task is registered under one name, `harness.farm.measure_cell`.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from pathlib import Path

from device_runners.install_hint import pip_install_extra
from harness.errors import HarnessError
from harness.farm.cell import CellTask
from harness.farm.config import FarmConfig, FarmDevice
from harness.placement.contracts import needs_profile

log = logging.getLogger(__name__)

TASK_NAME = "harness.farm.measure_cell"
PLAN_KEY = "harness:farm:{run}:plan"  # the submitted matrix, for `farm status`
RUNNING_KEY = "harness:farm:{run}:running:{device}"  # the cell a worker measures now
# Beyond the longest cell: exports, launching apps, copying files, the thermal gate.
VISIBILITY_MARGIN_S = 900.0


def queue_name(device: FarmDevice) -> str:
    return f"harness.device.{device.slug}"


def visibility_timeout_s(config: FarmConfig) -> float:
    """Longer than any cell can take, so a slow cell is never delivered to a second worker:
    every trial and its retries at the cell timeout, plus the model's export."""
    if config.visibility_timeout_s is not None:
        return config.visibility_timeout_s  # checked against the longest cell in config.py
    settings = config.settings
    attempts = settings.trial_budget * (1 + config.retries)
    return settings.timeout_s * (attempts + 1) + settings.cooldown_s * settings.trial_budget + VISIBILITY_MARGIN_S


def broker_url(config: FarmConfig, override: str | None = None) -> str:
    """--broker, else farm.yaml's broker, else $HARNESS_BROKER (the farm's precedence:
    docs/farm.md)."""
    url = override or config.broker or os.environ.get("HARNESS_BROKER")
    if not url:
        raise HarnessError(f"{config.source} names no broker: add `broker: redis://HOST:6379/0`, "
                           "or pass --broker (or set HARNESS_BROKER).")
    return url


def make_app(url: str, visibility_s: float):
    try:
        from celery import Celery
    except ImportError:
        raise HarnessError(f"A farm across hosts needs Celery: {pip_install_extra('farm')}.") from None
    app = Celery("harness-farm", broker=url)
    app.conf.update(
        task_serializer="json", accept_content=["json"], result_backend=None, task_ignore_result=True,
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        worker_concurrency=1, broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a broker restart is waited out, not fatal
        broker_transport_options={
            "visibility_timeout": visibility_s,
            # kombu sweeps for the tasks of dead workers every interval x throttle seconds
            # (10 x 10 by default): a lost cell would wait 100 s beyond the visibility timeout.
            # A farm has a handful of queues, so a sweep every few seconds costs nothing.
            "unacked_restore_interval": max(1, min(10, int(visibility_s // 5))),
            "unacked_restore_throttle": 1,
        },
        worker_hijack_root_logger=False, task_default_queue="harness.default",
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


def redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


def cell_tasks(config: FarmConfig, farm_run: str, specs, formats) -> list[CellTask]:
    from harness.farm.local import _device_options

    tasks = []
    for device in config.devices:
        options = _device_options(device, config)
        for spec in specs:
            for fmt in formats:
                tasks.append(CellTask(
                    farm=config.name, farm_run=farm_run, device=device.name, device_slug=device.slug,
                    model=spec.reference or spec.name, format=fmt.name,
                    settings=config.settings.to_dict(),
                    retries=config.retries, quarantine_after=config.quarantine_after,
                    device_options=options, farm_config=config.to_dict(),
                    provider=list(device.provider) if device.provider else None,
                    profile=needs_profile(config.expect, device.name)))
    return tasks


def submit(config: FarmConfig, farm_run: str, tasks: list[CellTask], url: str) -> int:
    """Enqueue every task on its device's queue and record the plan; returns how many."""
    app = make_app(url, visibility_timeout_s(config))
    by_slug = {d.slug: d for d in config.devices}
    plan = {"farm": config.name, "run": farm_run, "devices": {}}
    with app.connection_for_write() as connection:
        for task in tasks:
            queue = queue_name(by_slug[task.device_slug])
            app.send_task(TASK_NAME, args=[task.to_dict()], queue=queue, connection=connection,
                          task_id=f"{task.key}#{os.urandom(4).hex()}")
            plan["devices"].setdefault(task.device_slug, {"device": task.device, "queue": queue, "cells": []})
            plan["devices"][task.device_slug]["cells"].append(task.key)
    redis_client(url).set(PLAN_KEY.format(run=farm_run), json.dumps(plan))
    return len(tasks)


def run_worker(config: FarmConfig, device: FarmDevice, url: str, store_location: str | None,
               cache_dir: str | None, log_dir: Path | None = None) -> None:
    """A Celery worker for one device, in this process, until it is stopped."""
    app = make_app(url, visibility_timeout_s(config))
    client = redis_client(url)

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)
    def measure(self, payload: dict):
        from harness.export.cache import ArtifactCache, default_cache_dir
        from harness.farm.cell import measure_cell
        from harness.store import Store

        task = CellTask.from_dict(payload)
        if task.device_slug != device.slug:  # a misrouted task: never measured on another device
            raise HarnessError(f"task {task.key} is for {task.device}, this worker serves {device.name}")
        running = RUNNING_KEY.format(run=task.farm_run, device=task.device_slug)
        client.set(running, json.dumps({"cell": task.key, "host": socket.gethostname(),
                                        "pid": os.getpid()}), ex=int(visibility_timeout_s(config)))
        try:
            with Store(store_location) as store:
                cache = ArtifactCache(cache_dir or config.cache or default_cache_dir())
                log_path = (log_dir / f"worker-{device.slug}.log") if log_dir else None
                outcome = measure_cell(task, store, cache, log_path=log_path)
        finally:
            client.delete(running)
        log.info("%s: %s", task.key, outcome)
        return outcome

    argv = ["worker", "--pool=solo", "--concurrency=1", "--prefetch-multiplier=1",
            f"--queues={queue_name(device)}", f"--hostname={device.slug}@{socket.gethostname()}",
            "--without-gossip", "--without-mingle", "--loglevel=INFO"]
    app.worker_main(argv)


def queued(url: str, queue: str) -> int:
    """Messages waiting in a device's queue (Redis keeps each queue as a list)."""
    return int(redis_client(url).llen(queue))


def plan_of(url: str, farm_run: str) -> dict | None:
    raw = redis_client(url).get(PLAN_KEY.format(run=farm_run))
    return json.loads(raw) if raw else None


def running_cell(url: str, farm_run: str, slug: str) -> dict | None:
    raw = redis_client(url).get(RUNNING_KEY.format(run=farm_run, device=slug))
    return json.loads(raw) if raw else None
