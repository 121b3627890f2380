"""The nginx role's templates, rendered by Ansible's own templating in this process, for each branch.

site.conf.j2 branches on HTTPS (nginx_tls_certificate set and both files found by site.yml's stat:
__nginx_tls_active), on balancing (nginx_upstream_servers, else the app's unix socket), on the
nginx version site.yml reads (ssl_reject_handshake needs 1.19.4, "http2 on" 1.25.1: __nginx_version),
on the ACME webroot and on the static directory. Each case renders with the role's defaults and
vars, the registered results the vars read (the stat of the certificate files, `nginx -v`'s output)
and the values under test, then checks the lines that branch.

Each rendering the distribution's nginx understands is also checked with `nginx -t` inside a
temporary directory (its own main file, logs and temporary paths there; the machine's /etc/nginx
is never read and nothing is started), by the binary scripts/nginx-binary.sh unpacks from the
distribution's package without installing it.
"""

from __future__ import annotations

import functools
import itertools
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ansible.template import Templar, trust_as_template
from role_templar import LOADER, ROOT, role_variables

ROLE = ROOT / "roles" / "nginx"

CERTIFICATE = "/etc/ssl/quote-app/quote-app.pem"
UPSTREAMS = ["10.0.0.11:8000", "[fd00::12]:8000"]
VERSIONS = ["1.18.0", "1.24.0", "1.28.0"]
# The template options of the template module's defaults (trim_blocks on, lstrip_blocks off).
TEMPLATE_OPTIONS = {"trim_blocks": True, "lstrip_blocks": False, "newline_sequence": "\n"}


def version_output(version: str) -> dict[str, str]:
    """What the role registers from `nginx -v` (nginx prints its version on stderr)."""
    return {"stdout": "", "stderr": f"nginx version: nginx/{version} (Ubuntu)"}


def render(template: str, version: str = "1.24.0", tls_files: bool = True, **values: Any) -> str:
    """*template* of the role as the template module writes it, for a host whose nginx is *version*
    and where the certificate and key exist (*tls_files*), with *values* over the defaults."""
    wanted = [values.get("nginx_tls_certificate", ""), values.get("nginx_tls_certificate_key", "")]
    variables = {
        "inventory_hostname": "web1",
        "ansible_managed": "Ansible managed",
        **role_variables("nginx"),
        "__nginx_version_output": version_output(version),
        "__nginx_tls_files": {"results": [{"item": path, "stat": {"exists": tls_files}} for path in wanted if path]},
        **values,
    }
    source = trust_as_template((ROLE / "templates" / template).read_text(encoding="utf-8"))
    return Templar(loader=LOADER, variables=variables).template(
        source, escape_backslashes=False, overrides=TEMPLATE_OPTIONS)


def site(version: str = "1.24.0", tls: bool = False, balanced: bool = False, **values: Any) -> str:
    """The site for one combination: HTTPS or not, balanced or not, an nginx version."""
    if tls:
        values = {"nginx_tls_certificate": CERTIFICATE, "nginx_tls_certificate_key": CERTIFICATE, **values}
    if balanced:
        values = {"nginx_upstream_servers": UPSTREAMS, **values}
    return render("site.conf.j2", version, **values)


def directives(config: str) -> list[str]:
    """The configuration's lines without comments and blank lines, stripped."""
    return [line.strip() for line in config.splitlines() if line.strip() and not line.strip().startswith("#")]


def servers(config: str) -> list[list[str]]:
    """The directives of each top-level server block, in order."""
    found, depth = [], 0
    for line in directives(config):
        if depth == 0 and line == "server {":
            found.append([])
        elif found and depth > 0:
            found[-1].append(line)
        depth += line.count("{") - line.count("}")
    return found


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part)


def assert_well_formed(config: str) -> None:
    """Every directive (some span lines, like log_format's) ends with ';', '{' or '}', and the
    braces balance."""
    depth, pending = 0, ""
    for line in directives(config):
        pending += line
        if line.endswith((";", "{", "}")):
            depth += pending.count("{") - pending.count("}")
            assert depth >= 0, pending
            pending = ""
    assert (depth, pending) == (0, "")


COMBINATIONS = list(itertools.product([False, True], [False, True], VERSIONS))


