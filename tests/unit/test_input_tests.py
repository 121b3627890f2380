"""plugins/test/quote_inputs.py, the Jinja2 tests every role's validate uses, and the roles' rules.

The tests are plain functions, checked here with good and bad values. The rules (each role's
__<role>_rules in vars/main.yml) are evaluated by Ansible's own templating, in this process, over
the role's defaults: the defaults pass, each bad value breaks its own rule, and the message
tasks/validate.yml renders names the variable and the form it must take. The rules' own regexes
are tested that way too, as Ansible reads them.
"""

from __future__ import annotations

import configparser
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader, test_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DIR = ROOT / "plugins" / "test"
ROLES = ["deploy_lock", "firewall", "gunicorn", "nginx", "platform", "quote_app", "quote_release", "tls"]


def load_plugin():
    spec = importlib.util.spec_from_file_location("quote_inputs", PLUGIN_DIR / "quote_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TESTS = load_plugin().TestModule().tests()

# --- the tests, as plain Python ------------------------------------------------

GOOD_AND_BAD = {
    "safe_path": (
        ["/opt/quote-app", "/opt/quote-app/", "/run/quote-app.sock", "/a/b_c/d.e-f", "/_x", "/a..b"],
        ["", "/", "opt/app", "/opt/../etc", "/opt/..", "/opt/./x", "/opt/.hidden", "/opt//x", "/opt/a b",
         "/opt/a;b", "/opt/$HOME", "/opt/a\n", "/opt/a\nb", "~/x", None, ["/opt"], 5],
    ),
    "account_name": (
        ["quote-app", "www-data", "_apt", "a", "a" * 32, "root", "user_1"],
        ["", "Quote", "1user", "-user", "a" * 33, "quote app", "quote\n", "quote.app", None, ["root"], True],
    ),
    "port": (
        [1, 80, 443, 8000, 65535, "80", "08080"],
        [0, -1, 65536, 70000, "0", "65536", "", "80.0", " 80", "80 ", "http", 80.0, True, False, None, [80]],
    ),
    "unit_name": (
        ["quote-app", "quote-deploy-lock", "a", "nginx.service", "app_2", "A" * 64, "5", 5],
        ["", "-app", ".app", "a b", "a/b", "a@b", "A" * 65, "app\n", None, True],
    ),
    "release_name": (
        ["1", "v2", "2-0123456789ab", "1.0+build.3", "A_b", "a" * 80],
        ["", "-1", ".1", "a/b", "a b", "a" * 81, "1\n", None, [1]],
    ),
    "http_url": (
        ["http://pypi.internal", "https://pypi.internal:8443/simple/", "http://127.0.0.1/healthz",
         "http://[fd00::1]:8000/healthz", "https://acme-v02.api.letsencrypt.org/directory", "http://a/?x=1"],
        ["", "htp:/broken", "ftp://host/", "http://", "http:///x", "http://-host/", "http://host-/",
         "http://host:123456/", "http://user:secret@host/", "http://host/a b", "http://host/\n", "http://a_b/",
         "http://[fd00::1/", None],
    ),
    "ip_address": (
        ["10.0.0.11", "127.0.0.1", "::1", "fd00::11", "0.0.0.0", "::ffff:10.0.0.1"],
        ["", "app-1.internal", "10.0.0", "10.0.0.256", "[::1]", "fe80::1%eth0", "10.0.0.0/8", "1.2.3.4 ", None, 10],
    ),
    "one_line": (
        ["", "Gunicorn serving the quote of the day app", "a\\nb (a backslash and n)", "--log-level=debug", 5],
        ["a\nb", "a\rb", "\n", None, ["a"]],
    ),
}


def test_the_plugin_offers_exactly_the_tests_checked_here():
    assert set(TESTS) == set(GOOD_AND_BAD)


@pytest.mark.parametrize(("name", "value"), [(name, good) for name, (goods, _) in GOOD_AND_BAD.items()
                                             for good in goods])
def test_good_values_pass(name, value):
    assert TESTS[name](value) is True


@pytest.mark.parametrize(("name", "value"), [(name, bad) for name, (_, bads) in GOOD_AND_BAD.items()
                                             for bad in bads])
def test_bad_values_fail(name, value):
    assert TESTS[name](value) is False


def test_options_of_the_tests():
    assert TESTS["safe_path"]("/etc/ssl/quote-app", trailing_slash=False)
    assert not TESTS["safe_path"]("/etc/ssl/quote-app/", trailing_slash=False)
    assert TESTS["release_name"]("a" * 64, max_length=64)
    assert not TESTS["release_name"]("a" * 65, max_length=64)
    assert TESTS["http_url"]("http://127.0.0.1:80/healthz", path=True)
    assert not TESTS["http_url"]("http://127.0.0.1:80", path=True)
    for network in ["10.0.0.0/8", "10.0.0.1/8", "10.0.0.11", "fd00::/64", "::1"]:
        assert TESTS["ip_address"](network, network=True), network
    for bad in ["anywhere", "10.0.0.0/33", "fd00::/129", "10.0.0.0/", "fe80::1%eth0/64"]:
        assert not TESTS["ip_address"](bad, network=True), bad


# --- where the plugin is registered, and that the roles use it -----------------


def test_ansible_cfg_registers_the_test_plugins():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert (ROOT / config["defaults"]["test_plugins"]) == PLUGIN_DIR


def test_molecule_registers_the_test_plugins():
    molecule = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text(encoding="utf-8"))
    defaults = molecule["provisioner"]["config_options"]["defaults"]
    assert defaults["test_plugins"] == "${MOLECULE_PROJECT_DIRECTORY}/plugins/test"


