"""Which program holds a port the site must listen on, from real `ss -Hltnp` output, as the nginx
role reads it before it changes anything (see role_templar)."""

from __future__ import annotations

from role_templar import evaluate

SS = """\
LISTEN 0      511          0.0.0.0:80        0.0.0.0:* users:(("apache2",pid=812,fd=4),("apache2",pid=811,fd=4))
LISTEN 0      511             [::]:80           [::]:* users:(("apache2",pid=812,fd=6))
LISTEN 0      4096       127.0.0.1:8443      0.0.0.0:* users:(("python3",pid=901,fd=3))
LISTEN 0      511          0.0.0.0:8080      0.0.0.0:* users:(("nginx",pid=466,fd=5),("nginx",pid=465,fd=5))
LISTEN 0      4096               *:22           *:* users:(("sshd",pid=88,fd=3),("systemd",pid=1,fd=82))
"""


def holders(**values) -> list[str]:
    return evaluate("nginx", "__nginx_port_holders", __nginx_listeners={"stdout": SS}, **values)


def test_another_program_on_the_sites_port_is_named_once():
    assert holders() == ["port 80 is held by apache2 (pid 812)"]


def test_the_https_port_counts_once_https_is_wanted():
    assert holders(nginx_listen_port=8080) == []  # nginx itself holds 8080: a reload takes it over
    assert holders(nginx_listen_port=8080, nginx_tls_listen_port=8443,
                   nginx_tls_certificate="/etc/ssl/site.pem") == ["port 8443 is held by python3 (pid 901)"]


def test_free_ports_pass():
    assert holders(nginx_listen_port=81) == []
    assert evaluate("nginx", "__nginx_port_holders", __nginx_listeners={"stdout": ""}) == []
