"""Your own Flask app, deployed from git and from an archive: a new commit deploys with no failed
request, a broken one is refused, and an archive deploys only with its SHA-256. In this order."""

from __future__ import annotations

import json
import re

from quote_testlib import deploy, http_get, molecule_hosts, recap, traffic

testinfra_hosts = molecule_hosts()

CURRENT = "/opt/quote-app/current"
WORK = "/srv/git/work"
INTERVAL, TIMEOUT = 0.15, 30


def commit(host, greeting: str, hello_py_suffix: str = "") -> str:
    """Commit a new greeting (and code) to the work tree, push it, return its commit id."""
    host.check_output(f"echo {greeting} > {WORK}/greeting.txt")
    if hello_py_suffix:
        host.check_output(f"printf '%s\\n' {hello_py_suffix!r} >> {WORK}/hello.py")
    git = f"git -C {WORK} -c user.name=test -c user.email=test@example.invalid"
    host.check_output(f"{git} commit --quiet -am {greeting} && {git} push --quiet origin main")
    return host.check_output(f"git -C {WORK} rev-parse HEAD")


def test_the_app_from_git_serves_with_its_own_entry_point_and_health_path(host, site_url):
    assert "Hello, first!" in http_get(site_url + "/").body
    # nginx_health_allow (molecule.yml): the health check answers the host itself, not the world.
    assert http_get(site_url + "/health").status == 403
    assert json.loads(host.check_output(
        "python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1/health\").read().decode())'"
    )) == {"ok": True}
    assert "location = /health {" in host.file("/etc/nginx/sites-available/quote-app.conf").content_string
    head = host.check_output("git --git-dir /srv/git/hello.git rev-parse main")
    assert host.file(f"{CURRENT}/COMMIT").content_string.strip() == head
    assert re.fullmatch(r"/opt/quote-app/releases/hello-[0-9a-f]{12}", host.file(CURRENT).linked_to)
    assert not host.file(f"{CURRENT}/.git").exists
    assert "hello:application" in host.file(f"{CURRENT}/gunicorn.env").content_string
    # The virtualenv holds the hello app's pins, not the quote app's.
    pins = host.check_output("git --git-dir /srv/git/hello.git show main:requirements.txt")
    venv = host.file(f"{CURRENT}/venv").linked_to
    assert host.file(f"{venv}/requirements.txt").content_string.strip() == pins.strip()
    assert "requests" not in host.check_output(f"{venv}/bin/pip freeze").lower()


def test_a_new_commit_deploys_without_a_failed_request(host, site_url):
    before = host.file(CURRENT).linked_to
    head = commit(host, "second")
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy()
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(seen) == {200}, seen
    assert "Hello, second!" in http_get(site_url + "/").body
    assert host.file(f"{CURRENT}/COMMIT").content_string.strip() == head
    assert host.file("/opt/quote-app/previous").linked_to == before


def test_a_broken_commit_is_refused_while_the_site_serves(host, site_url):
    before = host.file(CURRENT).linked_to
    commit(host, "third", "raise RuntimeError('this commit is broken')")
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "failed its candidate check" in output and "this commit is broken" in output, output[-3000:]
    assert set(seen) == {200}, seen
    assert "Hello, second!" in http_get(site_url + "/").body
    assert host.file(CURRENT).linked_to == before


def archive(host) -> tuple[str, str]:
    return "http://127.0.0.1:8099/hello-first.tar.gz", host.check_output(
        "sha256sum /srv/www/hello-first.tar.gz").split()[0]


def test_an_archive_that_is_not_the_one_named_is_refused(host, site_url):
    url, _ = archive(host)
    before = host.file(CURRENT).linked_to
    result = deploy(quote_app_source="archive", quote_app_archive_url=url, quote_app_archive_sha256="0" * 64)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'stopped at "Download the archive, checked against its SHA-256"' in output, output[-3000:]
    assert host.file(CURRENT).linked_to == before
    assert "Hello, second!" in http_get(site_url + "/").body


def test_an_archive_with_its_sha256_deploys_and_a_rerun_changes_nothing(host, site_url):
    url, sha256 = archive(host)
    source = {"quote_app_source": "archive", "quote_app_archive_url": url, "quote_app_archive_sha256": sha256}
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy(**source)
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(seen) == {200}, seen
    assert "Hello, first!" in http_get(site_url + "/").body
    assert not host.file(f"{CURRENT}/COMMIT").exists
    rerun = deploy(**source)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert recap(rerun.stdout)[host.backend.name]["changed"] == 0, rerun.stdout[-3000:]
