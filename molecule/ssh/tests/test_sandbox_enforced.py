"""The service's sandbox is enforced, not only scored: this container has CAP_SYS_ADMIN, so
systemd really builds the namespaces, and the running service's own kernel state is checked."""

from __future__ import annotations

import pytest
from quote_testlib import molecule_hosts

testinfra_hosts = molecule_hosts()


@pytest.fixture(scope="module")
def pids(host) -> list[str]:
    """The gunicorn master and its workers."""
    main = host.check_output("systemctl show -P MainPID quote-app.service")
    workers = host.check_output(f"pgrep -P {main}").split()
    assert main != "0" and workers
    return [main, *workers]


def status(host, pid: str) -> dict[str, str]:
    lines = host.check_output(f"cat /proc/{pid}/status").splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def test_processes_have_no_capabilities_seccomp_and_no_new_privileges(host, pids):
    for pid in pids:
        state = status(host, pid)
        assert int(state["CapEff"], 16) == 0, pid
        assert int(state["CapBnd"], 16) == 0, pid
        assert state["NoNewPrivs"] == "1", pid
        assert state["Seccomp"] == "2", pid


@pytest.mark.parametrize("namespace", ["mnt", "net"])
def test_service_runs_in_its_own_namespaces(host, pids, namespace):
    own = host.check_output(f"readlink /proc/{pids[0]}/ns/{namespace}")
    assert own != host.check_output(f"readlink /proc/1/ns/{namespace}")


def in_service(host, pid: str, command: str):
    """Run *command* as root inside the service's mount and network namespaces."""
    return host.run(f"nsenter --target {pid} --mount --net -- sh -c {command!r}")


def test_service_cannot_write_under_usr(host, pids):
    result = in_service(host, pids[0], "touch /usr/sandbox-probe")
    assert result.rc != 0
    assert "Read-only file system" in result.stderr
    assert not host.file("/usr/sandbox-probe").exists


def test_service_sees_no_home_directories(host, pids):
    assert "deploy" in host.check_output("ls -A /home")
    assert in_service(host, pids[0], "ls -A /home /root").stdout.split() in ([], ["/home:", "/root:"])


def test_service_has_a_private_tmp(host, pids):
    host.check_output("touch /tmp/host-side-probe")
    try:
        assert in_service(host, pids[0], "test -e /tmp/host-side-probe").rc != 0
    finally:
        host.run("rm -f /tmp/host-side-probe")


def test_service_cannot_open_a_raw_socket(host, pids):
    probe = (
        "setpriv --reuid quote-app --regid quote-app --clear-groups --inh-caps=-all --bounding-set=-all "
        "python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'"
    )
    result = in_service(host, pids[0], probe)
    assert result.rc != 0
    assert "PermissionError" in result.stderr


def test_service_network_has_only_loopback(host, pids):
    links = in_service(host, pids[0], "ip -o link show").stdout.splitlines()
    assert [line.split(":")[1].strip() for line in links] == ["lo"]
