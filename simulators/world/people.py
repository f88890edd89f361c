"""Who lives in the world: customers, CRM leads, agents, technicians and unknown callers.

Each customer also carries how every system spells it: phone formats, e-mail case, a typo in
one system for a few, and whether the CRM knows its ERP code. That is the identity mess the
pipeline has to resolve; `identity_map.csv` records the truth.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

from simulators.world import catalog, names
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng

INITIAL_CUSTOMERS = 265
ARRIVALS_PER_MONTH = 3.6
LEAD_SHARE = 0.12
PRO_SHARE = 0.25
CRM_HAS_ERP_CODE = 0.60
EMAIL_TYPO_RATE = 0.03
FIRST_CRM_CONTACT_ID = 51


def ascii_fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _slug(text: str) -> str:
    folded = ascii_fold(text).lower()
    return "".join(c if c.isalnum() else "-" for c in folded).strip("-").replace("--", "-")


# --------------------------------------------------------------------------- phone numbers
def format_phone(national_digits: pd.Series, style: pd.Series) -> pd.Series:
    """Write a 9-digit national number the way a given system's users type it."""
    zero = "0" + national_digits
    pairs = zero.str.replace(r"(\d{2})(?=\d)", r"\1 ", regex=True)
    formats = {
        "spaced": pairs,
        "dotted": pairs.str.replace(" ", "."),
        "compact": zero,
        "e164": "+33" + national_digits,
        "e164_spaced": "+33 " + national_digits.str[0] + " " + pairs.str[3:],
        "international_00": "0033" + national_digits,
    }
    out = pd.Series(pd.NA, index=national_digits.index, dtype=object)
    for name, text in formats.items():
        out = out.mask(style == name, text)
    return out.where(national_digits.notna(), None)


def _styles(rng: np.random.Generator, n: int, choices: dict[str, float]) -> pd.Series:
    return pd.Series(rng.choice(list(choices), size=n, p=list(choices.values())))


# System conventions: the CRM is typed by agents, Sage by accounting, the app by technicians.
CRM_PHONE_STYLES = {"spaced": 0.7, "e164_spaced": 0.2, "compact": 0.1}
ERP_PHONE_STYLES = {"dotted": 0.6, "compact": 0.25, "spaced": 0.15}
APP_PHONE_STYLES = {"e164": 0.5, "international_00": 0.5}


def _unique_numbers(rng: np.random.Generator, count: int) -> np.ndarray:
    """Distinct 8-digit suffixes, so no two people share a number whatever their prefix."""
    return rng.choice(100_000_000, size=count, replace=False)


def _emails_with_case(rng: np.random.Generator, emails: pd.Series) -> pd.Series:
    """Sage users type e-mails as they come: upper case, capitalised or lower case."""
    style = rng.choice(3, size=len(emails), p=[0.4, 0.3, 0.3])
    upper = emails.str.upper()
    capitalised = emails.str.split("@").map(lambda parts: parts[0].title() + "@" + parts[1].capitalize())
    return upper.where(style == 0, capitalised.where(style == 1, emails))


def _typo(rng: np.random.Generator, email: str) -> str:
    local, domain = email.split("@")
    kind = rng.integers(0, 3)
    if kind == 0 and len(local) > 3:  # swapped letters
        i = int(rng.integers(0, len(local) - 1))
        local = local[:i] + local[i + 1] + local[i] + local[i + 2 :]
    elif kind == 1 and len(local) > 3:  # dropped letter
        i = int(rng.integers(1, len(local)))
        local = local[:i] + local[i + 1 :]
    else:  # misspelt provider
        domain = {"gmail.com": "gmial.com", "orange.fr": "ornage.fr", "hotmail.fr": "hotmial.fr"}.get(
            domain, domain.replace(".", "..", 1)
        )
    return f"{local}@{domain}"


# --------------------------------------------------------------------------- customers
def _person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.choice(names.FIRST_NAMES, size=n), rng.choice(names.LAST_NAMES, size=n)


