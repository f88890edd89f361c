"""Technician route planning (spec 2.3): each technician's visits of a day, in the order that
minimises travel under the customers' booked windows, working hours, the lunch break and the
visits' durations — planned the evening before, for all the day's technicians at once.

Distances are great-circle (haversine) kilometres times a road factor; travel time is that road
distance at an average urban speed (both in `RoutingRules`, documented there). A technician
leaves home (the app's home base) at the start of the day, must *arrive* at each visit inside its
booked window (waiting on site if early), takes a 45-minute lunch starting between 12:00 and
14:00 between two visits, and should be home by the end of the day (later is overtime: allowed,
at a cost, because the office sometimes books more than a day can hold).

Planners of a day (`DayProblem`), all scored by the same `evaluate` (one timeline, one
definition of a violation):

- `plan_ortools` — production: OR-Tools routing, one vehicle per technician working that day,
  each from its home (spec: "localisation techniciens (départ)"); a time dimension with the
  booked windows on arrival, the visits' durations, working hours (overtime soft) and the lunch as
  a break that cannot fall inside a visit; distance as the cost. A greedy descent from the
  office's plan to a local optimum (no time limit decides the plan: the same whatever the
  machine's load); if a window is still missed, again from scratch with the windows hard. Never
  worse than the office's plan. A day of more than `SPLIT_VISITS` visits is planned in groups of
  neighbouring technicians, each with the visits the office gave them. It may hand a visit to
  another technician (the customer booked a window, not a person); `reassign=False` keeps the
  office's assignment and only reorders;
- `plan_genetic` — the specification's algorithm on whole-day plannings: population 100, 100
  generations, the best 20% kept, crossover, mutation; a planning is a random key per visit
  (integer part: the technician, fraction: the order); fitness = km + penalties;
- `plan_nearest_neighbour` — each technician's visits, the one that can start soonest next;
- `office_plan` — the assignment and order the office scheduled.

Pure: DataFrames in, DataFrames and dataclasses out; no clock, no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

EARTH_RADIUS_KM = 6371.0
LATE_PENALTY_KM = 1000.0  # per minute of arrival after a booked window: never worth a shorter route
LUNCH_PENALTY_KM = 1000.0  # a lunch that cannot start between 12:00 and 14:00
OVERTIME_PENALTY_KM = 0.5  # per minute home after the end of the day


@dataclass(frozen=True)
class RoutingRules:
    # Road kilometres per straight-line kilometre: 1.3 is the usual detour index of a European
    # urban road network (Lyon's rivers and hills make 1.25-1.4 typical).
    road_factor: float = 1.3
    # Door-to-door average speed of a van in the Lyon metropolitan area, parking included.
    speed_kmh: float = 30.0
    day_start_min: int = 8 * 60  # technicians leave home from 08:00 ...
    day_end_min: int = 18 * 60  # ... and are expected back by 18:00
    lunch_minutes: int = 45
    lunch_earliest_min: int = 12 * 60
    lunch_latest_min: int = 14 * 60  # the lunch starts between 12:00 and 14:00


@dataclass(frozen=True)
class RouteProblem:
    """One technician's day: home, visits with windows (minutes after midnight) and durations."""

    home: tuple[float, float]
    ids: tuple[str, ...]
    latitude: np.ndarray
    longitude: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray
    duration: np.ndarray
    rules: RoutingRules = field(default_factory=RoutingRules)
    # Road km between home (0) and the visits (1..n), when the caller has them already (a day's
    # planners evaluate thousands of routes over the same places).
    road_km: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name in ("latitude", "longitude", "window_start", "window_end", "duration"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"route problem: {name} has {len(getattr(self, name))} values for {n} visits")
        if n and (np.isnan(self.latitude).any() or np.isnan(self.longitude).any()):
            raise ValueError("route problem: a visit has no coordinates")
        if n and (self.window_end < self.window_start).any():
            raise ValueError("route problem: a booked window ends before it starts")

    @property
    def size(self) -> int:
        return len(self.ids)

    def matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Road km and travel minutes between home (index 0) and the visits (1..n)."""
        if self.road_km is not None:
            return self.road_km, self.road_km / self.rules.speed_kmh * 60.0
        lat = np.concatenate([[self.home[0]], self.latitude])
        lon = np.concatenate([[self.home[1]], self.longitude])
        km = haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) * self.rules.road_factor
        return km, km / self.rules.speed_kmh * 60.0


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km (vectorised)."""
    la1, lo1, la2, lo2 = (np.radians(np.asarray(x, dtype=float)) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0, 1)))


