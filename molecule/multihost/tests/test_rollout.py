"""Changing the fleet: an app host removed from the inventory leaves the balancer, a release
rolls through the app hosts one at a time under traffic (and brings the removed host back), a
release that fails stops the rollout at the first app host while the others keep serving, a
rerun changes nothing, and the app port changes host by host under traffic. They run in this
order, after test_balancer.py."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import APP_PORT, APPS, WEB
from quote_testlib import PROJECT_DIR, deploy, http_get, recap, traffic
from rolling import app_version, upstreams_seen

APP = PROJECT_DIR / "files" / "app"
SITE = "/etc/nginx/sites-available/quote-app.conf"


@pytest.fixture
def inventory_without_app2(tmp_path) -> str:
    inventory = yaml.safe_load(Path(os.environ["MOLECULE_INVENTORY_FILE"]).read_text(encoding="utf-8"))
    for group in ("quote_servers", "quote_app_hosts"):
        inventory[group]["hosts"].pop("quote-mh-app2")
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    return str(path)


@pytest.fixture
def crashing_app(tmp_path) -> Path:
    """A copy of the app that passes its candidate check but crashes once it is the live service."""
    copy = shutil.copytree(APP, tmp_path / "app")
    (copy / "wsgi.py").write_text(
        "import sys\n\nfrom app import app\n\n"
        "if 'gunicorn' in sys.modules and 'candidate' not in open('/proc/self/cgroup').read():\n"
        "    raise RuntimeError('crashes once served')\n",
        encoding="utf-8",
    )
    return copy


def test_app_host_removed_from_the_inventory_leaves_the_balancer(web, site_url, inventory_without_app2):
    result = deploy(inventory=inventory_without_app2, quote_app_version="1", quote_rollout_batch="100%")
    assert result.returncode == 0, result.stdout[-3000:]
    site = web.file(SITE).content_string
    assert f"server {APPS['quote-mh-app1']}:{APP_PORT} " in site
    assert APPS["quote-mh-app2"] not in site
    for _ in range(20):
        assert http_get(site_url + "/healthz").status == 200
    assert upstreams_seen(web, 20) == {f"{APPS['quote-mh-app1']}:{APP_PORT}": 20}


def test_release_rolls_through_the_app_hosts_one_at_a_time(web, site_url):
    with traffic(site_url + "/healthz") as seen:
        result = deploy(quote_app_version="v2")
    output = result.stdout
    assert result.returncode == 0, output[-3000:]
    assert set(seen) == {200}, seen
    # One batch per host (serial 1) in the web hosts' phase and the app hosts' phase, and each app
    # host left the balancer for its restart.
    assert output.count("PLAY [Serve the site with nginx on the web hosts]") == 1, output[-3000:]
    assert output.count("PLAY [Deploy the app on the app hosts, a batch at a time]") == 2, output[-3000:]
    for name, address in APPS.items():
        assert re.search(rf"changed: \[{name} -> {WEB}\] => \(item={re.escape(address)}:{APP_PORT} out\)", output)
        assert re.search(rf"changed: \[{name} -> {WEB}\] => \(item={re.escape(address)}:{APP_PORT} in\)", output)
        assert app_version(web, address) == "v2", name
    # The app host added back to the inventory is in the balancer again, and nobody is left "down".
    site = web.file(SITE).content_string
    assert APPS["quote-mh-app2"] in site and " down;" not in site
    for _ in range(30):
        assert http_get(site_url + "/healthz").json()["version"] == "v2"
    assert set(upstreams_seen(web, 30)) == {f"{address}:{APP_PORT}" for address in APPS.values()}


def test_failing_release_stops_the_rollout_at_the_first_app_host(web, apps, site_url, crashing_app):
    with traffic(site_url + "/healthz") as seen:
        result = deploy(quote_app_version="v3", quote_app_source_dir=str(crashing_app), quote_release_health_timeout=10)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert set(seen) == {200}, seen
    assert re.search(r"Rolled back to release v2-[0-9a-f]{12}, which serves again", output), output[-3000:]
    app1, app2 = (apps[name] for name in APPS)
    assert app1.file("/opt/quote-app/current").linked_to.startswith("/opt/quote-app/releases/v2-")
    # The rollout stopped before app2: it never even received the release.
    assert not [name for name in app2.file("/opt/quote-app/releases").listdir() if name.startswith("v3-")]
    assert app2.file("/opt/quote-app/current").linked_to.startswith("/opt/quote-app/releases/v2-")
    for address in APPS.values():
        assert app_version(web, address) == "v2"
    # app1 serves its previous release again, so it went back into rotation.
    assert " down;" not in web.file(SITE).content_string
    # The run stopped before its last phase, and gave back the lock of every host it had locked.
    for node in (web, app1, app2):
        assert node.run("systemctl is-active quote-deploy-lock.service").stdout.strip() != "active"


def test_rerun_of_the_good_release_changes_nothing(site_url):
    # All at once: with nothing to roll, batches would only make it slower.
    result = deploy(quote_app_version="v2", quote_rollout_batch="100%")
    assert result.returncode == 0, result.stdout[-3000:]
    counters = recap(result.stdout)
    assert set(counters) == {WEB, *APPS}
    assert all(host["changed"] == 0 for host in counters.values()), result.stdout[-3000:]
    assert http_get(site_url + "/healthz").json()["version"] == "v2"


def test_changing_the_app_port_rolls_through_the_app_hosts_without_a_failed_request(web, apps, site_url):
    """gunicorn_listen_port moves from 8000 to 8001. The web host keeps sending to 8000 while each
    app host, out of its rotation, moves to 8001 and rejoins under it; 8000 closes once the host moved."""
    new_port = APP_PORT + 1
    with traffic(site_url + "/healthz") as seen:
        result = deploy(quote_app_version="v2", gunicorn_listen_port=new_port)
    output = result.stdout
    assert result.returncode == 0, output[-3000:]
    assert set(seen) == {200}, seen
    site = web.file(SITE).content_string
    for name, address in APPS.items():
        old, new = f"{address}:{APP_PORT}", f"{address}:{new_port}"
        assert re.search(rf"changed: \[{name} -> {WEB}\] => \(item={re.escape(old)} out\)", output), name
        assert re.search(rf"changed: \[{name} -> {WEB}\] => \(item={re.escape(old)} in as {re.escape(new)}\)", output)
        assert f"server {new} max_fails=1 fail_timeout=10s;" in site and old not in site
        listening = apps[name].check_output("ss -Htln")
        assert new in listening and f":{APP_PORT} " not in listening, listening
        rules = apps[name].check_output("ufw status")
        assert f"{new_port}/tcp" in rules and f"{APP_PORT}/tcp" not in rules, rules
    assert " down;" not in site
    assert set(upstreams_seen(web, 30)) == {f"{address}:{new_port}" for address in APPS.values()}
    # The web host's site, renamed line by line, is what its template renders now.
    rerun = deploy(quote_app_version="v2", gunicorn_listen_port=new_port, quote_rollout_batch="100%")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert all(host["changed"] == 0 for host in recap(rerun.stdout).values()), rerun.stdout[-3000:]
