"""Where the quality gate keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

from cs_analytics.config import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUITES_DIR = EXPECTATIONS_DIR / "suites"
# gx.get_context(mode="file", project_root_dir=EXPECTATIONS_DIR) keeps the context in expectations/gx/.
GX_PROJECT_ROOT = EXPECTATIONS_DIR


def data_docs_dir() -> Path:
    """The Data Docs site (HTML): build/data_docs/ unless DQ_DATA_DOCS_DIR says otherwise."""
    return Path(os.environ.get("DQ_DATA_DOCS_DIR") or PROJECT_ROOT / "build" / "data_docs").resolve()
