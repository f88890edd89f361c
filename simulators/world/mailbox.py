"""The shared customer-service mailbox (Outlook): what arrives in its inbox and how agents handle it.

The CRM's e-mail tickets arrive here first (HubSpot creates the ticket when the message lands), with
the customers' follow-ups in the same conversation and the odd "thank you" after closure; beside
them, mail that never becomes a ticket: suppliers' invoices and delivery notices, newsletters and
spam that got past the filter. Agents mark a message handled by completing its follow-up flag and
setting a category ("Traité" when answered, "Sans suite" when nothing is owed, "Fournisseur" when
passed on to accounting); spam is moved to the junk folder, which removes it from the inbox.
Instants are UTC.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulators.world.clock import paris_to_utc, utc_to_paris
from simulators.world.config import WorldConfig
from simulators.world.rng import component_rng
from simulators.world.tickets import _business_hours, _wall_times

HOURS = 3600
TICKET_REQUEST, FOLLOW_UP, THANKS, SUPPLIER, NEWSLETTER, SPAM = (
    "ticket_request", "customer_follow_up", "thanks_reply", "supplier", "newsletter", "spam",
)  # fmt: skip
ANSWERED, NOTHING_OWED, TO_ACCOUNTING = "Traité", "Sans suite", "Fournisseur"
THANKS_RATE = 0.22  # of closed e-mail tickets, the customer writes back to say thank you
SUPPLIER_MAILS_PER_OPEN_DAY = 2.6
NEWSLETTERS_PER_DAY = 1.1
SPAM_PER_DAY = 0.9
SENDER_CASE_VARIANTS = 0.15  # of customers' mails whose address is typed with capitals

SUPPLIERS = (
    ("Rexel Lyon Gerland", "factures@rexel-lyon.fr"),
    ("Cedeo Vénissieux", "noreply@cedeo-pro.fr"),
    ("Frisquet Pro", "commandes@frisquet-pro.fr"),
    ("Saunier Duval Services", "sav-pro@saunierduval-services.fr"),
    ("Daikin Distribution", "logistique@daikin-distrib.fr"),
    ("Viessmann France", "facturation@viessmann-pro.fr"),
    ("Comptoir Thermique Rhône", "contact@ct-rhone.fr"),
)
SUPPLIER_SUBJECTS = (
    "Facture n°{n}", "Confirmation de commande {n}", "Avis d'expédition - commande {n}",
    "Relevé de compte - {n}", "Disponibilité pièces commande {n}",
)  # fmt: skip
NEWSLETTERS = (
    ("Batiactu", "newsletter@batiactu-info.fr", "L'actualité du bâtiment cette semaine"),
    ("Qualit'EnR", "infos@qualitenr-news.fr", "Nouvelles règles de qualification RGE"),
    ("Le Moniteur", "lettre@lemoniteur-news.fr", "La lettre des professionnels du génie climatique"),
    ("France Rénov'", "info@france-renov-actu.fr", "MaPrimeRénov' : ce qui change"),
)
SPAM_SENDERS = (
    ("Service Colis", "suivi@colis-livraison-fr.top", "Votre colis est en attente de livraison"),
    ("Energie Promo", "offres@energie-moins-chere.biz", "Réduisez votre facture de 60 % !"),
    ("Support Compte", "securite@compte-verif.info", "Action requise : vérifiez votre compte"),
    ("SEO Expert", "contact@seo-top-ranking.net", "Première page Google en 7 jours"),
)
THANKS_PREVIEW = "Merci beaucoup pour votre réactivité, bonne journée."
FOLLOW_UP_PREVIEW = "Bonjour, je reviens vers vous au sujet de ma demande : pouvez-vous me confirmer ?"


@dataclass
class Mailbox:
    # One row per message delivered to the inbox: message (row number), kind, received_utc,
    # from_name, from_address, subject, preview, conversation, customer (-1: none), ticket_row
    # (-1: none), handled_utc (NaT: not handled), category, removed_utc (NaT: still in the inbox).
    messages: pd.DataFrame


def graph_id(prefix: str, key: str) -> str:
    """An opaque Exchange-style id (`AAMkAD...`), stable for the same key."""
    digest = hashlib.sha256(key.encode()).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def build_mailbox(
    config: WorldConfig, calendar: pd.DataFrame, customers: pd.DataFrame, tickets: pd.DataFrame
) -> Mailbox:
    """Messages delivered from the first exported day to the horizon (the exporter cuts at the snapshot)."""
    rng = component_rng(config.seed, "mailbox")
    business = _business_hours(calendar)
    first_day = np.datetime64(config.start_date, "D")

    def business_later(utc: np.ndarray, mean_hours: float) -> np.ndarray:
        delay = (rng.gamma(2.0, mean_hours / 2.0, len(utc)) * HOURS).astype("int64") + 120
        return paris_to_utc(business.add(utc_to_paris(utc), delay))

    email = tickets[(tickets["source_type"].to_numpy() == "EMAIL") & (tickets["created_utc"].to_numpy() >= paris_to_utc(
        np.array([first_day.astype("datetime64[s]")]))[0])]  # fmt: skip
    parts: list[pd.DataFrame] = []

    # The request that became the ticket: the ticket's first agent reply handles it.
    parts.append(
        pd.DataFrame(
            {
                "kind": TICKET_REQUEST,
                "received_utc": email["created_utc"].to_numpy(),
                "customer": email["customer"].to_numpy(),
                "ticket_row": email["row"].to_numpy(),
                "subject": email["subject"].to_numpy(),
                "preview": email["content"].to_numpy(),
                "handled_utc": email["first_reply_utc"].to_numpy(),
                "category": ANSWERED,
            }
        )
    )
    # Follow-ups: between the first and the last agent reply, the customer wrote back once per
    # further round; each is handled by the agent's next reply.
    rounds = (email["reply_count"].to_numpy() - 1).clip(0)
    owner = np.repeat(np.arange(len(email)), rounds)
    if len(owner):
        start = email["first_reply_utc"].to_numpy()[owner]
        span = (email["last_reply_utc"].to_numpy()[owner] - start).astype("int64")
        rank = np.arange(len(owner)) - np.repeat(np.cumsum(rounds) - rounds, rounds)
        k = rounds[owner]
        # 2k equal slots: the customer writes in slot 2i, the agent answers at the end of slot 2i+1.
        written = start + ((2 * rank + rng.uniform(0.2, 0.9, len(owner))) * span / (2 * k)).astype("int64").astype(
            "timedelta64[s]"
        )
        answered = start + ((2 * rank + 2) * span / (2 * k)).astype("int64").astype("timedelta64[s]")
        parts.append(
            pd.DataFrame(
                {
                    "kind": FOLLOW_UP,
                    "received_utc": written,
                    "customer": email["customer"].to_numpy()[owner],
                    "ticket_row": email["row"].to_numpy()[owner],
                    "subject": "RE: " + email["subject"].to_numpy()[owner].astype(object),
                    "preview": FOLLOW_UP_PREVIEW,
                    "handled_utc": answered,
                    "category": ANSWERED,
                }
            )
        )
    # A thank-you after closure: nothing is owed, an agent files it.
    thanked = email[rng.random(len(email)) < THANKS_RATE]
    thanks_at = thanked["closed_utc"].to_numpy() + rng.exponential(3 * HOURS, len(thanked)).astype("timedelta64[s]")
    parts.append(
        pd.DataFrame(
            {
                "kind": THANKS,
                "received_utc": thanks_at,
                "customer": thanked["customer"].to_numpy(),
                "ticket_row": thanked["row"].to_numpy(),
                "subject": "RE: " + thanked["subject"].to_numpy().astype(object),
                "preview": THANKS_PREVIEW,
                "handled_utc": business_later(thanks_at, 1.5),
                "category": NOTHING_OWED,
            }
        )
    )

    days = calendar[calendar["date"] >= config.start_date]
    dates = np.array(days["date"], dtype="datetime64[D]")
    is_open = days["is_open"].to_numpy()
    weekday = days["weekday"].to_numpy()
    scale = config.scale
    supplier_day = np.repeat(dates, rng.poisson(np.where(is_open, SUPPLIER_MAILS_PER_OPEN_DAY * scale, 0.1)))
    newsletter_day = np.repeat(dates, rng.poisson(np.where(weekday < 5, NEWSLETTERS_PER_DAY, 0.3)))
    spam_day = np.repeat(dates, rng.poisson(SPAM_PER_DAY * np.sqrt(scale), len(dates)))
    for kind, day, mean_hours, category in (
        (SUPPLIER, supplier_day, 3.0, TO_ACCOUNTING),
        (NEWSLETTER, newsletter_day, 5.0, NOTHING_OWED),
    ):
        received = paris_to_utc(_wall_times(rng, day))
        if kind == SUPPLIER:
            sender = rng.integers(0, len(SUPPLIERS), len(day))
            number = rng.integers(10_000, 99_999, len(day))
            template = rng.integers(0, len(SUPPLIER_SUBJECTS), len(day))
            subject = [SUPPLIER_SUBJECTS[t].format(n=n) for t, n in zip(template, number, strict=True)]
            names, addresses = zip(*SUPPLIERS, strict=True)
            preview = "Veuillez trouver ci-joint le document relatif à votre compte professionnel."
        else:
            sender = rng.integers(0, len(NEWSLETTERS), len(day))
            names, addresses, subjects = zip(*NEWSLETTERS, strict=True)
            subject = np.array(subjects, dtype=object)[sender]
            preview = "Si ce message ne s'affiche pas correctement, consultez la version en ligne."
        parts.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "received_utc": received,
                    "customer": -1,
                    "ticket_row": -1,
                    "from_name": np.array(names, dtype=object)[sender],
                    "from_address": np.array(addresses, dtype=object)[sender],
                    "subject": subject,
                    "preview": preview,
                    "handled_utc": business_later(received, mean_hours),
                    "category": category,
                }
            )
        )
    # Spam that got past the filter is moved to the junk folder within a few business hours.
    received = paris_to_utc(
        spam_day.astype("datetime64[s]") + rng.integers(0, 24 * HOURS, len(spam_day)).astype("timedelta64[s]")
    )
    sender = rng.integers(0, len(SPAM_SENDERS), len(spam_day))
    names, addresses, subjects = zip(*SPAM_SENDERS, strict=True)
    parts.append(
        pd.DataFrame(
            {
                "kind": SPAM,
                "received_utc": received,
                "customer": -1,
                "ticket_row": -1,
                "from_name": np.array(names, dtype=object)[sender],
                "from_address": np.array(addresses, dtype=object)[sender],
                "subject": np.array(subjects, dtype=object)[sender],
                "preview": "Cliquez ici pour en savoir plus.",
                "handled_utc": np.datetime64("NaT"),
                "category": "",
                "removed_utc": business_later(received, 2.0),
            }
        )
    )

    messages = pd.concat(parts, ignore_index=True)
    messages["received_utc"] = messages["received_utc"].astype("datetime64[s]")
    messages["handled_utc"] = messages["handled_utc"].astype("datetime64[s]")
    messages["removed_utc"] = messages.get("removed_utc", pd.Series(dtype="datetime64[s]")).astype("datetime64[s]")
    # A handler never acts before the message is there.
    messages["handled_utc"] = messages["handled_utc"].where(
        messages["handled_utc"].isna() | (messages["handled_utc"] > messages["received_utc"]),
        messages["received_utc"] + pd.Timedelta(seconds=60),
    )
    messages = _with_customer_senders(rng, messages, customers)
    messages = messages.sort_values(["received_utc", "kind", "ticket_row", "subject"], kind="stable").reset_index(
        drop=True
    )
    messages["message"] = np.arange(len(messages))
    conversation_key = np.where(
        messages["ticket_row"] >= 0,
        "ticket:" + messages["ticket_row"].astype(str),
        "message:" + messages["message"].astype(str),
    )
    messages["conversation"] = conversation_key
    return Mailbox(messages=messages)


def _with_customer_senders(rng: np.random.Generator, messages: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Customers write from their own address (sometimes typed with capitals) under their name."""
    own = messages["customer"].to_numpy() >= 0
    who = customers.iloc[messages["customer"].to_numpy()[own]]
    address = who["email"].to_numpy().astype(object)
    capitals = rng.random(len(address)) < SENDER_CASE_VARIANTS
    address = np.where(
        capitals,
        [a.split("@")[0].title() + "@" + a.split("@")[1].capitalize() for a in address],
        address,
    )
    name = np.where(who["company"].notna(), who["company"], who["first_name"] + " " + who["last_name"])
    from_name = messages.get("from_name", pd.Series(index=messages.index, dtype=object)).astype(object).copy()
    from_address = messages.get("from_address", pd.Series(index=messages.index, dtype=object)).astype(object).copy()
    from_name[own] = name
    from_address[own] = address
    return messages.assign(from_name=from_name, from_address=from_address)
