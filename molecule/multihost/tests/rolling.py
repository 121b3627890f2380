"""Helpers of the multihost tests: what the web host logged, and what each app host serves
(asked from the web host, the only host its firewall admits)."""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter

from quote_testlib import SITE_ACCESS_LOG, flush_access_logs


def upstreams_seen(web, lines: int) -> Counter:
    """How often each app server answered in the last *lines* requests of the web host's log."""
    flush_access_logs(web)
    tail = web.check_output(f"tail -n {lines} {SITE_ACCESS_LOG}")
    # $upstream_addr lists every server tried ("a:8000, b:8000"); the last one answered.
    return Counter(tried.split(", ")[-1] for tried in re.findall(r" upstream=(.*?) upstream_time=", tail))


# Run inside a host with its arguments as JSON: GETs sent at once, each answered by [status, body]
# (status 0: no answer in time).
_GET_SCRIPT = """
import concurrent.futures, json, sys, urllib.error, urllib.request
url, count, headers, timeout = json.loads(sys.argv[1])
def get(_):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except Exception:
        return 0, ""
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    print(json.dumps(list(pool.map(get, range(count)))))
"""


def get_from(host, url: str, count: int = 1, headers: dict[str, str] | None = None,
             timeout: float = 3) -> list[tuple[int, str]]:
    """Status and body of *count* GETs of *url* sent at once from inside *host*."""
    arguments = json.dumps([url, count, headers or {}, timeout])
    output = host.check_output(f"python3 -c {shlex.quote(_GET_SCRIPT)} {shlex.quote(arguments)}")
    return [(status, body) for status, body in json.loads(output)]


def fetch_from(host, url: str) -> int:
    """HTTP status of *url* fetched from inside *host*, or 0 if nothing answered within 3 s."""
    return get_from(host, url)[0][0]


def app_version(web, address: str, port: int = 8000) -> str | None:
    """The release id the app host at *address* reports on /healthz, or None if it does not answer."""
    status, body = get_from(web, f"http://{address}:{port}/healthz")[0]
    return json.loads(body)["version"] if status == 200 else None
