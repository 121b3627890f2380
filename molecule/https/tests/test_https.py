"""HTTPS with a certificate from an ACME CA (pebble, inside the host), checked from this machine.

Every connection goes to the ports the host publishes on 127.0.0.1, with the SNI and Host names
a browser would send.
"""

from __future__ import annotations

import base64
import html
import http.client
import json
import shutil
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
from quote_testlib import http_get, molecule_hosts, run_playbook
from tlslib import DOMAIN, https_get, s_client, served_certificate, write

testinfra_hosts = molecule_hosts()

LIVE = "/etc/letsencrypt/live/quote-app"


@pytest.fixture(scope="module")
def pebble_root(host, tmp_path_factory) -> Path:
    """Pebble's root CA (it makes a new one at every start), fetched from its management API."""
    pem = host.check_output(
        "python3 -c \"import ssl, urllib.request; print(urllib.request.urlopen("
        "'https://localhost:15000/roots/0', context=ssl.create_default_context("
        "cafile='/etc/pebble/server-ca.pem')).read().decode())\""
    )
    assert "BEGIN CERTIFICATE" in pem
    return write(tmp_path_factory.mktemp("pebble") / "root.pem", pem + "\n")


@pytest.fixture(scope="module")
def trusting(pebble_root) -> ssl.SSLContext:
    """A client that trusts pebble's root only, and checks host names."""
    return ssl.create_default_context(cafile=str(pebble_root))


def test_page_is_served_over_https_with_a_certificate_from_the_acme_ca(ports, trusting, bundled_quotes):
    for name in ("quote.test", "www.quote.test"):
        status, headers, body = https_get(ports[443], "/", trusting, server_name=name)
        assert status == 200, name
        assert any(html.escape(str(quote["film"])) in body for quote in bundled_quotes), name
        assert headers["strict-transport-security"] == "max-age=63072000"
        assert headers["x-content-type-options"] == "nosniff"


def test_chain_verifies_against_pebbles_root(ports, pebble_root):
    out = s_client(ports[443], "-CAfile", str(pebble_root), "-verify_return_error", "-verify_hostname", DOMAIN)
    assert "Verify return code: 0 (ok)" in out.stdout, out.stdout[-2000:] + out.stderr[-1000:]


def test_certificate_comes_from_pebble_not_elsewhere(ports, tmp_path):
    """A client trusting only the system CAs must refuse it: the trust comes from pebble's root."""
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get(ports[443], "/", ssl.create_default_context())


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_tls_1_2_and_1_3_are_negotiated(ports, pebble_root, version):
    out = s_client(ports[443], version, "-CAfile", str(pebble_root))
    expected = "TLSv1.3" if version == "-tls1_3" else "TLSv1.2"
    assert f"Protocol  : {expected}" in out.stdout or f"New, {expected}" in out.stdout, out.stdout[-1500:]


@pytest.mark.parametrize("version", ["-tls1_1", "-tls1"])
def test_tls_1_1_and_1_0_are_refused(ports, version):
    # SECLEVEL=0 lets this client offer the old protocol, so a refusal comes from the server.
    out = s_client(ports[443], version, "-cipher", "DEFAULT@SECLEVEL=0")
    assert "no protocols available" not in out.stderr, "the client never offered the protocol"
    assert out.returncode != 0
    assert "Cipher is (NONE)" in out.stdout or "alert protocol version" in out.stderr, out.stderr[-1500:]


