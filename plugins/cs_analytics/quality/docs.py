"""Data Docs: where the site goes, this run's pages built once, old runs pruned, and the
URLs the alerts link to."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cs_analytics.quality.specs import SuiteSpec

log = logging.getLogger(__name__)

DOCS_SITE = "local_site"


def ensure_docs_site(context, docs_dir: Path) -> None:
    """Point the Data Docs site at docs_dir (stored relative to the context root, so the
    context holds no absolute path)."""
    root = Path(context.root_directory)
    rel = os.path.relpath(docs_dir, root) + "/"
    site = (context.config.data_docs_sites or {}).get(DOCS_SITE) or {}
    if (site.get("store_backend") or {}).get("base_directory") == rel:
        return
    config = {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": rel},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    if site:
        context.update_data_docs_site(DOCS_SITE, config)
    else:
        context.add_data_docs_site(DOCS_SITE, config)


def build_docs(context, run, specs: list[SuiteSpec], keep_runs: int) -> None:
    """Prune old validation results, then render this run's pages and the index, once."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    store = context.validation_results_store
    keys = list(store.list_keys())
    runs = sorted({(k.run_id.run_time, k.run_id.run_name) for k in keys}, reverse=True)
    keep = set(runs[:keep_runs])
    for k in keys:
        if (k.run_id.run_time, k.run_id.run_name) in keep:
            continue
        try:
            for site in context.get_docs_sites_urls(resource_identifier=k, site_name=DOCS_SITE):
                url = site.get("site_url") or ""
                if url.startswith("file://"):
                    Path(os.path.normpath(url[len("file://") :])).unlink(missing_ok=True)
        except Exception:
            pass
        store.remove_key(k)
    ids = list(run.run_results.keys()) + [ExpectationSuiteIdentifier(name=s.name) for s in specs]
    context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=ids)


def normalise_file_url(url: str) -> str:
    """file:///repo/build/great_expectations/gx/../../data_docs/x.html -> file:///repo/build/data_docs/x.html"""
    if url.startswith("file://"):
        return "file://" + os.path.normpath(url[len("file://") :])
    return url


def site_index_url(context) -> str | None:
    sites = context.get_docs_sites_urls(site_name=DOCS_SITE)
    return normalise_file_url(sites[0]["site_url"]) if sites else None


def suite_page_urls(context, run) -> dict[str, str]:
    """This run's validation page of each suite, by suite name."""
    docs: dict[str, str] = {}
    for key, vres in run.run_results.items():
        try:
            urls = context.get_docs_sites_urls(resource_identifier=key, site_name=DOCS_SITE)
            if urls and urls[0].get("site_url"):
                docs[vres.suite_name] = normalise_file_url(urls[0]["site_url"])
        except Exception:  # docs are a convenience: never fail the gate on them
            log.exception("no Data Docs URL for %s", vres.suite_name)
    return docs
