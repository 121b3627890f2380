"""Jinja2 tests for the roles' inputs: each form a value may take, written once for every role.

The roles' tasks/validate.yml check their variables with these, e.g.
``gunicorn_working_dir is safe_path`` or ``nginx_listen_port is port``. A string or a number is
read as text, as Ansible's ``match`` test reads it; any other value (a list, a mapping, a boolean,
None) fails the test instead of raising, so that the rule's message names the variable. Patterns
are matched in full: a trailing newline never passes (``match`` lets ``$`` match before one).

    safe_path       an absolute path without '..' components, spaces or shell metacharacters
                    (``trailing_slash=false``: without a final '/')
    account_name    a system user or group name
    port            a TCP port, 1-65535 (an int, or a string of digits)
    unit_name       a systemd unit name without its suffix (at most 64 characters)
    release_name    a release directory name (``max_length``, 80 by default)
    http_url        an http(s) URL: host name, IPv4 or [IPv6] address, optional port and path
                    (``path=true``: the path is required)
    ip_address      an IPv4 or IPv6 address, no brackets or zone (``network=true``: or a network
                    in CIDR notation)
    one_line        a string without line breaks
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

_SAFE_PATH = re.compile(r"(/[A-Za-z0-9_][A-Za-z0-9._-]*)+/?")
_ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_UNIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_HOST = r"([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
_HTTP_URL = re.compile(rf"https?://{_HOST}(:[0-9]{{1,5}})?(?P<path>/\S*)?")
_DIGITS = re.compile(r"[0-9]+")


def _text(value: Any) -> str | None:
    """The value as a string: a string (Ansible's tagged strings are str too) or a number as Jinja's
    match test reads it; None for anything else (lists, mappings, booleans, None)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def safe_path(value: Any, trailing_slash: bool = True) -> bool:
    text = _text(value)
    return (text is not None and _SAFE_PATH.fullmatch(text) is not None
            and (trailing_slash or not text.endswith("/")))


def account_name(value: Any) -> bool:
    text = _text(value)
    return text is not None and _ACCOUNT_NAME.fullmatch(text) is not None


def port(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        if _DIGITS.fullmatch(value) is None:
            return False
        value = int(value)
    return isinstance(value, int) and 1 <= value <= 65535


def unit_name(value: Any) -> bool:
    text = _text(value)
    return text is not None and _UNIT_NAME.fullmatch(text) is not None


def release_name(value: Any, max_length: int = 80) -> bool:
    text = _text(value)
    return text is not None and len(text) <= max_length and _RELEASE_NAME.fullmatch(text) is not None


def http_url(value: Any, path: bool = False) -> bool:
    text = _text(value)
    match = _HTTP_URL.fullmatch(text) if text is not None else None
    return match is not None and (not path or match.group("path") is not None)


def ip_address(value: Any, network: bool = False) -> bool:
    text = _text(value)
    # ipaddress accepts an IPv6 zone ("fe80::1%eth0"), which no listen or firewall rule takes.
    if text is None or "%" in text:
        return False
    try:
        if network:
            ipaddress.ip_network(text, strict=False)
        else:
            ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def one_line(value: Any) -> bool:
    text = _text(value)
    return text is not None and "\n" not in text and "\r" not in text


class TestModule:
    """Ansible's entry point: the tests by name."""

    def tests(self) -> dict[str, Any]:
        return {
            "safe_path": safe_path,
            "account_name": account_name,
            "port": port,
            "unit_name": unit_name,
            "release_name": release_name,
            "http_url": http_url,
            "ip_address": ip_address,
            "one_line": one_line,
        }