def test_testssl_finds_nothing_high_or_critical(ports, pebble_root, tmp_path):
    """testssl.sh's protocol, cipher, certificate and header checks; the summary is kept for the README."""
    assert shutil.which("testssl"), "testssl.sh is not installed (make molecule installs it)"
    report = tmp_path / "testssl.json"
    run = subprocess.run(
        ["testssl", "--ip", "127.0.0.1", "-n", "none", "--quiet", "--color", "0", "--warnings", "off",
         "--add-ca", str(pebble_root), "--jsonfile", str(report), "-p", "-S", "-h",
         f"https://{DOMAIN}:{ports[443]}"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    findings = json.loads(report.read_text(encoding="utf-8"))
    saved = Path(__file__).resolve().parents[3] / ".testbed" / "testssl-https.txt"
    saved.parent.mkdir(exist_ok=True)
    saved.write_text(run.stdout, encoding="utf-8")
    by_id = {f["id"]: f for f in findings}
    assert by_id["TLS1"]["finding"] == "not offered"
    assert by_id["TLS1_1"]["finding"] == "not offered"
    assert by_id["TLS1_3"]["finding"].startswith("offered")
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]
    bad = [f"{f['severity']} {f['id']}: {f['finding']}" for f in findings if f["severity"] in ("HIGH", "CRITICAL")]
    assert bad == []


def test_session_tickets_are_off(ports, pebble_root):
    out = s_client(ports[443], "-tls1_2", "-CAfile", str(pebble_root))
    assert "TLS session ticket:" not in out.stdout


def test_http_redirects_to_https(ports):
    for path in ("/", "/api/quote", "/healthz", "/static/style.css"):
        reply = http_get(f"http://127.0.0.1:{ports[80]}{path}", headers={"Host": DOMAIN}, follow=False)
        assert reply.status == 301, path
        assert reply.headers["location"] == f"https://{DOMAIN}{path}", path


def test_acme_challenge_path_is_served_over_http(host, ports):
    token = f"probe-{time.time_ns()}"
    host.check_output(
        f"mkdir -p /var/www/acme-challenge/.well-known/acme-challenge && "
        f"echo {token} > /var/www/acme-challenge/.well-known/acme-challenge/{token}"
    )
    try:
        reply = http_get(f"http://127.0.0.1:{ports[80]}/.well-known/acme-challenge/{token}",
                         headers={"Host": DOMAIN})
        assert reply.status == 200
        assert reply.body.strip() == token
    finally:
        host.run(f"rm -f /var/www/acme-challenge/.well-known/acme-challenge/{token}")


def test_health_check_over_http_still_works_from_the_host_itself(host):
    out = host.check_output(f"python3 -c \"import urllib.request; r = urllib.request.Request("
                            f"'http://127.0.0.1/healthz', headers={{'Host': '{DOMAIN}'}}); "
                            f"print(urllib.request.urlopen(r).read().decode())\"")
    assert '"version"' in out


def test_unknown_host_names_are_refused_on_443_and_80(ports):
    with pytest.raises(ssl.SSLError):
        served_certificate(ports[443], server_name="other.test")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        http_get(f"http://127.0.0.1:{ports[80]}/", headers={"Host": "other.test"})


def test_private_key_is_root_only(host):
    key = host.file(f"{LIVE}/privkey.pem")
    assert key.is_symlink
    target = host.file(key.linked_to)
    assert target.user == "root"
    assert target.mode & 0o077 == 0, oct(target.mode)
    assert host.file("/etc/letsencrypt/archive").mode & 0o077 == 0
    assert host.check_output("find /etc/letsencrypt -name 'privkey*' -type f -perm /o+r") == ""


def test_renewal_timer_and_hook_are_in_place(host):
    assert host.service("certbot.timer").is_enabled
    assert host.service("certbot.timer").is_running
    hook = host.file("/etc/letsencrypt/renewal-hooks/deploy/quote-app-reload")
    assert hook.mode == 0o755 and hook.user == "root"
    env = host.check_output("systemctl show certbot.service --property=Environment")
    assert "REQUESTS_CA_BUNDLE=/etc/letsencrypt/quote-app-acme-server-ca.pem" in env
    conf = host.file("/etc/letsencrypt/renewal/quote-app.conf").content_string
    assert "authenticator = webroot" in conf
    assert "server = https://localhost:14000/dir" in conf


def test_forced_renewal_reloads_nginx_without_a_failed_request(host, ports, trusting):
    before = served_certificate(ports[443])
    master = host.check_output("cat /run/nginx.pid")
    results: list[str] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            try:
                status, _, _ = https_get(ports[443], "/healthz", trusting)
                results.append("ok" if status == 200 else f"status {status}")
            except (OSError, ssl.SSLError, http.client.HTTPException) as error:
                results.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        # What certbot.timer runs, forced: the same environment (the ACME server's CA) as its unit.
        renewal = host.run("REQUESTS_CA_BUNDLE=/etc/letsencrypt/quote-app-acme-server-ca.pem "
                           "certbot renew --force-renewal --cert-name quote-app --no-random-sleep-on-renew")
        time.sleep(2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert renewal.rc == 0, renewal.stdout + renewal.stderr
    after = served_certificate(ports[443])
    assert after != before, "nginx still serves the old certificate: the deploy hook did not reload it"
    assert host.check_output("cat /run/nginx.pid") == master, "nginx was restarted, not reloaded"
    failures = [r for r in results if r != "ok"]
    assert len(results) > 20
    assert failures == [], failures[:5]


def test_a_renewal_nginx_never_loaded_is_served_after_the_next_run(host, ports):
    """As when the deploy hook's `nginx -t` failed: the file on disk is fresh, nginx still serves
    the old certificate. The next run compares what nginx serves with the file, and reloads."""
    before = served_certificate(ports[443])
    # Renewed without the deploy hook: nothing reloads nginx.
    renewal = host.run("REQUESTS_CA_BUNDLE=/etc/letsencrypt/quote-app-acme-server-ca.pem "
                       "certbot renew --force-renewal --cert-name quote-app --no-random-sleep-on-renew "
                       "--no-directory-hooks")
    assert renewal.rc == 0, renewal.stdout + renewal.stderr
    on_disk = base64.b64decode(host.check_output(
        "openssl x509 -in /etc/letsencrypt/live/quote-app/fullchain.pem -outform DER | base64 -w0"))
    assert on_disk != before and served_certificate(ports[443]) == before
    result = run_playbook("--tags", "tls,nginx")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Reload nginx, which serves another certificate than its file holds" in result.stdout
    assert served_certificate(ports[443]) == on_disk