@dataclass(frozen=True)
class RoutePlan:
    """A visiting order and its timeline (minutes after midnight)."""

    order: tuple[int, ...]  # indices into the problem's visits
    arrival: np.ndarray  # planned arrival (start of the visit: after waiting for the window)
    km_from_previous: np.ndarray
    minutes_from_previous: np.ndarray
    total_km: float  # including the way home
    home_at: float
    late_minutes: float  # summed arrival after the booked windows
    windows_missed: int
    lunch_at: float | None
    lunch_ok: bool
    overtime_minutes: float
    solve_seconds: float = 0.0  # CPU seconds: independent of what else runs on the machine

    @property
    def cost(self) -> float:
        return (
            self.total_km
            + LATE_PENALTY_KM * self.late_minutes
            + (0.0 if self.lunch_ok else LUNCH_PENALTY_KM)
            + OVERTIME_PENALTY_KM * self.overtime_minutes
        )


def evaluate(problem: RouteProblem, order: tuple[int, ...] | list[int], solve_seconds: float = 0.0) -> RoutePlan:
    """The timeline of visiting `order`: arrive, wait for the window, work, lunch, go home.

    Lunch rule (45 min, starting 12:00-14:00, never inside a visit): taken during a wait for a
    window when the wait holds it; else at the first departure at or after 12:00; else, when the
    next visit would run past 14:00, at 12:00 before it if its window still allows. Otherwise the
    day has no lawful lunch (`lunch_ok` false). (OR-Tools places its own lunch: `plan_ortools`
    scores the solver's timeline with the same definitions.)
    """
    rules = problem.rules
    km, minutes = problem.matrices()
    order = tuple(int(i) for i in order)
    if sorted(order) != list(range(problem.size)):
        raise ValueError(f"route order {order} is not a permutation of the {problem.size} visits")
    n = len(order)
    arrival, km_prev, min_prev = np.zeros(n), np.zeros(n), np.zeros(n)
    lunch_first, lunch_last, lunch_len = (
        float(rules.lunch_earliest_min),
        float(rules.lunch_latest_min),
        rules.lunch_minutes,
    )
    t, here = float(rules.day_start_min), 0
    lunch_at: float | None = None
    late, missed = 0.0, 0
    for k, visit in enumerate(order):
        node = visit + 1
        travel = minutes[here, node]
        opens, closes, work = problem.window_start[visit], problem.window_end[visit], problem.duration[visit]
        if here == 0:
            t = max(t, opens - travel)  # leave home just in time for the first window
        if lunch_at is None:
            if lunch_first <= t <= lunch_last:
                lunch_at, t = t, t + lunch_len  # the first departure after noon
            else:
                wait_from = max(t + travel, lunch_first)
                if wait_from <= lunch_last and opens - wait_from >= lunch_len:
                    lunch_at = wait_from  # the wait for the window holds it: no delay
                elif (
                    t < lunch_first
                    and max(t + travel, opens) + work > lunch_last
                    and lunch_first + lunch_len + travel <= closes
                ):
                    lunch_at, t = lunch_first, lunch_first + lunch_len  # before a visit that runs past 14:00
        arrival[k] = max(t + travel, opens)
        if arrival[k] > closes + 1e-6:
            late += arrival[k] - closes
            missed += 1
        km_prev[k], min_prev[k] = km[here, node], travel
        t, here = arrival[k] + work, node
    if lunch_at is None and lunch_first <= max(t, lunch_first) <= lunch_last:
        lunch_at = max(t, lunch_first)  # after the last visit, before heading home
        t = lunch_at + lunch_len
    home_at = t + minutes[here, 0] if n else float(rules.day_start_min)
    total_km = float(km_prev.sum() + (km[here, 0] if n else 0.0))
    lunch_ok = lunch_at is not None and lunch_first <= lunch_at <= lunch_last
    return RoutePlan(
        order=order,
        arrival=arrival,
        km_from_previous=km_prev,
        minutes_from_previous=min_prev,
        total_km=total_km,
        home_at=home_at,
        late_minutes=float(late),
        windows_missed=missed,
        lunch_at=lunch_at,
        lunch_ok=bool(lunch_ok),
        overtime_minutes=float(max(0.0, home_at - rules.day_end_min)),
        solve_seconds=solve_seconds,
    )


