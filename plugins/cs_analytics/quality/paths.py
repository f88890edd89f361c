"""Where the quality gate keeps its files."""

from __future__ import annotations

from cs_analytics.config import PROJECT_ROOT

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SUITES_DIR = EXPECTATIONS_DIR / "suites"
# gx.get_context(mode="file", project_root_dir=EXPECTATIONS_DIR) keeps the context in expectations/gx/.
GX_PROJECT_ROOT = EXPECTATIONS_DIR
