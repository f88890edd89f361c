"""Writers that turn a world into the source systems' stores, files and database, plus the ground truth.

`generate(config, destinations)` rebuilds everything from scratch, printing one line per stage.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

from simulators import ga4_api, graph_api
from simulators.cti import OUTBOX_NAME, PARIS, SCHEDULE_NAME, deliver
from simulators.export.app import write_app_store
from simulators.export.crm import write_crm_store
from simulators.export.cti import write_cti_outbox
from simulators.export.erp import write_erp
from simulators.export.mailbox import write_mailbox_store
from simulators.export.portal import write_portal_store
from simulators.export.truth import FILES as TRUTH_FILES
from simulators.export.truth import write_ground_truth
from simulators.world import World, WorldConfig, build_world

CRM_STORE = "crm.sqlite"
APP_STORE = "mobile_app.sqlite"
PORTAL_STORE = ga4_api.STORE_NAME
MAILBOX_STORE = graph_api.STORE_NAME


@dataclass(frozen=True)
class Destinations:
    data_dir: Path
    ground_truth_dir: Path
    landing_dir: Path
    database_url: str
    erp_schema: str = "dbo"


class _Progress:
    """`[generate] calls          33,012 rows    2.1s` after each stage."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.started = self.last = time.perf_counter()

    def __call__(self, stage: str, count: int, unit: str = "rows") -> None:
        now = time.perf_counter()
        self.log(f"[generate] {stage:<14}{count:>10,} {unit:<7}{now - self.last:6.1f}s")
        self.last = now

    def total(self) -> float:
        return time.perf_counter() - self.started


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _write_store(writer: Callable[[World, Path], dict[str, int]], world: World, final: Path) -> dict[str, int]:
    """Build the SQLite store under a temporary name, then swap it in, so servers never read half a store."""
    building = final.with_name(final.name + ".building")
    for leftover in (building, *(building.with_name(building.name + s) for s in ("-wal", "-shm"))):
        _remove(leftover)
    counts = writer(world, building)
    for stale in (final.with_name(final.name + s) for s in ("-wal", "-shm")):
        _remove(stale)
    building.replace(final)
    return counts


def delivery_cutoff(world: World) -> datetime:
    """`generate` delivers what is due by 06:00 Paris the morning after `end_date`."""
    return datetime.combine(world.config.end_date + timedelta(days=1), clock_time(6, 0), PARIS)


def generate(config: WorldConfig, destinations: Destinations, log: Callable[[str], None] = print) -> dict:
    """Build the world and write every store, file, the ERP schema and the ground truth from scratch."""
    progress = _Progress(log)
    world = build_world(config, progress=progress)

    data_dir = destinations.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    counts["crm"] = _write_store(write_crm_store, world, data_dir / CRM_STORE)
    progress("crm store", sum(counts["crm"].values()))
    counts["app"] = _write_store(write_app_store, world, data_dir / APP_STORE)
    progress("app store", sum(counts["app"].values()))
    counts["portal_analytics"] = _write_store(write_portal_store, world, data_dir / PORTAL_STORE)
    progress("ga4 store", counts["portal_analytics"]["traffic_rows"])
    counts["mailbox"] = _write_store(write_mailbox_store, world, data_dir / MAILBOX_STORE)
    progress("mailbox store", counts["mailbox"]["messages"])

    outbox = data_dir / OUTBOX_NAME
    _remove(outbox)
    cti = write_cti_outbox(world, outbox, data_dir / SCHEDULE_NAME)
    counts["cti"] = {
        "files": len(cti.rows_per_day),
        "rows": int(cti.rows_per_day.sum()),
        "deliveries": len(cti.deliveries),
    }
    progress("cti files", counts["cti"]["rows"])
    landing = destinations.landing_dir
    _remove(landing)
    delivered = deliver(delivery_cutoff(world), outbox, landing)
    counts["cti"]["delivered_by_generate"] = len(delivered)
    progress("cti delivery", len(delivered), "files")

    counts["erp"] = write_erp(world, destinations.database_url, destinations.erp_schema)
    progress("erp", sum(counts["erp"].values()))

    truth_dir = destinations.ground_truth_dir
    for name in TRUTH_FILES:
        _remove(truth_dir / name)
    truth_counts = write_ground_truth(world, truth_dir, cti, counts)
    progress("ground truth", sum(truth_counts.values()))
    log(f"[generate] done in {progress.total():.1f}s (seed {config.seed}, scale {config.scale:g}, "
        f"{config.start_date} to {config.end_date})")  # fmt: skip
    return {**counts, "ground_truth": truth_counts}