def best_order(problem: RouteProblem) -> RoutePlan:
    """Every order of a small route, scored by `evaluate`: the exact optimum (checks, benchmark)."""
    from itertools import permutations

    if problem.size > 8:
        raise ValueError(f"best_order enumerates {problem.size}! orders: only for routes of 8 visits or fewer")
    return min((evaluate(problem, p) for p in permutations(range(problem.size))), key=lambda p: p.cost)


# --------------------------------------------------------------------------- a day
@dataclass(frozen=True)
class DayProblem:
    """The day's visits (windows and durations in minutes after midnight) and its technicians."""

    technicians: tuple[str, ...]
    homes: np.ndarray  # (technicians, 2) latitude, longitude
    ids: tuple[str, ...]
    latitude: np.ndarray
    longitude: np.ndarray
    window_start: np.ndarray
    window_end: np.ndarray
    duration: np.ndarray
    office_technician: np.ndarray  # index into technicians
    office_rank: np.ndarray  # the office's slot order
    rules: RoutingRules = field(default_factory=RoutingRules)

    @property
    def size(self) -> int:
        return len(self.ids)

    @cached_property
    def road_km(self) -> np.ndarray:
        """Road km between every place of the day: the homes (0..T-1), then the visits."""
        lat = np.concatenate([self.homes[:, 0], self.latitude])
        lon = np.concatenate([self.homes[:, 1], self.longitude])
        return haversine_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :]) * self.rules.road_factor

    def _visit_fields(self, v: np.ndarray) -> dict[str, Any]:
        """These visits' own fields, as RouteProblem and DayProblem both take them."""
        return {
            "ids": tuple(self.ids[i] for i in v),
            "latitude": self.latitude[v],
            "longitude": self.longitude[v],
            "window_start": self.window_start[v],
            "window_end": self.window_end[v],
            "duration": self.duration[v],
        }

    def route(self, tech: int, visits: list[int]) -> RouteProblem:
        v = np.asarray(visits, dtype=int)
        places = np.concatenate([[tech], len(self.technicians) + v]).astype(int)
        return RouteProblem(
            home=(float(self.homes[tech, 0]), float(self.homes[tech, 1])),
            **self._visit_fields(v),
            rules=self.rules,
            road_km=self.road_km[np.ix_(places, places)],
        )

    def subday(self, techs: list[int]) -> tuple[DayProblem, np.ndarray]:
        """The day of these technicians and the visits the office gave them (and those visits'
        indices in this day)."""
        visits = np.flatnonzero(np.isin(self.office_technician, techs))
        position = {t: k for k, t in enumerate(techs)}
        group = DayProblem(
            technicians=tuple(self.technicians[t] for t in techs),
            homes=self.homes[techs],
            **self._visit_fields(visits),
            office_technician=np.array([position[int(t)] for t in self.office_technician[visits]], dtype=int),
            office_rank=self.office_rank[visits],
            rules=self.rules,
        )
        return group, visits