def _addresses(rng: np.random.Generator, n: int) -> pd.DataFrame:
    weights = np.array([c[4] for c in names.COMMUNES], dtype=float)
    commune = rng.choice(len(names.COMMUNES), size=n, p=weights / weights.sum())
    table = pd.DataFrame(names.COMMUNES, columns=["city", "postal_code", "lat", "lon", "weight"])
    picked = table.iloc[commune].reset_index(drop=True)
    return pd.DataFrame(
        {
            "street": [
                f"{k} {s}" for k, s in zip(rng.integers(1, 160, n), rng.choice(names.STREETS, size=n), strict=True)
            ],
            "postal_code": picked["postal_code"],
            "city": picked["city"],
            "latitude": np.round(picked["lat"].to_numpy() + rng.normal(0, 0.007, n), 5),
            "longitude": np.round(picked["lon"].to_numpy() + rng.normal(0, 0.010, n), 5),
        }
    )


def _canonical_emails(first: np.ndarray, last: np.ndarray, company: pd.Series, providers: np.ndarray) -> pd.Series:
    person = pd.Series([f"{_slug(f)}.{_slug(la)}" for f, la in zip(first, last, strict=True)])
    local = person.where(company.isna(), "contact")
    domain = pd.Series(providers).where(company.isna(), company.map(lambda c: f"{_slug(c)}.fr" if c else None))
    email = local + "@" + domain
    # Homonyms get a running number, as mail providers force them to.
    rank = email.groupby(email).cumcount()
    return email.where(rank == 0, local + (rank + 1).astype(str) + "@" + domain)


def build_customers(config: WorldConfig, calendar: pd.DataFrame) -> pd.DataFrame:
    """Every customer who exists at some point between the warm-up start and the horizon."""
    rng = component_rng(config.seed, "customers")
    n_days = len(calendar)
    end_index = int((pd.Timestamp(config.end_date) - pd.Timestamp(config.warmup_start)).days)
    history_days = (config.end_date - config.start_date).days

    initial = round(INITIAL_CUSTOMERS * config.scale)
    arrival_count = rng.poisson(ARRIVALS_PER_MONTH * config.scale * (n_days - 1) / 30.44)
    arrival_day = np.concatenate([np.zeros(initial, int), np.sort(rng.integers(1, n_days, arrival_count))])
    n = len(arrival_day)
    tenure = 30 + rng.exponential(6 * 365, n)
    tenure = np.where(tenure > 25 * 365, rng.uniform(10 * 365, 25 * 365, n), tenure)  # no pile-up at the cap
    tenure_before = np.where(arrival_day == 0, tenure, 0).astype(int)
    signup = pd.Timestamp(config.warmup_start) + pd.to_timedelta(arrival_day - tenure_before, unit="D")
    order = np.lexsort((np.arange(n), signup.to_numpy()))  # ids follow signup order
    arrival_day, signup = arrival_day[order], signup[order]

    profile = rng.choice(catalog.PROFILES, size=n, p=catalog.PROFILE_SHARES)
    recency = np.select(
        [profile == catalog.AT_RISK, profile == catalog.LOST],
        [
            rng.uniform(max(90, 0.2 * history_days), max(120, 0.45 * history_days), n),
            rng.uniform(0.65 * history_days, 0.95 * history_days, n),
        ],
        default=np.nan,
    )
    dormancy_day = end_index - recency
    too_recent = np.isfinite(dormancy_day) & (arrival_day >= dormancy_day - 60)
    profile = np.where(too_recent, catalog.POTENTIAL, profile)
    dormancy_day = np.where(too_recent | np.isnan(dormancy_day), n_days + 1, dormancy_day).astype(int)

    is_pro = rng.random(n) < PRO_SHARE
    vip_probability = pd.Series(profile).map(catalog.PROFILE_VIP_PROBABILITY).to_numpy() * np.where(is_pro, 1.6, 1.0)
    first, last = _person_names(rng, n)
    company = pd.Series(
        [
            f"{k} {la}" if pro else None
            for k, la, pro in zip(rng.choice(names.COMPANY_KINDS, n), last, is_pro, strict=True)
        ],
        dtype=object,
    )
    providers = rng.choice(names.EMAIL_PROVIDERS, size=n, p=names.EMAIL_PROVIDER_WEIGHTS)
    email = _canonical_emails(first, last, company, providers)
    suffixes = _unique_numbers(rng, 2 * n)
    mobile = pd.Series(
        [f"{p}{s:08d}" for p, s in zip(rng.choice(["6", "7"], n, p=[0.8, 0.2]), suffixes[:n], strict=True)]
    )
    has_landline = is_pro | (rng.random(n) < 0.35)
    landline_prefix = rng.choice(["478", "472", "437", "426"], n)
    landline = pd.Series(
        [
            f"{p}{s % 1_000_000:06d}" if has else None
            for p, s, has in zip(landline_prefix, suffixes[n:], has_landline, strict=True)
        ],
        dtype=object,
    )
    customers = pd.DataFrame(
        {
            "customer_id": [f"C{i + 1:05d}" for i in range(n)],
            "erp_code": [f"CL{i + 1:06d}" for i in range(n)],
            "arrival_day": arrival_day,
            "signup_date": signup.date,
            "customer_type": np.where(is_pro, "professionnel", "particulier"),
            "profile": profile,
            "dormancy_day": dormancy_day,
            "vip": rng.random(n) < vip_probability,
            "first_name": first,
            "last_name": last,
            "company": company,
            "email": email,
            "mobile": mobile,
            "landline": landline,
        }
    )
    customers = pd.concat([customers, _addresses(rng, n)], axis=1)
    return _add_identity_mess(rng, customers)