def combination_id(combination: tuple[bool, bool, str]) -> str:
    tls, balanced, version = combination
    return f"{'https' if tls else 'http'}-{'balanced' if balanced else 'socket'}-{version}"


@pytest.mark.parametrize(("tls", "balanced", "version"), COMBINATIONS, ids=map(combination_id, COMBINATIONS))
def test_site_renders_each_combination(tls, balanced, version):
    config = site(version, tls, balanced)
    lines = directives(config)
    assert config.splitlines()[:3] == ["#", "# Ansible managed", "#"]
    assert_well_formed(config)
    http2_directive = version_key(version) >= (1, 25, 1)
    reject_handshake = version_key(version) >= (1, 19, 4)

    # Plain HTTP: the catch-all server, then the site (or its redirect to HTTPS).
    assert lines.count("listen 80 default_server;") == 1
    assert lines.count("listen [::]:80 default_server;") == 1
    assert lines.count("listen 80;") == 1 and lines.count("listen [::]:80;") == 1

    if tls:
        ssl = "ssl" if http2_directive else "ssl http2"
        assert lines.count(f"listen 443 {ssl} default_server;") == 1
        assert lines.count(f"listen [::]:443 {ssl} default_server;") == 1
        assert lines.count(f"listen 443 {ssl};") == 1 and lines.count(f"listen [::]:443 {ssl};") == 1
        assert lines.count("http2 on;") == (1 if http2_directive else 0)
        # Refused at the handshake where nginx can, else closed after it.
        assert lines.count("ssl_reject_handshake on;") == (1 if reject_handshake else 0)
        assert lines.count(f"ssl_certificate {CERTIFICATE};") == 2
        assert lines.count(f"ssl_certificate_key {CERTIFICATE};") == 2
        assert lines.count("return 301 https://$host$request_uri;") == 2  # /healthz (not from loopback) and /
        assert "geo $quote_app_loopback {" in lines
        assert any(line.startswith('add_header Strict-Transport-Security "max-age=63072000"') for line in lines)
        catch_all, catch_all_tls, redirect, app = servers(config)
        assert "return 444;" in catch_all and "return 444;" in catch_all_tls
        assert f"listen 443 {ssl} default_server;" in catch_all_tls
        assert "listen 80;" in redirect and "return 301 https://$host$request_uri;" in redirect
        assert f"listen 443 {ssl};" in app
    else:
        assert not [line for line in lines if "443" in line or "ssl" in line or "http2" in line], lines
        assert not [line for line in lines if line.startswith("return 301")]
        assert "Strict-Transport-Security" not in config and "geo " not in config
        catch_all, app = servers(config)
        assert "return 444;" in catch_all and "listen 80;" in app

    upstream = config[config.index("upstream quote_app_app {"):config.index("}", config.index("upstream quote_app_app {"))]
    if balanced:
        for server in UPSTREAMS:
            assert f"server {server} max_fails=1 fail_timeout=10s;" in lines
        assert "unix:" not in config
        assert "zone quote_app_upstream 64k;" in lines
        assert "log_format quote_app_upstream" in config
        # /healthz and / (and, with HTTPS, /healthz for loopback clients over HTTP)
        assert lines.count("proxy_next_upstream_tries 2;") == (3 if tls else 2)
        assert "access_log /var/log/nginx/quote-app.access.log quote_app_upstream buffer=64k flush=5s;" in lines
    else:
        assert "server unix:/run/quote-app.sock fail_timeout=0;" in lines
        assert "max_fails" not in upstream and "zone " not in upstream
        assert "log_format" not in config and "proxy_next_upstream" not in config
        assert "access_log /var/log/nginx/quote-app.access.log combined buffer=64k flush=5s;" in lines
    assert "keepalive 16;" in upstream

    # The app's locations are in the server that serves the app, HTTPS when it is on.
    assert "location /static/ {" in app and "alias /opt/quote-app/current/static/;" in app
    assert "limit_req zone=quote_app_req burst=20 nodelay;" in app
    assert lines.count("location /static/ {") == 1


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_acme_webroot_is_served_over_plain_http(tls):
    without = site(tls=tls)
    assert "acme-challenge" not in without
    config = site(tls=tls, nginx_acme_webroot="/var/www/acme-challenge")
    assert_well_formed(config)
    # In the site's plain HTTP server only, also once HTTPS is on.
    serving = [server for server in servers(config) if "location ^~ /.well-known/acme-challenge/ {" in server]
    assert len(serving) == 1 and "listen 80;" in serving[0]
    assert "root /var/www/acme-challenge;" in serving[0]


