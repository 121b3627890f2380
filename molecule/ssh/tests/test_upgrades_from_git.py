"""Your own app from a private git repository over SSH, as on a real server: the host clones with
the SSH agent the operator's connection forwards, then with a deploy key file on the host, under
load. No key lands in a release or in the run's output. They run last (file names sort so)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
from quote_testlib import PROJECT_DIR, deploy, http_get, molecule_hosts, traffic

testinfra_hosts = molecule_hosts()

SSH_PORT = int(os.environ["QUOTE_SSH_TEST_PORT"])
KEY = PROJECT_DIR / ".testbed" / "ssh" / "id_ed25519"
REPO = "/srv/git/quote.git"
WORK = "/srv/git-work"
GIT = f"git -C {WORK} -c user.name=test -c user.email=test@example.invalid"


@pytest.fixture(scope="module")
def repository(host) -> str:
    """The quote app in a bare repository of the deploy user, which only its key may read: the
    host reaches it over SSH, as it would reach a forge."""
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get install -y -q git >/dev/null")
    host.check_output(f"rm -rf {WORK} /srv/git && mkdir -p /srv/git")
    subprocess.run(["podman", "cp", str(PROJECT_DIR / "files" / "app"), f"{host.backend.name}:{WORK}"], check=True)
    host.check_output(
        f"set -e; git init -q --bare -b main {REPO}; git -C {WORK} init -q -b main; "
        f"{GIT} add .; {GIT} commit -qm first; {GIT} push -q {REPO} main; chown -R deploy: /srv/git")
    return f"ssh://deploy@127.0.0.1:{SSH_PORT}{REPO}"


def push(host, message: str) -> str:
    """Commit a change to the app's quotes, push it as the deploy user, return its commit id."""
    host.check_output(f"echo >> {WORK}/quotes.json && {GIT} commit -qam {message} && chown -R root: /srv/git "
                      f"&& {GIT} push -q {REPO} main && chown -R deploy: /srv/git")
    return host.check_output(f"{GIT} rev-parse HEAD")


@pytest.fixture
def agent(tmp_path, monkeypatch) -> Iterator[str]:
    """An SSH agent on this machine holding the deploy user's key, as the operator's would."""
    socket = str(tmp_path / "agent.sock")
    process = subprocess.Popen(["ssh-agent", "-D", "-a", socket], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if os.path.exists(socket):
                break
            subprocess.run(["sleep", "0.1"], check=True)
        subprocess.run(["ssh-add", "-q", str(KEY)], env={**os.environ, "SSH_AUTH_SOCK": socket}, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", socket)
        yield socket
    finally:
        process.terminate()
        process.wait()


def git_deploy(url: str, **extra: object) -> subprocess.CompletedProcess[str]:
    return deploy(quote_app_source="git", quote_app_git_repo=url, quote_app_git_version="main",
                  quote_app_version="git", **extra)


def assert_no_key_anywhere(host, result: subprocess.CompletedProcess[str]) -> None:
    secret = KEY.read_text(encoding="utf-8").splitlines()[1]
    assert secret not in result.stdout + result.stderr
    assert host.run("grep -rl 'PRIVATE KEY' /opt/quote-app /etc/quote-app /var/log/quote-app").stdout == ""


def test_the_host_clones_with_the_agent_the_connection_forwards(host, site_url, repository, agent):
    head = host.check_output(f"{GIT} rev-parse HEAD")
    with traffic(site_url + "/healthz") as seen:
        result = git_deploy(
            repository,
            ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
                                    " -o ForwardAgent=yes")
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(seen) == {200}, seen
    health = http_get(site_url + "/healthz").json()
    assert health["commit"] == head and health["version"] == "git", health
    assert_no_key_anywhere(host, result)


def test_the_host_clones_with_a_deploy_key_file(host, site_url, repository):
    host.check_output("install -d -m 0700 /root/.ssh")
    subprocess.run(["podman", "cp", str(KEY), f"{host.backend.name}:/root/.ssh/quote_deploy_key"], check=True)
    host.check_output("chown root: /root/.ssh/quote_deploy_key && chmod 0600 /root/.ssh/quote_deploy_key")
    head = push(host, "second")
    with traffic(site_url + "/healthz") as seen:
        result = git_deploy(repository, quote_app_git_key_file="/root/.ssh/quote_deploy_key")
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(seen) == {200}, seen
    assert http_get(site_url + "/healthz").json()["commit"] == head
    assert_no_key_anywhere(host, result)