def _add_identity_mess(rng: np.random.Generator, customers: pd.DataFrame) -> pd.DataFrame:
    n = len(customers)
    primary = customers["landline"].where(customers["customer_type"] == "professionnel", customers["mobile"])
    primary = primary.fillna(customers["mobile"])
    out = customers.assign(
        crm_phone=format_phone(customers["landline"].fillna(customers["mobile"]), _styles(rng, n, CRM_PHONE_STYLES)),
        crm_mobile=format_phone(customers["mobile"], _styles(rng, n, CRM_PHONE_STYLES)),
        erp_phone=format_phone(primary, _styles(rng, n, ERP_PHONE_STYLES)),
        app_phone=format_phone(customers["mobile"], _styles(rng, n, APP_PHONE_STYLES)),
        crm_has_erp_code=rng.random(n) < CRM_HAS_ERP_CODE,
    )
    crm_email = out["email"].copy()
    erp_email = _emails_with_case(rng, out["email"])
    typo = rng.random(n) < EMAIL_TYPO_RATE
    typo_in_crm = rng.random(n) < 0.5
    for i in np.flatnonzero(typo):
        if typo_in_crm[i]:
            crm_email.iat[i] = _typo(rng, crm_email.iat[i])
        else:
            erp_email.iat[i] = _typo(rng, out["email"].iat[i]).upper()
    return out.assign(
        crm_email=crm_email, erp_email=erp_email, email_typo=np.where(typo, np.where(typo_in_crm, "crm", "erp"), "")
    )


# --------------------------------------------------------------------------- others
def build_leads(config: WorldConfig, customers: pd.DataFrame) -> pd.DataFrame:
    """Prospects the CRM holds as `lead` contacts: no ERP code, no activity."""
    rng = component_rng(config.seed, "leads")
    n = round(LEAD_SHARE * INITIAL_CUSTOMERS * config.scale * (1 + config.years / 2))
    first, last = _person_names(rng, n)
    span = (pd.Timestamp(config.end_date) - pd.Timestamp(config.start_date)).days
    created = pd.Timestamp(config.start_date) + pd.to_timedelta(np.sort(rng.integers(-400, span + 1, n)), unit="D")
    providers = rng.choice(names.EMAIL_PROVIDERS, size=n, p=names.EMAIL_PROVIDER_WEIGHTS)
    email = _canonical_emails(first, last, pd.Series([None] * n, dtype=object), providers)
    taken = set(customers["email"])
    email = email.where(~email.isin(taken), "lead." + email)
    known = set(customers["mobile"])
    mobile = pd.Series([f"6{s:08d}" for s in rng.choice(100_000_000, size=2 * n, replace=False)])
    mobile = mobile[~mobile.isin(known)].head(n).reset_index(drop=True)
    return pd.DataFrame(
        {
            "lead_id": [f"L{i + 1:05d}" for i in range(n)],
            "created_date": created.date,
            "first_name": first,
            "last_name": last,
            "email": email,
            "crm_phone": format_phone(mobile, _styles(rng, n, CRM_PHONE_STYLES)),
            "mobile": mobile,
            "city": rng.choice([c[0] for c in names.COMMUNES], n),
        }
    )


