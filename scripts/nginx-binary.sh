#!/usr/bin/env bash
# The distribution's nginx, unpacked into .testbed/nginx and never installed: no service starts,
# no port opens, /etc/nginx is not touched. tests/unit/test_site_template.py runs `nginx -t` with
# it on every rendering of the site. Needs apt (Debian or Ubuntu); prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$PWD/.testbed/nginx
binary=$dest/usr/sbin/nginx
if [[ ! -x $binary ]]; then
	command -v apt-get >/dev/null || { echo "nginx-binary.sh: needs apt-get (Debian or Ubuntu)" >&2; exit 1; }
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	# The binary is in nginx-core on older releases, in nginx on newer ones: take both.
	download() { (cd "$work" && apt-get download -q nginx-core >/dev/null 2>&1; apt-get download -q nginx >/dev/null 2>&1
		compgen -G '*.deb' >/dev/null); }
	download || { apt-get update -q >/dev/null && download; }
	rm -rf "$dest.partial" && mkdir -p "$dest.partial"
	for package in "$work"/*.deb; do dpkg-deb -x "$package" "$dest.partial"; done
	[[ -x $dest.partial/usr/sbin/nginx ]] || { echo "nginx-binary.sh: no usr/sbin/nginx in $(ls "$work")" >&2; exit 1; }
	rm -rf "$dest" && mv "$dest.partial" "$dest"
fi
"$binary" -v 2>/dev/null
echo "$binary"