def test_no_static_location_without_a_static_dir():
    config = site(nginx_static_dir="")
    assert_well_formed(config)
    assert "/static/" not in config
    # A directory given without its final '/' gets one: alias maps the rest of the URI onto it.
    assert "alias /srv/static/;" in directives(site(nginx_static_dir="/srv/static"))


def test_https_waits_for_the_certificate_files():
    """A certificate named but not found on the host (not issued yet) serves HTTP only."""
    config = render("site.conf.j2", "1.24.0", tls_files=False, nginx_tls_certificate=CERTIFICATE,
                    nginx_tls_certificate_key=CERTIFICATE)
    assert "443" not in config and "ssl_" not in config
    assert "return 301" not in config


def test_https_on_another_port_redirects_to_that_port():
    config = site(tls=True, nginx_tls_listen_port=8443)
    assert "listen 8443 ssl http2;" in directives(config)
    assert directives(config).count("return 301 https://$host:8443$request_uri;") == 2


def test_without_rejecting_unknown_hosts_the_site_is_the_default_server():
    for tls in (False, True):
        config = site(tls=tls, nginx_reject_unknown_hosts=False)
        lines = directives(config)
        assert_well_formed(config)
        assert "return 444;" not in lines
        assert "listen 80 default_server;" in lines
        assert ("listen 443 ssl http2 default_server;" in lines) == tls
        assert "ssl_reject_handshake on;" not in lines


def test_ipv4_only():
    lines = directives(site(tls=True, nginx_listen_ipv6=False))
    assert not [line for line in lines if line.startswith("listen [::]")]
    assert "listen 443 ssl http2;" in lines


def test_an_unknown_version_renders_the_oldest_syntax():
    """No version read (check mode on a fresh host): __nginx_version is "0"."""
    config = render("site.conf.j2", "", nginx_tls_certificate=CERTIFICATE, nginx_tls_certificate_key=CERTIFICATE)
    assert "listen 443 ssl http2;" in directives(config)
    assert "ssl_reject_handshake" not in config and "http2 on;" not in config


@pytest.mark.parametrize("tls", [False, True])
def test_trusted_proxies_set_the_client_in_every_server_of_the_site(tls):
    config = site(tls=tls, nginx_trusted_proxies=["10.0.0.0/8", "2001:db8::1"])
    assert_well_formed(config)
    ours = [block for block in servers(config) if "server_name _;" not in block]
    assert len(ours) == (2 if tls else 1)
    for block in ours:
        assert {"set_real_ip_from 10.0.0.0/8;", "set_real_ip_from 2001:db8::1;", "real_ip_header X-Forwarded-For;",
                "real_ip_recursive on;"} <= set(block)
    assert "real_ip" not in site(tls=tls) and "set_real_ip_from" not in site(tls=tls)


@pytest.mark.parametrize("tls", [False, True])
def test_healthz_answers_the_host_and_the_listed_balancers_only_when_asked(tls):
    config = site(tls=tls, nginx_health_allow=["10.0.0.0/8"])
    assert_well_formed(config)
    healthz = [block for block in re.findall(r"location = /healthz \{(.*?)\n    \}", config, re.S)]
    assert len(healthz) == (2 if tls else 1)
    for block in healthz:
        lines = directives(block)
        assert lines[:4] == ["allow 127.0.0.1;", "allow ::1;", "allow 10.0.0.0/8;", "deny all;"], lines
    assert "deny all;" not in site(tls=tls)
    # Another app's health path gets the same location, outside the rate limit.
    other = site(tls=tls, nginx_health_path="/health")
    assert "location = /health {" in other and "location = /healthz {" not in other


def test_refused_requests_are_logged_below_the_error_logs_level():
    assert "limit_req_log_level info;" in directives(site())
    assert "limit_req_log_level warn;" in directives(site(nginx_limit_req_log_level="warn"))


