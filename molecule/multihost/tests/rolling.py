"""Helpers of the multihost tests: what the web host logged, and what each app host serves
(asked from the web host, the only host its firewall admits)."""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter

from quote_testlib import SITE_ACCESS_LOG, flush_access_logs


def upstreams_seen(web, lines: int) -> Counter:
    """How often each app server answered in the last *lines* requests of the web host's log."""
    flush_access_logs(web)
    tail = web.check_output(f"tail -n {lines} {SITE_ACCESS_LOG}")
    # $upstream_addr lists every server tried ("a:8000, b:8000"); the last one answered.
    return Counter(tried.split(", ")[-1] for tried in re.findall(r" upstream=(.*?) upstream_time=", tail))


def fetch_from(host, url: str) -> int:
    """HTTP status of *url* fetched from inside *host*, or 0 if nothing answered within 3 s."""
    script = (
        "import urllib.request\n"
        "try:\n"
        f"    print(urllib.request.urlopen({url!r}, timeout=3).status)\n"
        "except Exception:\n"
        "    print(0)\n"
    )
    return int(host.check_output(f"python3 -c {subprocess.list2cmdline([script])}").split()[-1])


def app_version(web, address: str, port: int = 8000) -> str | None:
    """The release id the app host at *address* reports on /healthz, or None if it does not answer."""
    script = (
        "import urllib.request\n"
        "try:\n"
        f"    print(urllib.request.urlopen('http://{address}:{port}/healthz', timeout=3).read().decode())\n"
        "except Exception:\n"
        "    print('null')\n"
    )
    answer = json.loads(web.check_output(f"python3 -c {subprocess.list2cmdline([script])}"))
    return answer["version"] if answer else None
