"""Bad input stops the run before anything changes, with a message naming the variable."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from quote_testlib import deploy, http_get, molecule_hosts, recap, run_playbook, traffic

testinfra_hosts = molecule_hosts()

MANAGED_FILES = [
    "/etc/nginx/sites-available/quote-app.conf",
    "/etc/systemd/system/quote-app.service",
    "/etc/systemd/system/quote-app.socket",
    "/opt/quote-app/current/app.env",
    "/opt/quote-app/current/gunicorn.env",
    "/opt/quote-app/current/app.py",
    "/etc/default/ufw",
]

CASES = [
    ({"quote_app_name": "../etc"}, ["quote_app_name must be a lower-case name"]),
    ({"quote_app_root": "/opt/../etc"}, ["quote_app_root must be an absolute path without '..'"]),
    ({"quote_app_user": "root"}, ["quote_app_user must be a system account name other than root"]),
    ({"quote_app_environment": {"lower_case": "x"}}, ["quote_app_environment must be a mapping of upper-case"]),
    ({"quote_app_pip_index_url": "htp:/broken"}, ["quote_app_pip_index_url must be empty or an http(s) URL"]),
    ({"gunicorn_workers": "many"}, ["gunicorn_workers", "int"]),
    ({"gunicorn_workers": 0}, ["gunicorn_workers must be 1-256, got 0"]),
    ({"gunicorn_worker_class": "eventlet"}, ["gunicorn_worker_class", "sync, gthread"]),
    ({"gunicorn_socket_path": "/tmp/app.sock"}, ["gunicorn_socket_path must be an absolute path under /run"]),
    ({"nginx_server_names": ["bad name!"]}, ["nginx_server_names must be a non-empty list of host names"]),
    ({"nginx_listen_port": 70000}, ["nginx_listen_port must be a port 1-65535, got 70000"]),
    ({"nginx_site_name": "../../passwd"}, ["nginx_site_name must be a lower-case file name"]),
    ({"firewall_ssh_rule": "deny"}, ["firewall_ssh_rule", "limit, allow"]),
    ({"firewall_ssh_ports": [0]}, ["firewall_ssh_ports must be a list of ports 1-65535, got [0]"]),
    ({"tls_certificate_source": "acme"}, ["tls_domains must be a non-empty list while tls_certificate_source is acme"]),
    ({"tls_domains": ["shop.example.org"], "tls_certificate_source": "selfsigned"},
     ["Add shop.example.org to nginx_server_names"]),
    ({"tls_certificate_source": "provided", "tls_domains": ["localhost"]},
     ["tls_certificate_pem or tls_certificate_src must be set, one of the two"]),
    ({"gunicorn_listen_address": "app-1.internal"}, ["gunicorn_listen_address must be empty or an IP address"]),
    ({"gunicorn_listen_port": 0}, ["gunicorn_listen_port must be a port 1-65535, got 0"]),
    ({"nginx_upstream_servers": ["10.0.0.5"]}, ["nginx_upstream_servers must be a list of", "address:port"]),
    ({"nginx_access_log_buffer": "lots"}, ["nginx_access_log_buffer must be empty or a size like"]),
    ({"firewall_allowed_tcp_from": [{"port": 8000, "source": "anywhere"}]},
     ["firewall_allowed_tcp_from must be a list of {port, source}, each a port 1-65535 and an IP address"]),
    ({"gunicorn_candidate_probes": [{"path": "healthz", "status": 200}]},
     ["gunicorn_candidate_probes must be a non-empty list of {path: /..., status: 200}"]),
    ({"gunicorn_candidate_timeout": 0}, ["gunicorn_candidate_timeout must be 1-600 seconds, got 0"]),
    ({"gunicorn_description": "a\nExecStartPre=/bin/false"}, ["gunicorn_description must be one line"]),
    ({"quote_app_source_dir": "/nonexistent/app"}, ["quote_app_source_dir must be a directory on the controller"]),
    ({"deploy_lock_wait": -1}, ["deploy_lock_wait must be 0-3600 seconds, got -1"]),
    ({"quote_release_health_timeout": 0}, ["quote_release_health_timeout must be 1-600 seconds, got 0"]),
]

# Host groups the play refuses, as inventories added to molecule's (-i twice merges them).
# "ghost" is never contacted: --limit leaves it out, which is what the second case is about.
GROUP_CASES = {
    "web hosts without app hosts": """