@dataclass(frozen=True)
class DayPlan:
    """Each technician's visits (indices into the day's visits) in order, and their timelines."""

    routes: dict[int, tuple[int, ...]]
    plans: dict[int, RoutePlan]
    solve_seconds: float = 0.0

    @property
    def total_km(self) -> float:
        return float(sum(p.total_km for p in self.plans.values()))

    @property
    def windows_missed(self) -> int:
        return int(sum(p.windows_missed for p in self.plans.values()))

    @property
    def late_minutes(self) -> float:
        return float(sum(p.late_minutes for p in self.plans.values()))

    @property
    def lunches_missed(self) -> int:
        return int(sum(not p.lunch_ok for p in self.plans.values() if p.order))

    @property
    def overtime_minutes(self) -> float:
        return float(sum(p.overtime_minutes for p in self.plans.values()))

    @property
    def cost(self) -> float:
        return float(sum(p.cost for p in self.plans.values()))


def evaluate_day(day: DayProblem, routes: dict[int, list[int]], solve_seconds: float = 0.0) -> DayPlan:
    """Score a day's routes (every visit exactly once) with `evaluate`."""
    seen = sorted(v for r in routes.values() for v in r)
    if seen != list(range(day.size)):
        raise ValueError(f"day plan: visits {seen} are not each of the {day.size} visits exactly once")
    plans = {}
    for tech, visits in routes.items():
        plan = evaluate(day.route(tech, list(visits)), list(range(len(visits))))
        plans[tech] = plan
    return DayPlan({t: tuple(int(v) for v in r) for t, r in routes.items()}, plans, solve_seconds)


def office_routes(day: DayProblem) -> dict[int, list[int]]:
    routes: dict[int, list[int]] = {t: [] for t in range(len(day.technicians))}
    for v in np.lexsort((np.arange(day.size), day.office_rank, day.office_technician)):
        routes[int(day.office_technician[v])].append(int(v))
    return routes


def office_plan(day: DayProblem) -> DayPlan:
    """The assignment and order the office scheduled."""
    return evaluate_day(day, office_routes(day))


def plan_nearest_neighbour(day: DayProblem) -> DayPlan:
    """Office assignment; each technician goes next to the visit that can start soonest
    (arrival, or the window's opening), the nearest first among equals."""
    started = time.process_time()
    routes = {}
    for tech, visits in office_routes(day).items():
        problem = day.route(tech, visits)
        km, minutes = problem.matrices()
        left, order, here, t = set(range(problem.size)), [], 0, float(day.rules.day_start_min)
        while left:
            start_at = {v: max(t + minutes[here, v + 1], problem.window_start[v]) for v in left}
            nxt = min(left, key=lambda v: (start_at[v], km[here, v + 1], v))
            t = start_at[nxt] + problem.duration[nxt]
            order.append(nxt)
            left.remove(nxt)
            here = nxt + 1
        routes[tech] = [visits[i] for i in order]
    return evaluate_day(day, routes, time.process_time() - started)