# The shared patterns, as the roles wrote them before the plugin held them.
SHARED_PATTERNS = [r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+", r"[a-z_][a-z0-9_-]{0,31}", r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
                   r"[A-Za-z0-9][A-Za-z0-9._+-]{0,79}", "[0-9]{1,3}[.]", "https?://"]


@pytest.mark.parametrize("role", ROLES)
def test_roles_use_the_plugin_instead_of_their_own_copy_of_a_pattern(role):
    for path in [ROOT / "roles" / role / "vars" / "main.yml", ROOT / "roles" / role / "tasks" / "validate.yml"]:
        text = path.read_text(encoding="utf-8")
        for pattern in SHARED_PATTERNS:
            assert pattern not in text, f"{path.relative_to(ROOT)} repeats {pattern}"


# --- the roles' rules, evaluated by Ansible ------------------------------------

if AnsibleCollectionConfig.collection_finder is None:  # as ansible's CLI does, once per process
    init_plugin_loader()
test_loader.add_directory(str(PLUGIN_DIR))
LOADER = DataLoader()
# What the rules read besides the role's own variables.
CONTEXT = {"inventory_hostname": "web1", "ansible_facts": {"processor_nproc": 2},
           "groups": {"all": ["web1", "app1"], "quote_servers": ["web1", "app1"]}}
# Variables the playbook always sets, without a default that passes.
WIRED = {"quote_release": {"quote_release_id": "1-0123456789ab"}}


@functools.cache
def role_files(role: str) -> tuple[dict, dict]:
    """The role's defaults and vars as Ansible loads them (their templates trusted)."""
    return tuple(LOADER.load_from_file(str(ROOT / "roles" / role / part / "main.yml"), trusted_as_template=True) or {}
                 for part in ("defaults", "vars"))


@functools.cache
def rule_check(role: str) -> dict:
    """The task of tasks/validate.yml that checks the role's rules."""
    tasks = LOADER.load_from_file(str(ROOT / "roles" / role / "tasks" / "validate.yml"), trusted_as_template=True)
    task = next(task for task in tasks if f"__{role}_rules" in str(task.get("loop", "")))
    assert task["ansible.builtin.assert"]["that"] == "item.ok"
    assert task["loop_control"]["label"] == "{{ item.name }}"
    return task


@functools.cache
def role_templar(role: str) -> Templar:
    return Templar(loader=LOADER)


def templar(role: str, overrides: dict[str, Any]) -> Templar:
    """The role's templar (one per role: it keeps the templates it compiled), with the variables of a
    run: the role's defaults and vars, then *overrides*, as extra variables would."""
    defaults, role_vars = role_files(role)
    engine = role_templar(role)
    engine.available_variables = {**CONTEXT, "role_path": str(ROOT / "roles" / role), **defaults, **role_vars,
                                  **WIRED.get(role, {}), **overrides}
    return engine


