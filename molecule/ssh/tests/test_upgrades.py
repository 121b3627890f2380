"""Upgrades over SSH: a new release is switched to without a failed request, a broken one never
replaces a working one, and a rerun of the good one is a no-op. (Every other way a deploy can
fail is tested under load in the safety scenario.) They run in this order on one host, after
the other tests of this folder (file names sort so)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from quote_testlib import PROJECT_DIR, deploy, http_get, molecule_hosts, recap, traffic

testinfra_hosts = molecule_hosts()

APP = PROJECT_DIR / "files" / "app"


def served(site_url: str) -> tuple[str, str]:
    """The label and the release id /healthz reports."""
    health = http_get(site_url + "/healthz").json()
    return health["version"], health["release"]


@pytest.fixture
def broken_app(tmp_path) -> Path:
    """A copy of the app whose import fails."""
    copy = shutil.copytree(APP, tmp_path / "app")
    with (copy / "app.py").open("a", encoding="utf-8") as source:
        source.write("\nraise RuntimeError('this release is broken')\n")
    return copy


def test_new_release_is_switched_to_without_a_failed_request(host, site_url):
    _, first = served(site_url)
    with traffic(site_url + "/healthz") as seen:
        result = deploy("--limit", host.backend.name, quote_app_version="v2")
    assert result.returncode == 0, result.stdout[-3000:]
    label, release = served(site_url)
    assert label == "v2" and release.startswith("v2-")
    assert set(seen) == {200}, seen
    assert host.file("/opt/quote-app/current").linked_to == f"/opt/quote-app/releases/{release}"
    assert host.file("/opt/quote-app/previous").linked_to == f"/opt/quote-app/releases/{first}"
    # Same interpreter and requirements: both releases share one virtualenv.
    assert host.file(f"/opt/quote-app/releases/{release}/venv").linked_to == host.file(
        f"/opt/quote-app/releases/{first}/venv").linked_to


def test_release_that_cannot_import_never_replaces_the_working_one(host, site_url, broken_app):
    before = served(site_url)
    with traffic(site_url + "/healthz") as seen:
        result = deploy("--limit", host.backend.name, quote_app_version="v3", quote_app_source_dir=str(broken_app))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "failed its candidate check" in output and "this release is broken" in output
    assert set(seen) == {200}, seen
    assert served(site_url) == before
    assert host.file("/opt/quote-app/current").linked_to == f"/opt/quote-app/releases/{before[1]}"


def test_rerun_of_the_good_release_changes_nothing(host, site_url):
    result = deploy("--limit", host.backend.name, quote_app_version="v2")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result.stdout)[host.backend.name]["changed"] == 0, result.stdout[-3000:]
    label, release = served(site_url)
    assert label == "v2"
    releases = host.file("/opt/quote-app/releases").listdir()
    assert release in releases and len(releases) <= 3
