"""ingest_cti through Airflow: the sensor waits for a CDR file that arrives late, then loads it."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import date, datetime, timedelta

import pytest

from cs_analytics.warehouse import Warehouse
from scripts.demo import dags_test
from simulators.world.config import PARIS
from tests.conftest import AIRFLOW_METADATA

pytestmark = [pytest.mark.e2e, AIRFLOW_METADATA]

HEADER = (
    "call_id;start_time;end_time;caller_number;called_number;direction;queue;wait_seconds;talk_seconds;"
    "outcome;agent_id;agent_name"
)


def cdr_file(day: date, n: int) -> str:
    rows = [
        f"{day:%Y%m%d}-{i};{day} 09:{i:02d}:00;{day} 09:{i:02d}:40;+33612345678;+33478000000;inbound;SAV;5;"
        f"35;answered;201;Claire Martin"
        for i in range(n)
    ]
    return "\n".join([HEADER, *rows]) + "\n"


def test_sensor_waits_for_the_late_file_then_loads_it(tmp_path, scratch_db_url):
    day = date(2026, 3, 3)
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / f"cdr_{day - timedelta(days=1):%Y%m%d}.csv").write_text(cdr_file(day - timedelta(days=1), 3))
    env = dict(
        os.environ,
        AIRFLOW_CONN_WAREHOUSE=scratch_db_url.replace("postgresql://", "postgres://", 1),
        AIRFLOW_CONN_CTI_LANDING=json.dumps({"conn_type": "fs", "extra": {"path": str(landing)}}),
        CTI_FILE_POKE_SECONDS="2",
        TASK_RETRY_DELAY_SECONDS="1",
    )

    log = tmp_path / "logs" / "ingest_cti.log"

    def deliver_late():
        # Only once the sensor has looked, found nothing and given back its slot.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (log.exists() and "up_for_reschedule" in log.read_text()):
            time.sleep(0.5)
        (landing / f"cdr_{day:%Y%m%d}.csv.part").write_text(cdr_file(day, 5))
        (landing / f"cdr_{day:%Y%m%d}.csv.part").rename(landing / f"cdr_{day:%Y%m%d}.csv")

    dropper = threading.Thread(target=deliver_late)
    dropper.start()
    dags_test(
        "ingest_cti",
        datetime.combine(day + timedelta(days=1), datetime.min.time(), PARIS),
        log_dir=tmp_path / "logs",
        env=env,
    )
    dropper.join()
    assert "up_for_reschedule" in log.read_text()  # the sensor did not find the file at first
    wh = Warehouse(scratch_db_url)
    assert dict(wh.query("select _file_date, count(*) from raw_cti.calls group by 1")) == {
        day - timedelta(days=1): 3,
        day: 5,
    }