def plan_genetic(
    day: DayProblem,
    population: int = 100,
    generations: int = 100,
    elite_share: float = 0.2,
    mutation_rate: float = 0.3,
    seed: int = 0,
) -> DayPlan:
    """The specification's genetic algorithm (spec 2.3) on whole-day plannings.

    A planning gives each visit a key in [0, technicians): its integer part is the technician,
    the fraction orders that technician's visits. Start from random plannings (plus the
    office's), keep the best 20%, breed them by uniform crossover, mutate a key (another
    technician or another place in the day), 100 generations. Fitness: km + penalties for late
    arrivals, missed lunches and overtime (`RoutePlan.cost`).
    """
    started = time.process_time()
    n, techs = day.size, len(day.technicians)
    rng = np.random.default_rng(seed)
    cache: dict[tuple[int, tuple[int, ...]], float] = {}

    def decode(keys: np.ndarray) -> dict[int, list[int]]:
        tech = np.minimum(keys.astype(int), techs - 1)
        return {
            t: [int(v) for v in np.flatnonzero(tech == t)[np.argsort(keys[tech == t], kind="stable")]]
            for t in range(techs)
        }

    def fitness(keys: np.ndarray) -> float:
        total = 0.0
        for t, visits in decode(keys).items():
            key = (t, tuple(visits))
            if key not in cache:
                cache[key] = evaluate(day.route(t, visits), list(range(len(visits)))).cost
            total += cache[key]
        return total

    office = np.zeros(n)
    for t, visits in office_routes(day).items():
        for k, v in enumerate(visits):
            office[v] = t + (k + 0.5) / (len(visits) + 1)
    pop = [office] + [rng.random(n) * techs for _ in range(population - 1)]
    elite_count = max(2, int(round(elite_share * population)))
    for _ in range(generations):
        pop.sort(key=fitness)
        elite = pop[:elite_count]
        children = list(elite)
        while len(children) < population:
            a, b = (elite[i] for i in rng.choice(elite_count, 2, replace=False))
            child = np.where(rng.random(n) < 0.5, a, b)
            if rng.random() < mutation_rate:
                gene = rng.integers(n)
                child = child.copy()
                child[gene] = rng.random() * techs if rng.random() < 0.5 else np.floor(child[gene]) + rng.random()
            children.append(child)
        pop = children
    best = min(pop, key=fitness)
    return evaluate_day(day, decode(best), time.process_time() - started)


# A day of more visits than this is planned in independent groups of neighbouring technicians:
# the search's work grows faster than the day's size (a 150-visit day of 40 technicians did not
# finish its greedy descent in 10 s, measured), a group's in a fraction of a second.
SPLIT_VISITS = 40
GROUP_VISITS = 20  # a group's visits at most (unless one technician holds more)


def plan_ortools(day: DayProblem, reassign: bool = True) -> DayPlan:
    """OR-Tools VRPTW over the day's technicians (see the module docstring).

    First from the office's plan with soft windows (every day gets a plan, late arrivals priced
    far above any detour); when that still leaves a window missed, again from scratch with the
    windows hard, keeping the better. Never worse than the office's plan. A large day is split
    into groups of neighbouring technicians (`technician_groups`), each with the visits the office
    gave them, planned on its own the same way: never worse than the office's plan, group by group.
    """
    started = time.process_time()
    if day.size <= SPLIT_VISITS:
        best = _plan_group(day, reassign)
    else:
        routes: dict[int, tuple[int, ...]] = {}
        plans: dict[int, RoutePlan] = {}
        for techs in technician_groups(day, GROUP_VISITS):
            group, visits = day.subday(techs)
            plan = _plan_group(group, reassign)
            for k, t in enumerate(techs):
                routes[t] = tuple(int(visits[v]) for v in plan.routes[k])
                plans[t] = plan.plans[k]
        best = DayPlan(dict(sorted(routes.items())), dict(sorted(plans.items())))
    return DayPlan(best.routes, best.plans, time.process_time() - started)


def technician_groups(day: DayProblem, max_visits: int) -> list[list[int]]:
    """The day's technicians in groups of neighbours holding at most `max_visits` of the office's
    visits: halve the homes at the visit-weighted median across their wider spread, again and again
    (deterministic; a group's technicians swap visits, groups never do)."""
    load = np.bincount(day.office_technician.astype(int), minlength=len(day.technicians))
    north = day.homes[:, 0] * 111.2
    east = day.homes[:, 1] * 111.2 * np.cos(np.radians(day.homes[:, 0]))

    def split(techs: list[int]) -> list[list[int]]:
        if len(techs) <= 1 or load[techs].sum() <= max_visits:
            return [techs]
        axis = north if np.ptp(north[techs]) >= np.ptp(east[techs]) else east
        ordered = sorted(techs, key=lambda t: (axis[t], t))
        cumulative = np.cumsum(load[ordered])
        cut = int(np.clip(np.searchsorted(cumulative, cumulative[-1] / 2) + 1, 1, len(ordered) - 1))
        return split(ordered[:cut]) + split(ordered[cut:])

    return split(list(range(len(day.technicians))))


