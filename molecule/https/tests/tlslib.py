"""TLS clients for the https scenario: every connection goes to 127.0.0.1 with the SNI name we ask."""

from __future__ import annotations

import http.client
import socket
import ssl
import subprocess
from pathlib import Path

DOMAIN = "quote.test"


class NamedConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1:*port* that sends *server_name* as SNI and checks the certificate for it."""

    def __init__(self, port: int, server_name: str, context: ssl.SSLContext, timeout: float = 10.0) -> None:
        super().__init__("127.0.0.1", port, context=context, timeout=timeout)
        self.server_name = server_name

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.server_name)


def https_get(port: int, path: str, context: ssl.SSLContext, server_name: str = DOMAIN) -> tuple[int, dict, str]:
    conn = NamedConnection(port, server_name, context)
    try:
        conn.request("GET", path, headers={"Host": server_name})
        reply = conn.getresponse()
        return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode("utf-8", "replace")
    finally:
        conn.close()


def served_certificate(port: int, server_name: str = DOMAIN) -> bytes:
    """The DER leaf certificate the host presents for *server_name* (not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


def s_client(port: int, *args: str, server_name: str = DOMAIN) -> subprocess.CompletedProcess[str]:
    """openssl s_client against the host; returns its output (stdin closed at once)."""
    return subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", server_name, *args],
        input="", capture_output=True, text=True, timeout=30, check=False,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