def test_main_configuration():
    config = render("nginx.conf.j2")
    lines = directives(config)
    assert_well_formed(config)
    assert "user www-data;" in lines
    assert "worker_rlimit_nofile 2048;" in lines and "worker_connections 1024;" in lines
    assert "access_log /var/log/nginx/access.log combined buffer=64k flush=5s;" in lines
    assert "gzip_min_length 1024;" in lines
    assert "access_log /var/log/nginx/access.log combined;" in directives(render("nginx.conf.j2",
                                                                                  nginx_access_log_buffer=""))


def test_worker_connections_given_as_a_string_are_a_number():
    """-e nginx_worker_connections=4096 arrives as a string: twice it is 8192, not "40964096"."""
    lines = directives(render("nginx.conf.j2", nginx_worker_connections="4096"))
    assert "worker_rlimit_nofile 8192;" in lines and "worker_connections 4096;" in lines


# --- nginx -t, where nginx is installed ------------------------------------------------------

def find_nginx() -> str | None:
    """The distribution's nginx that scripts/nginx-binary.sh unpacks (make unit runs it), or one
    installed on this machine."""
    for candidate in (ROOT / ".testbed" / "nginx" / "usr" / "sbin" / "nginx", Path("/usr/sbin/nginx")):
        if candidate.is_file():
            return str(candidate)
    return shutil.which("nginx")


NGINX = find_nginx()


@functools.cache
def nginx_version() -> str:
    output = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True).stderr
    return re.search(r"nginx/([0-9.]+)", output).group(1)


def understood(version: str) -> bool:
    """Whether the installed nginx understands a site rendered for *version*: each directive the
    template adds from some version on (1.19.4, 1.25.1) is one it knows too."""
    installed = version_key(nginx_version())
    return all(installed >= version_key(since) for since in ("1.19.4", "1.25.1")
               if version_key(version) >= version_key(since))


@pytest.fixture(scope="module")
def nginx_sandbox(tmp_path_factory) -> Path:
    """A directory with a self-signed certificate, for nginx -t."""
    directory = tmp_path_factory.mktemp("nginx")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=web1", "-days", "2", "-keyout", str(directory / "site.pem"),
                    "-out", str(directory / "chain.pem")], check=True, capture_output=True)
    (directory / "site.pem").write_text((directory / "site.pem").read_text() + (directory / "chain.pem").read_text())
    return directory


def nginx_test(directory: Path, name: str, site_config: str) -> subprocess.CompletedProcess[str]:
    """nginx -t of *site_config* inside *directory*: a main file of its own, the site's logs and
    certificate moved there, every path nginx would open or create inside it."""
    work = directory / name
    work.mkdir()
    site_file = work / "site.conf"
    site_file.write_text(site_config.replace("/var/log/nginx/", f"{work}/")
                         .replace(CERTIFICATE, str(directory / "site.pem")))
    temp_paths = "".join(f"    {kind}_temp_path {work}/{kind};\n"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (work / "nginx.conf").write_text(
        f"pid {work}/nginx.pid;\nerror_log {work}/error.log;\nevents {{}}\n"
        f"http {{\n{temp_paths}    access_log {work}/access.log;\n    include {site_file};\n}}\n")
    return subprocess.run([NGINX, "-t", "-q", "-p", f"{work}/", "-e", f"{work}/error.log", "-c", str(work / "nginx.conf")],
                          capture_output=True, text=True, timeout=30, check=False)


def test_nginx_accepts_every_rendering_its_version_understands(nginx_sandbox):
    assert NGINX, "no nginx binary: run scripts/nginx-binary.sh (make unit does)"
    checked = []
    for tls, balanced, version in COMBINATIONS:
        if not understood(version):
            continue
        name = combination_id((tls, balanced, version))
        for variant, values in {"": {}, "-acme": {"nginx_acme_webroot": "/var/www/acme-challenge"},
                                "-proxies": {"nginx_trusted_proxies": ["10.0.0.0/8", "2001:db8::1"],
                                             "nginx_health_allow": ["192.0.2.0/24"]}}.items():
            result = nginx_test(nginx_sandbox, name + variant, site(version, tls, balanced, **values))
            assert result.returncode == 0, f"{name}{variant}: {result.stderr}"
            checked.append(name + variant)
    assert checked
    # And it does read the site: a directive nginx does not know fails the test.
    broken = nginx_test(nginx_sandbox, "broken", site(nginx_extra_directives=["bogus_directive on;"]))
    assert broken.returncode != 0 and 'unknown directive "bogus_directive"' in broken.stderr
