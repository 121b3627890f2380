"""Filter ``quote_topology``: who runs what, and how hosts reach each other, for one host.

``inventory_hostname | quote_topology(groups, hostvars, gunicorn_listen_port)`` reads the groups
quote_servers, quote_web_hosts and quote_app_hosts and, noted by the playbook's first play, each
host's ``quote_address`` (its private address), ``quote_port`` (its gunicorn_listen_port; the
argument when unset) and ``quote_serving_endpoint`` (where its app socket listens now, "" when it
has none) and returns, for that host::

    web            runs nginx (a web host, or a host of quote_servers in neither child group)
    app            runs the app
    balanced_app   an app host behind web hosts (gunicorn on its private address)
    app_address    that private address ("" elsewhere)
    app_endpoint   "address:port" of this app host, IPv6 in brackets ("" elsewhere)
    app_endpoints  every app host's endpoint, in the order of quote_app_hosts
    app_serving_endpoint   where this app host serves now: its socket's "address:port" (a
                   wildcard address replaced by the host's), or app_endpoint when it serves on
                   none yet ("" elsewhere)
    app_serving_endpoints  the same for every app host
    upstream_servers  app_serving_endpoints on a web host, which balances over them ([] elsewhere):
                   an app host whose address or port changes is renamed in the upstream by the
                   rollout once it serves on the new one
    web_addresses  the web hosts' addresses, which an app host admits on its app port
    web_hosts, app_hosts  the two child groups

A host of quote_servers in neither child group runs both, behind its own nginx. A broken
topology raises an error naming the rule it breaks.

``groups | quote_phase_hosts('web')`` (or ``'app'``) lists the hosts that run nginx (or the app),
in the order the playbook's phase plays deploy them: the child group's order first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

SERVERS = "quote_servers"
WEB = "quote_web_hosts"
APP = "quote_app_hosts"


def endpoint(address: str, port: int | str) -> str:
    """address:port, with an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def reachable(listening: str, address: str) -> str:
    """The endpoint a socket listening on *listening* ("address:port") is reached at: a wildcard
    address (0.0.0.0, [::]) is reached at the host's *address*."""
    host, _, port = listening.rpartition(":")
    return endpoint(address, port) if host in ("0.0.0.0", "[::]") else listening


def runs(phase: str, host: str, web_hosts: Sequence[str], app_hosts: Sequence[str]) -> bool:
    """Whether *host* runs nginx (phase "web") or the app (phase "app")."""
    if phase == "web":
        return host in web_hosts or host not in app_hosts
    if phase == "app":
        return host in app_hosts or host not in web_hosts
    raise AnsibleFilterError(f"quote_phase_hosts: the phase is web or app, got {phase!r}")


def quote_phase_hosts(groups: Mapping[str, Sequence[str]], phase: str) -> list[str]:
    web_hosts, app_hosts = list(groups.get(WEB, [])), list(groups.get(APP, []))
    first = web_hosts if phase == "web" else app_hosts
    ordered = list(dict.fromkeys([*first, *groups.get(SERVERS, [])]))
    return [host for host in ordered if runs(phase, host, web_hosts, app_hosts)]


def quote_topology(host: str, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any],
                   app_port: int | str = 8000) -> dict[str, Any]:
    servers = list(groups.get(SERVERS, []))
    web_hosts, app_hosts = list(groups.get(WEB, [])), list(groups.get(APP, []))
    if bool(web_hosts) != bool(app_hosts):
        raise AnsibleFilterError(
            f"quote_web_hosts and quote_app_hosts go together: web hosts {web_hosts}, app hosts {app_hosts}")
    strays = sorted(set(web_hosts + app_hosts) - set(servers))
    if strays:
        raise AnsibleFilterError(f"quote_web_hosts and quote_app_hosts must be child groups of quote_servers: "
                                 f"{', '.join(strays)} not in quote_servers")
    addresses: dict[str, str] = {}
    if app_hosts:
        for name in web_hosts + app_hosts:
            address = str((hostvars.get(name) or {}).get("quote_address", "") or "")
            if not address:
                raise AnsibleFilterError(
                    f"{name} needs an address the other hosts reach: its default IPv4 address, or "
                    "quote_private_address (run without --limit, so that the play can read every host's)")
            addresses[name] = address
    balanced_app = host in app_hosts
    endpoints = [endpoint(addresses[name], (hostvars.get(name) or {}).get("quote_port", app_port))
                 for name in app_hosts]
    serving = [reachable(str((hostvars.get(name) or {}).get("quote_serving_endpoint", "") or ""), addresses[name])
               or target for name, target in zip(app_hosts, endpoints)]
    return {
        "web": runs("web", host, web_hosts, app_hosts),
        "app": runs("app", host, web_hosts, app_hosts),
        "balanced_app": balanced_app,
        "app_address": addresses[host] if balanced_app else "",
        "app_endpoint": endpoints[app_hosts.index(host)] if balanced_app else "",
        "app_endpoints": endpoints,
        "app_serving_endpoint": serving[app_hosts.index(host)] if balanced_app else "",
        "app_serving_endpoints": serving,
        "upstream_servers": serving if host in web_hosts else [],
        "web_addresses": [addresses[name] for name in web_hosts],
        "web_hosts": web_hosts,
        "app_hosts": app_hosts,
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"quote_topology": quote_topology, "quote_phase_hosts": quote_phase_hosts}
