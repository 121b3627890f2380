"""The other certificate sources, and what a failed issuance leaves behind.

These rerun the playbook's tls and nginx parts with other inputs, then put the ACME setup back.
They run after test_https.py (file order), which checks the converged state.
"""

from __future__ import annotations

import html
import json
import ssl
import subprocess
from pathlib import Path

import pytest
from quote_testlib import http_get, molecule_hosts, recap, run_playbook
from tlslib import DOMAIN, https_get, served_certificate

testinfra_hosts = molecule_hosts()

NAMES = ["quote.test", "www.quote.test"]
SERVER_NAMES = [*NAMES, "localhost", "127.0.0.1"]


def converge(**variables: object) -> subprocess.CompletedProcess[str]:
    return run_playbook("--tags", "tls,nginx", "-e", json.dumps(variables))


def output(result: subprocess.CompletedProcess[str]) -> str:
    """Everything the run printed, whitespace flattened (failures go to stderr under molecule)."""
    return " ".join((result.stdout + result.stderr).split())


def der_to_pem(der: bytes) -> str:
    return ssl.DER_cert_to_PEM_cert(der)


def make_pair(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "30", "-subj", f"/CN={DOMAIN}", "-addext", "subjectAltName=DNS:quote.test,DNS:www.quote.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return key, cert


def test_a_failed_challenge_keeps_the_current_certificate(ports):
    before = served_certificate(ports[443])
    result = converge(tls_domains=[*NAMES, "nowhere.test"], nginx_server_names=[*SERVER_NAMES, "nowhere.test"])
    assert result.returncode != 0
    assert "No certificate for quote.test, www.quote.test, nowhere.test from https://localhost:14000/dir" \
        in output(result)
    assert "no such host" in output(result), output(result)[output(result).find("No certificate"):][:1500]
    assert "HTTPS with the previous certificate" in output(result)
    assert served_certificate(ports[443]) == before
    context = ssl.create_default_context()
    context.load_verify_locations(cadata=der_to_pem(before))
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    assert https_get(ports[443], "/", context)[0] == 200


def test_self_signed_certificate(ports):
    result = converge(tls_certificate_source="selfsigned")
    assert result.returncode == 0, result.stdout[-3000:]
    pem = der_to_pem(served_certificate(ports[443]))
    context = ssl.create_default_context(cadata=pem)  # it is its own CA
    for name in NAMES:
        assert https_get(ports[443], "/", context, server_name=name)[0] == 200
    again = converge(tls_certificate_source="selfsigned")
    assert recap(again.stdout)[next(iter(recap(again.stdout)))]["changed"] == 0, again.stdout[-3000:]


def test_provided_certificate_is_checked_and_kept_secret(ports, tmp_path):
    key_a, cert_a = make_pair(tmp_path, "a")
    key_b, _ = make_pair(tmp_path, "b")
    before = served_certificate(ports[443])

    mismatched = converge(tls_certificate_source="provided", tls_certificate_src=str(cert_a),
                          tls_certificate_key_src=str(key_b))
    assert mismatched.returncode != 0
    assert "the provided certificate was not installed" in output(mismatched)
    assert served_certificate(ports[443]) == before

    good = converge(tls_certificate_source="provided", tls_certificate_pem=cert_a.read_text(),
                    tls_certificate_key_pem=key_a.read_text())
    assert good.returncode == 0, good.stdout[-3000:]
    assert der_to_pem(served_certificate(ports[443])).strip() == cert_a.read_text().strip()
    for run in (mismatched, good):
        for key in (key_a, key_b):
            body = key.read_text().splitlines()[1]
            assert body not in run.stdout + run.stderr, "a private key appeared in the Ansible output"


def test_failed_first_issuance_leaves_the_http_site_serving(host, ports, bundled_quotes):
    host.check_output("certbot delete --non-interactive --cert-name quote-app")
    result = converge(tls_acme_directory_url="https://localhost:14999/dir")
    assert result.returncode != 0
    assert "No certificate for quote.test, www.quote.test from https://localhost:14999/dir" in output(result)
    assert "Connection refused" in output(result), output(result)[output(result).find("No certificate"):][:1500]
    assert "HTTP only" in output(result)
    reply = http_get(f"http://127.0.0.1:{ports[80]}/", headers={"Host": DOMAIN}, follow=False)
    assert reply.status == 200
    assert any(html.escape(str(quote["film"])) in reply.body for quote in bundled_quotes)
    assert host.run("nginx -t").rc == 0


def test_the_next_run_obtains_the_certificate_and_switches_to_https(host, ports):
    result = converge()
    assert result.returncode == 0, result.stdout[-3000:]
    assert host.file("/etc/letsencrypt/live/quote-app/fullchain.pem").exists
    reply = http_get(f"http://127.0.0.1:{ports[80]}/", headers={"Host": DOMAIN}, follow=False)
    assert reply.status == 301
    again = converge()
    assert recap(again.stdout)[next(iter(recap(again.stdout)))]["changed"] == 0, again.stdout[-3000:]
