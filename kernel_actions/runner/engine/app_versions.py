"""What an app version looks like from outside: the hosted API's app summary.

``GET /apps`` lists one per served app version and a deployment announces one
(``app_version_summary``) when its version starts serving; both come from here
so the two never disagree on an id, a field or the region.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["REGION", "app_version_id", "app_version_summary"]

#: The region every local app version and deployment reports (the hosted API's default).
REGION = "aws.us-east-1a"


def app_version_id(app_name: str, version: str) -> str:
    """A stable id for an app version: the same name and version always give the same id."""
    return hashlib.sha1(f"{app_name}\0{version}".encode()).hexdigest()[:24]


def app_version_summary(app: dict[str, Any], version: str) -> dict[str, Any]:
    """The summary of one app (an entry of a loaded manifest's ``apps``) at ``version``."""
    return {
        "id": app_version_id(app["name"], version),
        "app_name": app["name"],
        "version": version,
        "region": REGION,
        # Names (never values) the app declares it needs: App(..., env=[...]).
        "declared_env": app.get("env", []),
        "actions": [
            {"name": a["name"], "input_schema": a["input_schema"],
             "output_schema": a["output_schema"], "description": a["description"]}
            for a in app["actions"]
        ],
    }
