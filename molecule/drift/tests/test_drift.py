"""After side_effect.yml damaged the host and one converge ran: ours is repaired, theirs is kept."""

from __future__ import annotations

import hashlib
import re

import pytest
from quote_testlib import PROJECT_DIR, molecule_hosts

testinfra_hosts = molecule_hosts()

APP_SOURCE = PROJECT_DIR / "files" / "app"


def test_stray_file_in_our_namespace_is_gone(host):
    assert not host.file("/etc/nginx/sites-enabled/quote-app.conf.orig").exists


def test_other_apps_site_is_untouched(host):
    assert host.file("/etc/nginx/sites-enabled/other-app.conf").contains("return 200 other")


def test_our_drop_in_is_gone_and_others_kept(host):
    assert not host.file("/etc/systemd/system/quote-app.service.d/override.conf").exists
    assert "DRIFT" not in host.check_output("systemctl show -P Environment quote-app.service")
    assert host.file("/etc/systemd/system/cron.service.d/other.conf").exists


def test_edited_unit_is_restored_and_loaded(host):
    assert host.check_output("systemctl show -P Restart quote-app.service") == "on-failure"
    assert host.check_output("systemctl show -P NeedDaemonReload quote-app.service") == "no"


def test_nginx_is_unmasked_and_enabled(host):
    assert host.check_output("systemctl is-enabled nginx.service") == "enabled"


@pytest.mark.parametrize("name", ["app.py", "wsgi.py", "templates/index.html", "quotes.json"])
def test_app_files_match_the_source(host, name):
    deployed = host.file(f"/opt/quote-app/current/{name}")
    assert deployed.user == "root"
    assert deployed.mode == 0o644
    assert deployed.sha256sum == hashlib.sha256((APP_SOURCE / name).read_bytes()).hexdigest()


def test_virtualenv_matches_the_pins(host):
    pins = {}
    for line in (APP_SOURCE / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    installed = {}
    for line in host.check_output("/opt/quote-app/current/venv/bin/pip freeze --all").splitlines():
        name, _, version = line.partition("==")
        installed[name.lower().replace("_", "-")] = version
    assert {name: installed.get(name) for name in pins} == pins


def test_our_hand_added_rule_is_gone_and_theirs_kept(host):
    added = host.check_output("ufw show added")
    assert "9999" not in added
    assert "ufw allow 7777/tcp comment 'other-app'" in added
