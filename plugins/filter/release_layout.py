"""Filter ``release_layout``: where a release-based app lives under its root directory.

``quote_app_root | release_layout`` returns the paths, spelled here and nowhere else::

    root      the directory itself
    releases  one directory per release, releases/<id>
    venvs     the virtualenvs releases link to, shared by releases with the same requirements
    sources   the cache of git and archive sources that releases are copied from
    current   link to the release that serves
    previous  link to the release that served before it, which a rollback returns to

The quote_release role owns the layout: it creates the directories (its ``layout`` entry point),
switches the links and removes old releases and unused virtualenvs. The quote_app role only
fills one release, its virtualenv and the source cache.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

PARTS = ("releases", "venvs", "sources", "current", "previous")


def release_layout(root: Any) -> dict[str, str]:
    root = str(root).rstrip("/")
    if not root.startswith("/"):
        raise AnsibleFilterError(f"release_layout needs an absolute directory other than /, got {root or '/'!r}")
    # Not normalised: a root with '..' stays visible to the roles' input checks.
    return {"root": root, **{part: f"{root}/{part}" for part in PARTS}}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"release_layout": release_layout}
