"""The runbook's sections, as the anchors a `runbook_url` may point at."""

from __future__ import annotations

import re

from tests.support.pulumi_harness import REPO

RUNBOOKS = REPO / "docs" / "runbooks.md"
RUNBOOK_BASE_URL = "https://github.com/mlops-platform/mlops-platform/blob/main/docs/runbooks.md#"


def runbook_anchors() -> set[str]:
    headings = re.findall(r"^#+ (.+)$", RUNBOOKS.read_text(), re.M)
    return {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}


def runbook_section(anchor: str) -> str:
    """The text of the section `anchor`, up to the next heading."""
    return RUNBOOKS.read_text().lower().split(f"# {anchor.replace('-', ' ')}", 1)[-1].split("\n#", 1)[0]
