"""The customer portal's Google Analytics 4 property as it stands at the end of `end_date`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from simulators import ga4_api
from simulators.world import World


def traffic_rows(world: World) -> pd.DataFrame:
    """Final figures per (day, page path) and per day (page_path ''), consented visits only:
    what GA4 reports once it has finished processing a day."""
    visits = world.portal.visits
    seen = visits[visits["consented"]]
    views = world.portal.page_views.merge(seen[["visit", "local_date"]], on="visit")
    day_text = lambda days: np.datetime_as_string(np.asarray(days, dtype="datetime64[D]")).astype(object)  # noqa: E731
    views = views.assign(day=pd.Series(day_text(views["local_date"]), index=views.index).str.replace("-", ""))
    by_page = views.groupby(["day", "path"]).agg(
        sessions=("visit", "nunique"),
        screen_page_views=("visit", "size"),
        user_engagement_duration=("engagement_seconds", "sum"),
        key_events=("is_key_event", "sum"),
    )
    by_day = views.groupby("day").agg(
        sessions=("visit", "nunique"),
        screen_page_views=("visit", "size"),
        user_engagement_duration=("engagement_seconds", "sum"),
        key_events=("is_key_event", "sum"),
    )
    by_day["path"] = ""
    table = pd.concat([by_page.reset_index(), by_day.reset_index()], ignore_index=True)
    return table[
        ["day", "path", "sessions", "screen_page_views", "user_engagement_duration", "key_events"]
    ].sort_values(["day", "path"], kind="stable")


def write_portal_store(world: World, path: Path) -> dict[str, int]:
    table = traffic_rows(world)
    rows = [(d, p, int(s), int(v), int(e), int(k)) for d, p, s, v, e, k in table.itertuples(index=False, name=None)]
    snapshot = pd.Timestamp(world.snapshot).tz_localize("UTC").to_pydatetime()
    ga4_api.write_store(path, ga4_api.PROPERTY_ID, snapshot, rows)
    return {"traffic_rows": len(rows), "days": int((table["path"] == "").sum())}
