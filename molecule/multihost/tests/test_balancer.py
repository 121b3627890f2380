"""One web host balancing over two app hosts: who runs what, the spread of requests, the app
port's firewall, and an app host whose app stops while requests keep coming.

The tests run in file order: test_rollout.py changes releases afterwards."""

from __future__ import annotations

import re
import time

from conftest import APP_PORT, APPS, WEB_ADDRESS
from quote_testlib import SITE_ACCESS_LOG, deploy, flush_access_logs, http_get, traffic
from rolling import fetch_from, get_from, upstreams_seen


def test_each_host_runs_only_its_part(web, apps):
    assert web.service("nginx").is_running
    assert not web.file("/etc/systemd/system/quote-app.service").exists
    assert not web.file("/opt/quote-app").exists
    for name, app in apps.items():
        assert app.service("quote-app.socket").is_running, name
        assert not app.package("nginx").is_installed, name


def test_app_hosts_listen_on_their_private_address_only(apps):
    for name, address in APPS.items():
        listening = apps[name].check_output("ss -Htln")
        assert f"{address}:{APP_PORT}" in listening, (name, listening)
        assert f"0.0.0.0:{APP_PORT}" not in listening and f"*:{APP_PORT}" not in listening, listening
        assert not apps[name].file("/run/quote-app.sock").exists, name


def test_web_host_lists_every_app_host_in_its_upstream(web):
    site = web.file("/etc/nginx/sites-available/quote-app.conf").content_string
    for address in APPS.values():
        assert f"server {address}:{APP_PORT} max_fails=1 fail_timeout=10s;" in site
    assert "keepalive 16;" in site
    assert " down;" not in site


def test_page_and_static_files_are_served_through_the_balancer(site_url):
    page = http_get(site_url + "/")
    assert page.status == 200 and 'class="quote"' in page.body
    assert http_get(site_url + "/static/style.css").status == 200


def test_requests_are_spread_over_both_app_hosts(web, site_url):
    for _ in range(40):
        assert http_get(site_url + "/healthz").status == 200
    seen = upstreams_seen(web, 40)
    for address in APPS.values():
        assert seen[f"{address}:{APP_PORT}"] >= 8, seen


def test_app_port_admits_only_the_web_host(web, apps):
    app1, app2 = (apps[name] for name in APPS)
    address1, address2 = APPS.values()
    url1 = f"http://{address1}:{APP_PORT}/healthz"
    assert fetch_from(web, url1) == 200
    # app2 is no web host: its packets to app1's app port are dropped.
    assert fetch_from(app2, url1) == 0
    assert fetch_from(app1, f"http://{address2}:{APP_PORT}/healthz") == 0
    rules = app1.check_output("ufw status")
    assert f"{APP_PORT}/tcp" in rules and WEB_ADDRESS in rules, rules
    assert "80/tcp" not in rules.replace(f"{APP_PORT}/tcp", ""), rules


def test_the_web_port_is_closed_on_app_hosts(web):
    for address in APPS.values():
        assert fetch_from(web, f"http://{address}:80/") == 0


def test_stopping_an_app_host_costs_no_failed_request(web, apps, site_url):
    """app2's gunicorn stops (socket and service): nginx's connections are refused or closed, it
    retries each request on app1 at once and skips app2 until it is back."""
    stopped = apps["quote-mh-app2"]
    with traffic(site_url + "/healthz") as seen:
        time.sleep(1)
        stopped.check_output("systemctl stop quote-app.socket quote-app.service")
        try:
            time.sleep(4)
            assert upstreams_seen(web, 10) == {f"{APPS['quote-mh-app1']}:{APP_PORT}": 10}
        finally:
            stopped.check_output("systemctl start quote-app.socket")
    assert set(seen) == {200}, seen
    assert sum(seen.values()) > 30, seen
    time.sleep(11)  # nginx tries a failed server again after fail_timeout
    for _ in range(20):
        assert http_get(site_url + "/healthz").status == 200
    assert upstreams_seen(web, 20)[f"{APPS['quote-mh-app2']}:{APP_PORT}"] > 0


def test_web_host_is_the_only_upstream_user(web):
    # The web host itself is no app host: nothing listens on the app port there.
    assert f":{APP_PORT}" not in web.check_output("ss -Htln")



def statuses_from(host, url: str, client: str, count: int) -> list[int]:
    """Statuses of *count* requests sent at once from inside *host*, as a balancer would forward
    them for *client* (X-Forwarded-For)."""
    return [status for status, _ in get_from(host, url, count, {"X-Forwarded-For": client}, timeout=5)]


def test_a_trusted_balancer_passes_on_the_real_client(web, site_url):
    """nginx_trusted_proxies is 127.0.0.1 here (molecule.yml): requests from it count, and are
    logged, per the client in X-Forwarded-For; anyone else's X-Forwarded-For is ignored."""
    flooded = statuses_from(web, "http://127.0.0.1/", "203.0.113.9", 80)
    assert 429 in flooded, flooded
    # Another client behind the same balancer is not limited by the first one's flood.
    assert statuses_from(web, "http://127.0.0.1/", "203.0.113.10", 1) == [200]
    assert http_get(site_url + "/no-such-page", headers={"X-Forwarded-For": "198.51.100.77"}).status == 404
    flush_access_logs(web)
    log = web.file(SITE_ACCESS_LOG).content_string
    assert re.search(r"(?m)^203\.0\.113\.9 - ", log) and re.search(r"(?m)^203\.0\.113\.10 - ", log)
    assert "198.51.100.77" not in log
    time.sleep(3)  # the limit lets 203.0.113.9 back in; nothing else here depends on it


def test_a_run_fails_when_a_web_host_cannot_reach_an_app_host(web, apps, site_url):
    """As when the web host's traffic leaves from an address the app port does not admit (a
    second interface): here app1 drops the web host's new connections with an iptables rule
    ahead of UFW's, which the firewall role does not manage. Every deploy on its own succeeds;
    the check at the end of the run fails, naming app1."""
    app1 = apps["quote-mh-app1"]
    rule = f"INPUT -s {WEB_ADDRESS} -p tcp --dport {APP_PORT} -m conntrack --ctstate NEW -j DROP"
    app1.check_output(f"iptables -I {rule}")
    try:
        with traffic(site_url + "/", 0.15, 30) as seen:
            result = deploy()
    finally:
        app1.check_output(f"iptables -D {rule}")
    # nginx skips app1 after one connect timeout and answers from app2: the site serves throughout.
    assert set(seen) == {200}, seen
    output = result.stdout + result.stderr
    assert result.returncode != 0
    address1 = APPS["quote-mh-app1"]
    message = " ".join(output.split())
    assert f"quote-mh-web gets no answer (200 within 5 s) from {address1}:{APP_PORT}. Their" in message, output[-3000:]
    assert deploy().returncode == 0