def broken_rules(role: str, **overrides: Any) -> dict[str, list[str]]:
    """The rules of *role* that the values (its defaults, then *overrides*) break, by name (a name
    may have several rules), each with the message validate.yml gives for it: the items of its
    rule check's loop and their fail_msg."""
    engine = templar(role, overrides)
    task = rule_check(role)
    broken: dict[str, list[str]] = {}
    for item in engine.template(task["loop"]):
        engine.available_variables = {**engine.available_variables, "item": item}
        broken.setdefault(item["name"], []).append(engine.template(task["ansible.builtin.assert"]["fail_msg"]))
    return broken


@pytest.mark.parametrize("role", ROLES)
def test_every_rule_has_a_name_an_expectation_and_a_check(role):
    rules = role_files(role)[1][f"__{role}_rules"]
    assert rules
    for rule in rules:
        assert set(rule) <= {"name", "expect", "ok", "got"} and {"name", "expect", "ok"} <= set(rule), rule
        named = re.findall(rf"\b{role}_[a-z0-9_]+", rule["name"])
        assert named and all(name in role_files(role)[0] for name in named), rule["name"]
        assert all(name in rule["ok"] for name in named), rule


@pytest.mark.parametrize("role", ROLES)
def test_the_defaults_break_no_rule(role):
    rules = templar(role, {}).template(trust_as_template(f"{{{{ __{role}_rules }}}}"))
    assert [rule["ok"] for rule in rules] == [True] * len(rules), rules
    assert broken_rules(role) == {}


