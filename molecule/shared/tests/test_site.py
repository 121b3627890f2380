"""The deployed site, checked from outside the host: what a visitor and an operator see."""

from __future__ import annotations

import html
import re

import pytest
from quote_testlib import http_get, molecule_hosts

testinfra_hosts = molecule_hosts()


def test_page_is_served_through_nginx(site_url, bundled_quotes):
    reply = http_get(site_url + "/")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "Quote of the day" in reply.body
    film = re.search(r"FILM:.*?<h4[^>]*>\s*(.*?)\s*</h4>", reply.body, re.S)
    quote = re.search(r"QUOTE:.*?<h4[^>]*>\s*(.*?)\s*</h4>", reply.body, re.S)
    assert film and quote, reply.body
    shown = {"film": html.unescape(film.group(1)), "quote": html.unescape(quote.group(1))}
    assert any(
        shown["quote"] == q["quote"] and shown["film"].startswith(str(q["film"])) for q in bundled_quotes
    ), shown


def test_nginx_hides_its_version(site_url):
    reply = http_get(site_url + "/")
    assert reply.headers.get("server") == "nginx"


def test_healthz_reports_ok_and_the_current_release(host, site_url):
    reply = http_get(site_url + "/healthz")
    assert reply.status == 200
    body = reply.json()
    assert body["status"] == "ok"
    assert body["quotes"] >= 50
    assert body["upstream"] == "off"
    # The release id is the operator's label and a digest of the release's content.
    assert body["release"] == host.file("/opt/quote-app/current/RELEASE").content_string.strip()
    assert re.fullmatch(re.escape(body["version"]) + "-[0-9a-f]{12}", body["release"]), body
    assert reply.headers.get("cache-control") == "no-store"


def test_static_files_come_from_nginx_with_caching(site_url):
    reply = http_get(site_url + "/static/style.css")
    assert reply.status == 200
    assert "background" in reply.body
    assert "max-age=3600" in reply.headers.get("cache-control", "")


def test_unknown_path_is_404(site_url):
    assert http_get(site_url + "/no-such-page").status == 404


@pytest.mark.parametrize("unit", ["quote-app.socket", "quote-app.service", "nginx.service"])
def test_units_are_enabled_and_active(host, unit):
    service = host.service(unit)
    assert service.is_enabled, unit
    assert service.is_running, unit


def test_socket_belongs_to_nginx_group_only(host):
    socket = host.file("/run/quote-app.sock")
    assert socket.is_socket
    assert socket.user == "root"
    assert socket.group == "www-data"
    assert socket.mode == 0o660


CONNECT = "python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('/run/quote-app.sock')\""


def test_nginx_user_can_connect_to_the_socket(host):
    result = host.run(f"runuser -u www-data -- {CONNECT}")
    assert result.rc == 0, result.stderr


@pytest.mark.parametrize("user", ["nobody", "quote-app"])
def test_other_users_cannot_connect_to_the_socket(host, user):
    result = host.run(f"runuser -u {user} -- {CONNECT}")
    assert result.rc != 0
    assert "Permission denied" in result.stderr


def test_gunicorn_runs_as_the_app_user_without_tcp_listener(host):
    pids = host.check_output("systemctl show -P MainPID quote-app.service")
    assert pids != "0"
    assert host.check_output(f"ps -o user= -p {pids}").strip() == "quote-app"
    listeners = host.check_output("ss -Hltnp")
    assert "gunicorn" not in listeners
    assert "python" not in listeners
    owners = set(re.findall(r'users:\(\("([^"]+)"', listeners))
    assert owners <= {"nginx", "sshd", "systemd", "systemd-resolve", "systemd-resolved"}, listeners


def test_nginx_configuration_passes_its_own_test(host):
    result = host.run("nginx -t")
    assert result.rc == 0, result.stderr


def test_site_is_linked_from_sites_available(host):
    link = host.file("/etc/nginx/sites-enabled/quote-app.conf")
    assert link.is_symlink
    assert link.linked_to == "/etc/nginx/sites-available/quote-app.conf"
    assert not host.file("/etc/nginx/sites-enabled/default").exists


@pytest.mark.parametrize(
    "path",
    ["/opt/quote-app/current/", "/opt/quote-app/current/app.py", "/opt/quote-app/current/venv/", "/opt/quote-app/current/venv/bin/gunicorn"],
)
def test_app_user_cannot_change_its_code_or_venv(host, path):
    assert host.file(path).user == "root"
    assert host.run(f"runuser -u quote-app -- test -w {path}").rc != 0


# The release layout belongs to root; the sources (repositories and archives, with whatever
# credentials their URLs hold) are for root only.
@pytest.mark.parametrize("path, mode", [
    ("/opt/quote-app", 0o755),
    ("/opt/quote-app/releases", 0o755),
    ("/opt/quote-app/venvs", 0o755),
    ("/opt/quote-app/sources", 0o700),
])
def test_release_layout_belongs_to_root(host, path, mode):
    directory = host.file(path)
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("root", "root", mode)


def test_env_file_is_readable_by_the_app_group_only(host):
    env = host.file("/opt/quote-app/current/app.env")
    assert env.user == "root"
    assert env.group == "quote-app"
    assert env.mode == 0o640


def test_app_user_has_no_login(host):
    user = host.user("quote-app")
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")
    assert not host.file(user.home).exists
    assert host.run("sudo -l -U quote-app").stdout.count("may run") == 0
