"""The customer portal's visits: the ones that book a visit or send the contact form, and the many
that only browse.

Every portal booking of the technicians' app (`booked_via = portal`) and every portal contact form
(CRM tickets from `FORM`) is one visit on the day it was made; browsing visits follow the season
and the weekday. Google Analytics only sees the visits whose visitor accepted the cookie banner
(CNIL consent, about two thirds in France): `consented`. Instants are UTC; the analytics property
reports Paris calendar days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world.clock import paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

CONSENT_RATE = 0.68
# Browsing visits per day on average, before weekday, season and the day-level noise.
BROWSE_VISITS_PER_DAY = 18.0
BROWSE_WEEKDAY = np.array([1.15, 1.1, 1.05, 1.05, 0.95, 0.8, 0.9])
BOOKING, CONTACT_FORM, BROWSE = "booking", "contact_form", "browse"

# Paths of the portal and how often a browsing visit views each (relative weights).
BROWSE_PAGES = {
    "/": 10.0,
    "/services/entretien-chaudiere": 4.0,
    "/services/depannage": 3.5,
    "/services/pompe-a-chaleur": 2.2,
    "/services/climatisation": 1.8,
    "/tarifs": 3.0,
    "/faq": 1.6,
    "/espace-client": 3.2,
    "/espace-client/factures": 2.4,
    "/espace-client/contrat": 1.1,
    "/rendez-vous": 2.6,
    "/rendez-vous/creneaux": 1.4,  # the booking funnel, abandoned before the confirmation
    "/contact": 1.5,
    "/blog/entretien-annuel-obligatoire": 0.9,
    "/blog/aides-renovation-energetique": 0.8,
    "/mentions-legales": 0.2,
}
LANDING_PAGES = ("/", "/services/entretien-chaudiere", "/services/depannage", "/rendez-vous")
BOOKING_FUNNEL = ("/rendez-vous", "/rendez-vous/creneaux", "/rendez-vous/confirmation")
CONTACT_FUNNEL = ("/contact", "/contact/merci")
# Pages whose view is a GA4 key event (the confirmation and thank-you pages fire them).
KEY_EVENT_PAGES = {"/rendez-vous/confirmation": "booking_confirmed", "/contact/merci": "contact_form_sent"}
SECONDS_PER_PAGE = 38.0


@dataclass
class PortalTraffic:
    visits: pd.DataFrame  # one row per visit: visit, kind, start_utc, local_date, consented, reference
    page_views: pd.DataFrame  # one row per page view: visit, path, engagement_seconds, is_key_event


def _weekday_season(calendar: pd.DataFrame) -> np.ndarray:
    shape = BROWSE_WEEKDAY[calendar["weekday"].to_numpy()] * (calendar["season"] ** 0.8).to_numpy()
    return shape / shape.mean()


def build_portal_traffic(
    config: WorldConfig, calendar: pd.DataFrame, interventions: pd.DataFrame, tickets: pd.DataFrame
) -> PortalTraffic:
    """Visits from the first exported day to `end_date` (the analytics history the sources show)."""
    rng = component_rng(config.seed, "portal")
    first = np.datetime64(config.start_date, "D")
    last = np.datetime64(config.end_date, "D")

    def within(instants: np.ndarray) -> np.ndarray:
        day = utc_to_paris(instants).astype("datetime64[D]")
        return (day >= first) & (day <= last)

    bookings = interventions[interventions["booked_via"].to_numpy() == "portal"]
    bookings = bookings[within(bookings["created_utc"].to_numpy())]
    forms = tickets[tickets["source_type"].to_numpy() == "FORM"]
    forms = forms[within(forms["created_utc"].to_numpy())]

    # Browsing visits: Poisson per day, then a start instant drawn over the waking hours.
    days = calendar[(calendar["date"] >= config.start_date) & (calendar["date"] <= config.end_date)]
    expected = (
        BROWSE_VISITS_PER_DAY
        * config.scale
        * _weekday_season(calendar)[days.index]
        * days["trend"].to_numpy()
        * days["dispersion"].to_numpy()
    )
    counts = rng.poisson(expected)
    browse_day = np.repeat(np.array(days["date"], dtype="datetime64[D]"), counts)
    hour = rng.choice(24, size=len(browse_day), p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    wall = browse_day.astype("datetime64[s]") + (hour * 3600 + rng.integers(0, 3600, len(browse_day))).astype(
        "timedelta64[s]"
    )
    # A visit that converts started a few minutes before the booking or form was recorded.
    lead = rng.integers(90, 900, len(bookings) + len(forms)).astype("timedelta64[s]")
    visits = pd.DataFrame(
        {
            "kind": np.concatenate(
                [np.full(len(bookings), BOOKING), np.full(len(forms), CONTACT_FORM), np.full(len(wall), BROWSE)]
            ),
            "start_utc": np.concatenate(
                [
                    bookings["created_utc"].to_numpy() - lead[: len(bookings)],
                    forms["created_utc"].to_numpy() - lead[len(bookings) :],
                    paris_to_utc(wall),
                ]
            ).astype("datetime64[s]"),
            # The app's intervention id or the CRM ticket row a converting visit produced.
            "reference": np.concatenate(
                [bookings["intervention_id"].to_numpy(), forms["row"].astype(str).to_numpy(), np.full(len(wall), "")]
            ),
        }
    )
    visits = visits.sort_values(["start_utc", "kind", "reference"], kind="stable").reset_index(drop=True)
    visits["visit"] = np.arange(len(visits))
    visits["local_date"] = utc_to_paris(visits["start_utc"].to_numpy()).astype("datetime64[D]")
    visits["consented"] = rng.random(len(visits)) < CONSENT_RATE
    return PortalTraffic(visits=visits, page_views=_page_views(rng, visits))


_HOUR_WEIGHTS = np.array([1, 0.5, 0.3, 0.2, 0.2, 0.4, 1.2, 3, 5, 6, 6, 5.5, 5, 5.5, 6, 5.5, 5, 5, 6, 7, 7.5, 6, 4, 2])


def _page_views(rng: np.random.Generator, visits: pd.DataFrame) -> pd.DataFrame:
    """Each visit's pages: a few browsed pages, then the funnel of a converting visit."""
    kind = visits["kind"].to_numpy()
    n = len(visits)
    paths = np.array(list(BROWSE_PAGES))
    weights = np.array(list(BROWSE_PAGES.values()))
    # Browsing visits view 1 + Poisson(1.3) pages (a third bounce on one page); converting visits
    # land on an entry page first, then go through their funnel.
    browsed = np.where(kind == BROWSE, 1 + rng.poisson(1.3, n), rng.integers(0, 2, n))
    first_is_landing = kind != BROWSE
    funnel_length = np.select([kind == BOOKING, kind == CONTACT_FORM], [len(BOOKING_FUNNEL), len(CONTACT_FUNNEL)], 0)
    total = browsed + funnel_length
    visit = np.repeat(np.arange(n), total)
    position = np.arange(len(visit)) - np.repeat(np.cumsum(total) - total, total)
    in_funnel = position >= np.repeat(browsed, total)
    chosen = rng.choice(len(paths), size=len(visit), p=weights / weights.sum())
    path = paths[chosen].astype(object)
    landing = rng.choice(LANDING_PAGES, size=len(visit))
    path = np.where((position == 0) & np.repeat(first_is_landing, total) & ~in_funnel, landing, path)
    funnel_step = position - np.repeat(browsed, total)
    visit_kind = kind[visit]
    booking_step = np.array(BOOKING_FUNNEL, dtype=object)[np.clip(funnel_step, 0, len(BOOKING_FUNNEL) - 1)]
    contact_step = np.array(CONTACT_FUNNEL, dtype=object)[np.clip(funnel_step, 0, len(CONTACT_FUNNEL) - 1)]
    path = np.where(in_funnel & (visit_kind == BOOKING), booking_step, path)
    path = np.where(in_funnel & (visit_kind == CONTACT_FORM), contact_step, path)
    # Engagement: seconds in the foreground; a one-page visit is mostly a bounce.
    seconds = rng.lognormal(np.log(SECONDS_PER_PAGE), 0.7, len(visit))
    bounce = np.repeat(total == 1, total)
    seconds = np.where(bounce, seconds * rng.uniform(0.05, 0.4, len(visit)), seconds)
    return pd.DataFrame(
        {
            "visit": visit,
            "position": position,
            "path": path,
            "engagement_seconds": np.round(seconds).astype("int64"),
            "is_key_event": np.isin(path, list(KEY_EVENT_PAGES)),
        }
    )