def _generated_names(pool: tuple[tuple[str, str], ...], count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """The named staff first, then made-up colleagues when a large scale needs more people."""
    people = list(pool[:count])
    while len(people) < count:
        candidate = (str(rng.choice(names.FIRST_NAMES)), str(rng.choice(names.LAST_NAMES)))
        if candidate not in people:
            people.append(candidate)
    return people


def build_agents(config: WorldConfig) -> pd.DataFrame:
    rng = component_rng(config.seed, "agents")
    count = max(2, round(3 * config.scale))
    people = _generated_names(names.AGENTS, count, rng)
    # Claire (service manager) takes the largest share; the others split the rest.
    weight = np.array([1.6] + [1.0] * (count - 1))
    return pd.DataFrame(
        {
            "agent_id": [str(201 + i) for i in range(count)],
            "owner_id": [str(74_301_000 + 137 * i) for i in range(count)],
            "user_id": [9_100_000 + i for i in range(count)],
            "first_name": [p[0] for p in people],
            "last_name": [p[1] for p in people],
            "email": [f"{_slug(p[0])}.{_slug(p[1])}@{catalog.EMAIL_DOMAIN}" for p in people],
            "weight": weight / weight.sum(),
        }
    )


def build_technicians(config: WorldConfig) -> pd.DataFrame:
    rng = component_rng(config.seed, "technicians")
    count = max(3, round(4 * config.scale))
    people = _generated_names(names.TECHNICIANS, count, rng)
    bases = rng.choice(len(names.COMMUNES), size=count)
    skills = [
        sorted(rng.choice(names.TECHNICIAN_SKILLS, size=int(rng.integers(2, 5)), replace=False)) for _ in range(count)
    ]
    mobile = rng.choice(100_000_000, size=count, replace=False)
    return pd.DataFrame(
        {
            "technician_id": [f"TECH-{i + 1:02d}" for i in range(count)],
            "first_name": [p[0] for p in people],
            "last_name": [p[1] for p in people],
            "email": [f"{_slug(p[0])}.{_slug(p[1])}@{catalog.EMAIL_DOMAIN}" for p in people],
            "phone": [f"+336{m:08d}" for m in mobile],
            "extension": [str(301 + i) for i in range(count)],
            "city": [names.COMMUNES[b][0] for b in bases],
            "latitude": [names.COMMUNES[b][2] for b in bases],
            "longitude": [names.COMMUNES[b][3] for b in bases],
            "skills": skills,
        }
    )


def build_unknown_numbers(config: WorldConfig, customers: pd.DataFrame, leads: pd.DataFrame) -> pd.DataFrame:
    """Prospects and wrong numbers: E.164 numbers no system knows, some calling repeatedly."""
    rng = component_rng(config.seed, "unknown_numbers")
    n = max(30, round(160 * config.scale * config.years))
    known = set(customers["mobile"]) | set(customers["landline"].dropna()) | set(leads["mobile"])
    prefixes = rng.choice(["6", "7", "478", "472", "9"], size=3 * n, p=[0.45, 0.15, 0.2, 0.1, 0.1])
    candidates = [
        p + f"{s:08d}"[: 9 - len(p)]
        for p, s in zip(prefixes, rng.choice(100_000_000, 3 * n, replace=False), strict=True)
    ]
    fresh = [c for c in dict.fromkeys(candidates) if c not in known][:n]
    return pd.DataFrame(
        {
            "phone_e164": ["+33" + c for c in fresh],
            "kind": rng.choice(["prospect", "wrong_number", "supplier"], size=n, p=[0.6, 0.3, 0.1]),
            # Zipf-like weights: a few numbers call many times, most once.
            "weight": 1.0 / np.arange(1, n + 1) ** 0.8,
        }
    )