def _plan_group(day: DayProblem, reassign: bool) -> DayPlan:
    office = office_routes(day)
    candidates = [evaluate_day(day, office)]
    if day.size:
        soft = _solve_vrptw(day, reassign, hard_windows=False, start=office)
        candidates += [soft] if soft else []
        if soft is None or soft.windows_missed:
            hard = _solve_vrptw(day, reassign, hard_windows=True, start=None)
            candidates += [hard] if hard else []
    return min(candidates, key=lambda plan: plan.cost)


def _solve_vrptw(
    day: DayProblem, reassign: bool, hard_windows: bool, start: dict[int, list[int]] | None
) -> DayPlan | None:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    rules = day.rules
    techs, n = len(day.technicians), day.size
    km = day.road_km
    metres = np.rint(km * 1000).astype(int)
    travel = np.ceil(km / rules.speed_kmh * 60).astype(int)  # whole minutes, up: a plan never runs early
    service = np.concatenate([np.zeros(techs), day.duration]).astype(int)

    manager = pywrapcp.RoutingIndexManager(techs + n, techs, list(range(techs)), list(range(techs)))
    routing = pywrapcp.RoutingModel(manager)

    def distance(i: int, j: int) -> int:
        return int(metres[manager.IndexToNode(i), manager.IndexToNode(j)])

    def transit(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        return int(service[a] + travel[a, b])

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(distance))
    minutes_per_day = 24 * 60
    # Cumuls run to the next day's end: the office sometimes books a visit late in the evening.
    horizon = 2 * minutes_per_day
    routing.AddDimension(routing.RegisterTransitCallback(transit), minutes_per_day, horizon, False, "Time")
    clock = routing.GetDimensionOrDie("Time")
    late_cost = int(LATE_PENALTY_KM * 1000)  # arc costs are metres
    for v in range(n):
        index = manager.NodeToIndex(techs + v)
        if hard_windows:
            clock.CumulVar(index).SetRange(int(day.window_start[v]), int(day.window_end[v]))
        else:
            clock.CumulVar(index).SetRange(int(day.window_start[v]), horizon)
            clock.SetCumulVarSoftUpperBound(index, int(day.window_end[v]), late_cost)
        if not reassign:
            routing.VehicleVar(index).SetValue(int(day.office_technician[v]))
    solver = routing.solver()
    node_visit_transits = [int(service[manager.IndexToNode(i)]) for i in range(routing.Size())]
    for t in range(techs):
        clock.CumulVar(routing.Start(t)).SetRange(rules.day_start_min, rules.day_end_min)
        clock.SetCumulVarSoftUpperBound(routing.End(t), rules.day_end_min, int(OVERTIME_PENALTY_KM * 1000))
        routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(t)))
        routing.AddVariableMaximizedByFinalizer(clock.CumulVar(routing.Start(t)))
        lunch = solver.FixedDurationIntervalVar(
            rules.lunch_earliest_min, rules.lunch_latest_min, rules.lunch_minutes, False, f"lunch {t}"
        )
        clock.SetBreakIntervalsOfVehicle([lunch], t, node_visit_transits)

    # Greedy descent: it stops at a local optimum, the same plan whatever the machine's load. (Guided
    # local search after it, 1.2 s of wall time a day, saved 0.4 km of 4,581 over 51 days at scale 1,
    # measured, and made the plan depend on the load; with a solution limit instead, 6.8 CPU s a day.)
    descent = pywrapcp.DefaultRoutingSearchParameters()
    descent.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    descent.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
    descent.time_limit.FromSeconds(10)  # a safety net: a group's descent ends in about a second
    routing.CloseModelWithParameters(descent)
    initial = None
    if start is not None:
        initial = routing.ReadAssignmentFromRoutes([[techs + v for v in start[t]] for t in range(techs)], True)
    solution = (
        routing.SolveFromAssignmentWithParameters(initial, descent)
        if initial is not None
        else routing.SolveWithParameters(descent)
    )
    if solution is None:
        return None
    # The solver's own timeline (its drives rounded up to the minute, its lunch breaks): a schedule
    # at least as slow as the real one, scored with the same definitions as `evaluate`.
    breaks = solution.IntervalVarContainer()
    lunch_at = {}
    for i in range(breaks.Size()):
        element = breaks.Element(i)
        if element.PerformedValue():
            lunch_at[int(element.Var().Name().removeprefix("lunch "))] = float(element.StartValue())
    routes, plans = {}, {}
    for t in range(techs):
        index, nodes, arrivals = routing.Start(t), [], []
        while True:
            index = solution.Value(routing.NextVar(index))
            if routing.IsEnd(index):
                break
            nodes.append(manager.IndexToNode(index))
            arrivals.append(float(solution.Value(clock.CumulVar(index))))
        path = [t, *nodes, t]
        legs_km = np.array([km[a, b] for a, b in zip(path[:-1], path[1:], strict=True)])
        legs_min = legs_km / rules.speed_kmh * 60.0
        visits = [node - techs for node in nodes]
        arrival = np.array(arrivals)
        late = np.maximum(arrival - day.window_end[visits], 0.0) if visits else np.zeros(0)
        home_at = float(solution.Value(clock.CumulVar(routing.End(t))))
        lunch = lunch_at.get(t)
        routes[t] = visits
        plans[t] = RoutePlan(
            order=tuple(range(len(visits))),
            arrival=arrival,
            km_from_previous=legs_km[:-1],
            minutes_from_previous=legs_min[:-1],
            total_km=float(legs_km.sum()) if visits else 0.0,
            home_at=home_at if visits else float(rules.day_start_min),
            late_minutes=float(late.sum()),
            windows_missed=int((late > 1e-6).sum()),
            lunch_at=lunch,
            lunch_ok=lunch is not None and rules.lunch_earliest_min <= lunch <= rules.lunch_latest_min,
            overtime_minutes=float(max(0.0, home_at - rules.day_end_min)) if visits else 0.0,
        )
    return DayPlan(routes, plans)