quote_servers:
  children:
    quote_web_hosts:
      hosts: {HOST}
""",
    "an app host hidden by --limit": """
quote_servers:
  children:
    quote_web_hosts:
      hosts: {HOST}
    quote_app_hosts:
      hosts:
        ghost: {ansible_host: 192.0.2.1}
""",
}


def snapshot(host) -> dict[str, str]:
    state = {path: host.file(path).sha256sum for path in MANAGED_FILES}
    state["ufw"] = host.check_output("ufw status verbose")
    state["units"] = host.check_output("systemctl is-active quote-app.socket quote-app.service nginx.service")
    return state


def case_id(case: tuple[dict, list[str]]) -> str:
    name, value = next(iter(case[0].items()))
    return f"{name}={json.dumps(value)}"


assert len(set(map(case_id, CASES))) == len(CASES), "two cases share an id"


@pytest.fixture(scope="module")
def bad_input_runs(host, site_url) -> dict[str, object]:
    """Every case's run, four at a time (each stops in its first tasks, so they only read the host)."""
    before = snapshot(host)
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(zip(
            map(case_id, CASES),
            pool.map(lambda case: deploy("--limit", host.backend.name, **case[0]), CASES),
        ))
    # Asked once for all cases: a GET per case would run into the site's rate limit.
    return {"before": before, "after": snapshot(host), "runs": runs, "status_after": http_get(site_url + "/").status}


@pytest.mark.parametrize(("extra_vars", "expected"), CASES, ids=list(map(case_id, CASES)))
def test_bad_input_is_refused_and_changes_nothing(bad_input_runs, extra_vars, expected):
    result = bad_input_runs["runs"][case_id((extra_vars, expected))]
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    for fragment in expected:
        assert fragment in output, f"{fragment!r} missing from:\n{output[-3000:]}"
    assert "changed=0" in output
    assert bad_input_runs["after"] == bad_input_runs["before"]
    assert bad_input_runs["status_after"] == 200


@pytest.mark.parametrize("case", list(GROUP_CASES))
def test_bad_host_groups_are_refused_and_change_nothing(host, site_url, tmp_path, case):
    before = snapshot(host)
    inventory = tmp_path / "groups.yml"
    inventory.write_text(GROUP_CASES[case].replace("{HOST}", f"{{{host.backend.name}: {{}}}}"), encoding="utf-8")
    result = run_playbook("--limit", host.backend.name, "-i", str(inventory))
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    expected = {"web hosts without app hosts": "quote_web_hosts and quote_app_hosts go together",
                "an app host hidden by --limit": "ghost needs an address the other hosts reach"}[case]
    assert expected in output, output[-3000:]
    assert recap(output)[host.backend.name]["changed"] == 0
    assert snapshot(host) == before
    assert http_get(site_url + "/").status == 200


def test_rejected_nginx_directive_restores_the_site_and_keeps_serving(host, site_url):
    before = snapshot(host)
    with traffic(site_url + "/healthz", interval=0.05, timeout=5) as statuses:
        result = deploy("--limit", host.backend.name, nginx_extra_directives=["bogus_directive on;"])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "nginx rejected the new configuration" in output
    assert 'unknown directive "bogus_directive"' in output
    assert snapshot(host) == before
    assert host.file("/etc/nginx/sites-available").listdir().count("quote-app.conf") == 1
    assert not [name for name in host.file("/etc/nginx/sites-available").listdir() if name.startswith("quote-app.conf.")]
    assert statuses and set(statuses) == {200}, statuses