# role, bad values, {rule broken: the whole message, or None for any}
CASES = [
    ("gunicorn", {"gunicorn_workers": 0}, {"gunicorn_workers": "gunicorn_workers must be 1-256, got 0"}),
    ("gunicorn", {"gunicorn_workers": 257}, {"gunicorn_workers": "gunicorn_workers must be 1-256, got 257"}),
    ("gunicorn", {"gunicorn_user": "root"},
     {"gunicorn_user": 'gunicorn_user must be a system account name other than root, got "root"'}),
    ("gunicorn", {"gunicorn_socket_path": "/tmp/app.sock"},
     {"gunicorn_socket_path": "gunicorn_socket_path must be an absolute path under /run, without '..', spaces or "
                              'shell metacharacters, got "/tmp/app.sock"'}),
    ("gunicorn", {"gunicorn_listen_address": "app-1.internal"},
     {"gunicorn_listen_address": "gunicorn_listen_address must be empty or an IP address (IPv6 without brackets), "
                                 'got "app-1.internal"'}),
    ("gunicorn", {"gunicorn_listen_address": "fd00::11"}, {}),
    ("gunicorn", {"gunicorn_listen_port": 0},
     {"gunicorn_listen_port": "gunicorn_listen_port must be a port 1-65535, got 0"}),
    ("gunicorn", {"gunicorn_listen_port": "8000"}, {}),
    ("gunicorn", {"gunicorn_description": "a\nExecStartPre=/bin/false"},
     {"gunicorn_description": 'gunicorn_description must be one line, got "a\\nExecStartPre=/bin/false"'}),
    ("gunicorn", {"gunicorn_description": "a\\n (a backslash and n)"}, {}),
    ("gunicorn", {"gunicorn_extra_args": ["--log-level=debug", "--x\r"]}, {"gunicorn_extra_args": None}),
    *[("gunicorn", {"gunicorn_candidate_probes": probes}, {"gunicorn_candidate_probes": None}) for probes in (
        [{"path": "healthz", "status": 200}], [{"path": "/a b", "status": 200}], [{"path": "/a\tb", "status": 200}],
        [{"path": "/healthz"}], [{"status": 200}], [{"path": "/", "status": 600}], [])],
    ("gunicorn", {"gunicorn_candidate_probes": [{"path": "/S/s", "status": "204"}, {"path": "/?q=1", "status": 301}]},
     {}),
    ("gunicorn", {"gunicorn_socket_mode": "0666"}, {}),
    ("gunicorn", {"gunicorn_socket_mode": "rw"}, {"gunicorn_socket_mode": None}),
    ("gunicorn", {"gunicorn_wsgi_app": "wsgi"}, {"gunicorn_wsgi_app": None}),
    ("gunicorn", {"gunicorn_address_families": ["AF_UNIX", "inet"]}, {"gunicorn_address_families": None}),
    ("gunicorn", {"gunicorn_release": "../x"}, {"gunicorn_release": None}),
    ("gunicorn", {"gunicorn_environment_file": "../app.env"}, {"gunicorn_environment_file": None}),
    ("nginx", {"nginx_server_names": ["bad name!"]},
     {"nginx_server_names": 'nginx_server_names must be a non-empty list of host names ("_", "example.org", '
                            '"*.example.org"), got ["bad name!"]'}),
    ("nginx", {"nginx_server_names": ["_"]},
     {"nginx_server_names": 'nginx_server_names must be names other than "_" while nginx_reject_unknown_hosts is '
                            'true, got ["_"]'}),
    ("nginx", {"nginx_server_names": ["_", "*.example.org", "a_b.example.org", "10.0.0.1"],
               "nginx_reject_unknown_hosts": False}, {}),
    ("nginx", {"nginx_listen_port": 70000},
     {"nginx_listen_port": "nginx_listen_port must be a port 1-65535, got 70000"}),
    ("nginx", {"nginx_site_name": "../../passwd"}, {"nginx_site_name": None}),
    ("nginx", {"nginx_site_name": "default"}, {"nginx_site_name": None}),
    ("nginx", {"nginx_upstream_servers": ["10.0.0.5"]}, {"nginx_upstream_servers": None}),
    ("nginx", {"nginx_upstream_servers": ["[fd00::1]8000"]}, {"nginx_upstream_servers": None}),
    ("nginx", {"nginx_upstream_servers": ["10.0.0.5:8000", "[fd00::1]:8000", "app-1.internal:8000"],
               "nginx_rotation_out": ["10.0.0.5:8000"]}, {}),
    ("nginx", {"nginx_rotation_in": ["10.0.0.9:8000"]},
     {"nginx_rotation_out and nginx_rotation_in": "nginx_rotation_out and nginx_rotation_in must be servers of "
                                                  'nginx_upstream_servers, got ["10.0.0.9:8000"] with '
                                                  "nginx_upstream_servers []"}),
    ("nginx", {"nginx_access_log_buffer": "lots"}, {"nginx_access_log_buffer": None}),
    ("nginx", {"nginx_access_log_buffer": ""}, {}),
    ("nginx", {"nginx_static_dir": ""}, {}),
    ("nginx", {"nginx_static_dir": "static"}, {"nginx_static_dir": None}),
    ("nginx", {"nginx_static_expires": "1 hour"}, {"nginx_static_expires": None}),
    ("nginx", {"nginx_rate_limit": "10/s"}, {"nginx_rate_limit": None}),
    ("nginx", {"nginx_security_headers": {"X-A": 'say "hi"'}}, {"nginx_security_headers": None}),
    ("nginx", {"nginx_security_headers": {"X-A": "a\nb"}}, {"nginx_security_headers": None}),
    ("nginx", {"nginx_security_headers": {"X A": "b"}}, {"nginx_security_headers": None}),
    ("nginx", {"nginx_tls_certificate": "/etc/ssl/site.pem"},
     {"nginx_tls_certificate and nginx_tls_certificate_key":
      "nginx_tls_certificate and nginx_tls_certificate_key must be both empty or both set, "
      'got ["/etc/ssl/site.pem", ""]'}),
    ("nginx", {"nginx_tls_certificate": "/etc/ssl/site.pem", "nginx_tls_certificate_key": "/etc/ssl/site.pem"}, {}),
    ("nginx", {"nginx_tls_listen_port": 80},
     {"nginx_tls_listen_port and nginx_listen_port": "nginx_tls_listen_port and nginx_listen_port must be "
                                                     "different ports, got [80, 80]"}),
    ("nginx", {"nginx_tls_ciphers": ["ECDHE-RSA-AES128-GCM-SHA256", "bad cipher"]}, {"nginx_tls_ciphers": None}),
    ("nginx", {"nginx_worker_connections": 63}, {"nginx_worker_connections": None}),
    ("quote_app", {"quote_app_name": "../etc"},
     {name: None for name in ("quote_app_name", "quote_app_user", "quote_app_group", "quote_app_root",
                              "quote_app_code_dir")}),
    ("quote_app", {"quote_app_root": "/opt/../etc"}, {"quote_app_root": None, "quote_app_code_dir": None}),
    ("quote_app", {"quote_app_user": "root"},
     {"quote_app_user": 'quote_app_user must be a system account name other than root, got "root"'}),
    ("quote_app", {"quote_app_environment": {"lower_case": "s3cr3t", "OK": "x"}},
     {"quote_app_environment": "quote_app_environment must be a mapping of upper-case variable names "
                               '([A-Z_][A-Z0-9_]*) to values, got the keys ["lower_case", "OK"]'}),
    ("quote_app", {"quote_app_pip_index_url": "https://user:s3cr3t@pypi.internal/simple/"},
     {"quote_app_pip_index_url": "quote_app_pip_index_url must be empty or an http(s) URL (a host name, an "
                                 'optional port and path), got "https://***@pypi.internal/simple/"'}),
    ("quote_app", {"quote_app_pip_index_url": "htp:/broken"}, {"quote_app_pip_index_url": None}),
    ("quote_app", {"quote_app_pip_index_url": "https://pypi.internal:8443/simple/"}, {}),
    ("quote_app", {"quote_app_version": "a" * 65}, {"quote_app_version": None}),
    ("quote_app", {"quote_app_source_dir": "/nonexistent/app"},
     {"quote_app_source_dir": "quote_app_source_dir must be a directory on the controller "
                              '(quote_app_source directory), got "/nonexistent/app"',
      "quote_app_requirements_file": None}),
    ("quote_app", {"quote_app_source": "git", "quote_app_git_repo": "my repo"}, {"quote_app_git_repo": None}),
    ("quote_app", {"quote_app_source": "git", "quote_app_git_repo": "https://tok@git.example/app.git"}, {}),
    ("quote_app", {"quote_app_source": "git", "quote_app_git_repo": "git@git.example:me/app.git",
                   "quote_app_git_version": "../../etc"}, {"quote_app_git_version": None}),
    ("quote_app", {"quote_app_source": "archive", "quote_app_archive_url": "https://git.example/app.tar.gz",
                   "quote_app_archive_sha256": "abc"}, {"quote_app_archive_sha256": None}),
    ("quote_app", {"quote_app_health_path": "health"}, {"quote_app_health_path": None}),
    # A deploy key sits in a hidden directory, but never beyond one.
    ("quote_app", {"quote_app_git_key_file": "/root/.ssh/app_deploy_key"}, {}),
    ("quote_app", {"quote_app_git_key_file": "/root/.ssh/../../etc/shadow"}, {"quote_app_git_key_file": None}),
    ("quote_app", {"quote_app_git_key_file": "~/.ssh/key"}, {"quote_app_git_key_file": None}),
    ("firewall", {"firewall_ssh_allow_from": ["10.0.0.5", "2001:db8::/64"]}, {}),
    ("firewall", {"firewall_ssh_allow_from": ["bastion.example.org"]}, {"firewall_ssh_allow_from": None}),
    ("nginx", {"nginx_trusted_proxies": ["10.0.0.0/8", "::1"]}, {}),
    ("nginx", {"nginx_trusted_proxies": ["cdn.example.org"]}, {"nginx_trusted_proxies": None}),
    ("nginx", {"nginx_health_allow": ["10.0.0.0/33"]}, {"nginx_health_allow": None}),
    ("nginx", {"nginx_log_max_size": "100M"}, {}),
    ("nginx", {"nginx_log_max_size": "lots"}, {"nginx_log_max_size": None}),
    ("nginx", {"nginx_health_path": "/health; deny all"}, {"nginx_health_path": None}),
    ("quote_rollout", {"quote_rollout_health_path": "healthz"}, {"quote_rollout_health_path": None}),
    ("quote_rollout", {"quote_rollout_web_hosts": ["no-such-host"]}, {"quote_rollout_web_hosts": None}),
    ("deploy_lock", {"deploy_lock_wait": -1}, {"deploy_lock_wait": "deploy_lock_wait must be 0-3600 seconds, got -1"}),
    ("deploy_lock", {"deploy_lock_owner": "me\nfake line"}, {"deploy_lock_owner": None}),
    ("deploy_lock", {"deploy_lock_unit": "a/b"}, {"deploy_lock_unit": None}),
    ("quote_release", {"quote_release_health_timeout": 0},
     {"quote_release_health_timeout": "quote_release_health_timeout must be 1-600 seconds, got 0"}),
    ("quote_release", {"quote_release_health_url": "http://10.0.0.11:8000"}, {"quote_release_health_url": None}),
    ("quote_release", {"quote_release_health_url": "http://[fd00::11]:8000/healthz"}, {}),
    ("quote_release", {"quote_release_keep": 1}, {"quote_release_keep": None}),
    ("quote_release", {"quote_release_id": ""}, {"quote_release_id": None}),
    ("firewall", {"firewall_ssh_ports": [0]}, {"firewall_ssh_ports": "firewall_ssh_ports must be a list of ports "
                                                                     "1-65535, got [0]"}),
    ("firewall", {"firewall_allowed_tcp_ports": [80, 65536]}, {"firewall_allowed_tcp_ports": None}),
    ("firewall", {"firewall_allowed_tcp_from": [{"port": 8000, "source": "anywhere"}]},
     {"firewall_allowed_tcp_from": "firewall_allowed_tcp_from must be a list of {port, source}, each a port 1-65535 "
                                   'and an IP address or network (CIDR), got [{"port": 8000, "source": "anywhere"}]'}),
    ("firewall", {"firewall_allowed_tcp_from": [{"port": 8000, "source": "10.0.0.10"},
                                                {"port": "8001", "source": "fd00::/64"}]}, {}),
    ("firewall", {"firewall_rule_comment": "quote app; rm"}, {"firewall_rule_comment": None}),
    ("tls", {"tls_certificate_source": "acme"},
     {"tls_domains": "tls_domains must be a non-empty list while tls_certificate_source is acme, got []"}),
    ("tls", {"tls_domains": ["quote.example.org", "www.quote.example.org"], "tls_certificate_source": "acme"}, {}),
    ("tls", {"tls_domains": ["*.example.org"]}, {"tls_domains": None}),
    ("tls", {"tls_domains": ["a..example.org"]}, {"tls_domains": None}),
    ("tls", {"tls_domains": ["a.example.org", "a.example.org"]}, {"tls_domains": None}),
    ("tls", {"tls_acme_email": "ops@example.org"}, {}),
    ("tls", {"tls_acme_email": "ops team@example.org"}, {"tls_acme_email": None}),
    ("tls", {"tls_acme_email": "ops@localhost"}, {"tls_acme_email": None}),
    ("tls", {"tls_acme_directory_url": "https://localhost:14000/dir"}, {}),
    ("tls", {"tls_acme_directory_url": "acme.example.org"}, {"tls_acme_directory_url": None}),
    ("tls", {"tls_acme_server_ca": "not a certificate"}, {"tls_acme_server_ca": None}),
    ("tls", {"tls_dir": "/etc/ssl/quote-app/"}, {"tls_dir": None}),
    ("tls", {"tls_acme_http_port": 0}, {"tls_acme_http_port": None}),
    ("tls", {"tls_certificate_source": "provided", "tls_domains": ["localhost"]},
     {"tls_certificate_pem or tls_certificate_src": "tls_certificate_pem or tls_certificate_src must be set, one of "
                                                    "the two, while tls_certificate_source is provided (the "
                                                    "certificate chain), got neither",
      "tls_certificate_key_pem or tls_certificate_key_src": None}),
    ("tls", {"tls_certificate_source": "provided", "tls_domains": ["localhost"], "tls_certificate_src": "/x.pem",
             "tls_certificate_key_pem": "-----BEGIN PRIVATE KEY-----secret", "tls_certificate_key_src": "/x.key"},
     {"tls_certificate_key_pem or tls_certificate_key_src": "tls_certificate_key_pem or tls_certificate_key_src "
                                                            "must be set, one of the two, while tls_certificate_source "
                                                            "is provided (the certificate's key), got both"}),
    ("platform", {"platform_apt_cache_valid_time": -1},
     {"platform_apt_cache_valid_time": "platform_apt_cache_valid_time must be 0 or more seconds, got -1"}),
]


def case_id(case: tuple[str, dict, dict]) -> str:
    return ",".join(f"{name}={value!r}"[:60] for name, value in case[1].items())


@pytest.mark.parametrize(("role", "overrides", "expected"), CASES, ids=[case_id(case) for case in CASES])
def test_a_bad_value_breaks_its_own_rule_with_its_own_message(role, overrides, expected):
    broken = broken_rules(role, **overrides)
    assert set(broken) == set(expected), broken
    for name, message in expected.items():
        if message is not None:
            assert message in broken[name]
        # Each message names what it is about, then the form expected and the value it got.
        assert all(text.startswith(f"{name} must be ") and ", got " in text for text in broken[name]), broken[name]
    assert not [text for texts in broken.values() for text in texts if "s3cr3t" in text or "secret" in text], broken