PLANNERS: dict[str, Callable[[DayProblem], DayPlan]] = {
    "ortools": plan_ortools,
    "ortools_same_technician": lambda day: plan_ortools(day, reassign=False),
    "genetic": plan_genetic,
    "nearest_neighbour": plan_nearest_neighbour,
    "office": office_plan,
}


# --------------------------------------------------------------------------- frames
STOP_COLUMNS = (
    "work_date", "technician_id", "intervention_id", "latitude", "longitude",
    "window_start_min", "window_end_min", "duration_min", "office_rank",
)  # fmt: skip


def day_problems(
    stops: pd.DataFrame, technicians: pd.DataFrame, rules: RoutingRules | None = None
) -> dict[object, DayProblem]:
    """One problem per work_date: its visits and the technicians the office gave visits to.

    stops: STOP_COLUMNS (windows and durations in minutes after midnight, Paris time; office_rank
    the office's slot order); technicians: technician_id, home_latitude, home_longitude.
    """
    rules = rules or RoutingRules()
    if stops is None or len(stops) == 0:
        return {}
    missing = [c for c in STOP_COLUMNS if c not in stops.columns]
    if missing:
        raise ValueError(f"route planning: the visits lack column(s) {', '.join(missing)}")
    nulls = [c for c in STOP_COLUMNS if stops[c].isna().any()]
    if nulls:
        raise ValueError(f"route planning: null values in column(s) {', '.join(nulls)} of the visits")
    homes = technicians.dropna(subset=["home_latitude", "home_longitude"]).set_index("technician_id")
    unknown = sorted(set(stops["technician_id"]) - set(homes.index))
    if unknown:
        raise ValueError(f"route planning: no home base for technician(s) {', '.join(map(str, unknown))}")
    problems = {}
    for day, g in stops.groupby("work_date", sort=True):
        techs = tuple(sorted(g["technician_id"].unique()))
        position = {t: i for i, t in enumerate(techs)}
        problems[day] = DayProblem(
            technicians=techs,
            homes=homes.loc[list(techs), ["home_latitude", "home_longitude"]].to_numpy(dtype=float),
            ids=tuple(g["intervention_id"].astype(str)),
            latitude=g["latitude"].to_numpy(dtype=float),
            longitude=g["longitude"].to_numpy(dtype=float),
            window_start=g["window_start_min"].to_numpy(dtype=float),
            window_end=g["window_end_min"].to_numpy(dtype=float),
            duration=g["duration_min"].to_numpy(dtype=float),
            office_technician=g["technician_id"].map(position).to_numpy(),
            office_rank=g["office_rank"].to_numpy(dtype=float),
            rules=rules,
        )
    return problems


def plan_frame(work_date: object, day: DayProblem, plan: DayPlan) -> pd.DataFrame:
    """One row per visit, by technician and position."""
    rows = []
    for tech, visits in plan.routes.items():
        route = plan.plans[tech]
        for k, v in enumerate(visits):
            rows.append(
                {
                    "work_date": work_date,
                    "technician_id": day.technicians[tech],
                    "position": k + 1,
                    "intervention_id": day.ids[v],
                    "office_technician_id": day.technicians[int(day.office_technician[v])],
                    "planned_arrival_min": round(float(route.arrival[k]), 1),
                    "window_start_min": float(day.window_start[v]),
                    "window_end_min": float(day.window_end[v]),
                    "duration_min": float(day.duration[v]),
                    "km_from_previous": round(float(route.km_from_previous[k]), 2),
                    "minutes_from_previous": round(float(route.minutes_from_previous[k]), 1),
                    "km_to_home": round(float(route.total_km - route.km_from_previous.sum()), 2)
                    if k == len(visits) - 1
                    else 0.0,
                }
            )
    return pd.DataFrame(rows)


def plan_routes(
    stops: pd.DataFrame, technicians: pd.DataFrame, rules: RoutingRules | None = None, planner: str = "ortools"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plan every day: (visits in planned order, one summary row per day: km planned beside the
    office's, windows missed, lunches, overtime, solve time)."""
    if planner not in PLANNERS:
        raise ValueError(f"route planning: unknown planner {planner!r}, expected one of {sorted(PLANNERS)}")
    visits, summary = [], []
    for work_date, day in day_problems(stops, technicians, rules).items():
        plan = PLANNERS[planner](day)
        office = office_plan(day)
        frame = plan_frame(work_date, day, plan)
        visits.append(frame)
        summary.append(
            {
                "work_date": work_date,
                "technicians": len(day.technicians),
                "visits": day.size,
                "km": round(plan.total_km, 2),
                "office_km": round(office.total_km, 2),
                "windows_missed": plan.windows_missed,
                "office_windows_missed": office.windows_missed,
                "lunches_missed": plan.lunches_missed,
                "overtime_minutes": round(plan.overtime_minutes, 1),
                "visits_reassigned": int((frame["technician_id"] != frame["office_technician_id"]).sum()),
                "solve_seconds": round(plan.solve_seconds, 3),
            }
        )
    frame = pd.concat(visits, ignore_index=True) if visits else pd.DataFrame()
    return frame, pd.DataFrame(summary)


def savings(plan_km: float, office_km: float) -> float:
    """Share of the office plan's kilometres the plan saves."""
    return 0.0 if office_km <= 0 else 1 - plan_km / office_km
