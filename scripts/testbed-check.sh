#!/usr/bin/env bash
# Smoke-test the test bed images: each boots systemd to "running" (no failed unit)
# under podman with the flags the tests use plus what the image's labels ask for
# (init command, podman options: see testbed-image.sh), ufw is installed, inactive
# and usable, sshd has host keys, `deploy` has passwordless sudo, and `sudo` is the
# one the platform's cloud image has (sudo-rs on ubuntu2604). With --pip, also
# check that pip in a venv reaches PyPI over HTTPS (i.e. the image trusts the
# proxy CA of the machine that built it).
#
# Usage: scripts/testbed-check.sh [--pip] PLATFORM...   (scripts/testbed-image.sh --list | all)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF="$script_dir/containers.conf"

readonly IMAGE_REPO=${TESTBED_REPO:-localhost/quote-testbed}
mapfile -t ALL_PLATFORMS < <("$script_dir/testbed-image.sh" --list)
readonly ALL_PLATFORMS
created=()

# The comment block at the top of this file is the help text.
print_header() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; }
log() { printf '[testbed-check] %s\n' "$*" >&2; }

cleanup() {
	local c
	for c in "${created[@]}"; do
		podman rm --force --ignore --time 0 "$c" >/dev/null 2>&1 || true
	done
}

nofile_limit() {
	local hard
	hard=$(ulimit -Hn)
	if [[ $hard == unlimited ]] || ((hard > 65536)); then hard=65536; fi
	echo "$hard"
}

# An image's label (empty when it has none).
image_label() {
	podman image inspect --format "{{index .Labels \"$2\"}}" "$1"
}

# The `sudo --version` a platform's cloud image answers with.
expected_sudo() {
	case $1 in
	ubuntu2604) echo sudo-rs ;; # Ubuntu >= 25.10: sudo-rs is the `sudo` alternative
	*) echo "Sudo version" ;;
	esac
}

# Boot one image and report; returns non-zero when it is not healthy.
check_boot() {
	local platform=$1 name="quote-testbed-check-$1-$$" image="$IMAGE_REPO:$1" nofile state rc=0
	local init opts=()
	nofile=$(nofile_limit)
	init=$(image_label "$image" quote-testbed.init)
	read -r -a opts <<<"$(image_label "$image" quote-testbed.podman-opts)"
	created+=("$name")
	podman run --detach --name "$name" --systemd=always \
		--cap-add NET_ADMIN --cap-add NET_RAW "${opts[@]}" \
		--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 \
		"$image" "${init:-/sbin/init}" >/dev/null
	local start=$SECONDS
	# systemctl cannot answer until PID 1 is up; then wait out "starting".
	while :; do
		state=$(podman exec "$name" systemctl is-system-running 2>/dev/null) || true
		case $state in
		"" | offline | initializing | starting) ((SECONDS - start < 60)) || break ;;
		*) break ;;
		esac
		sleep 0.5
	done
	log "$platform: is-system-running=$state after $((SECONDS - start)) s" \
		"($(podman exec "$name" systemctl --version | head -n1); init ${init:-/sbin/init}${opts[*]:+, ${opts[*]}})"
	if [[ $state != running ]]; then
		rc=1
		podman exec "$name" systemctl --failed --no-legend --no-pager >&2 || true
	fi
	# Inactive as on a fresh host, yet working (needs NET_ADMIN): enable it with
	# SSH allowed, check, then turn it off again.
	local ufw_out
	if ufw_out=$(podman exec "$name" sh -ec '
		ufw --version | sed -n 1p
		ufw status | grep -qx "Status: inactive"
		ufw allow 22/tcp >/dev/null
		ufw --force enable >/dev/null
		ufw status | grep -q "^22/tcp *ALLOW"
		ufw --force disable >/dev/null
		echo "inactive at boot; enable/allow/disable OK"' 2>&1); then
		log "$platform: ufw: $(tr '\n' ' ' <<<"$ufw_out")"
	else
		rc=1
		log "$platform: ufw FAILED: $ufw_out"
	fi
	# A real connection (ssh-keyscan), which also covers socket activation (24.04).
	if podman exec "$name" sh -ec 'ssh-keyscan -T 5 -t ed25519 127.0.0.1 2>/dev/null | grep -q ssh-ed25519'; then
		log "$platform: sshd answers with a host key"
	else
		rc=1
		log "$platform: sshd did not answer"
	fi
	# The cloud image's sudo, and passwordless sudo for deploy through it.
	local sudo_version expected
	expected=$(expected_sudo "$platform")
	sudo_version=$(podman exec "$name" sudo --version 2>&1 | head -n 1) || true
	if [[ $sudo_version == "$expected"* ]] &&
		podman exec --user deploy "$name" sudo -n true; then
		log "$platform: $sudo_version; deploy: sudo -n true OK"
	else
		rc=1
		log "$platform: sudo FAILED: '$sudo_version' (expected $expected...) or deploy's sudo -n true"
	fi
	podman rm --force --time 0 "$name" >/dev/null
	return "$rc"
}

# pip in a fresh venv (the distribution's own pip) installing from PyPI, plus
# the other HTTPS clients a deployment uses. `requests` from PyPI trusts its own
# certifi bundle, not the system's: only REQUESTS_CA_BUNDLE makes it use the
# system store (reported, not required).
check_pip() {
	local platform=$1 name="quote-testbed-pip-$1-$$"
	created+=("$name")
	if podman run --name "$name" --rm \
		--ulimit "nofile=$(nofile_limit):$(nofile_limit)" --ulimit nproc=4096:4096 \
		"$IMAGE_REPO:$platform" bash -ec '
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1
		curl -fsS -o /dev/null https://pypi.org/simple/ && echo "curl https: OK"
		python3 -c "import urllib.request as u; u.urlopen(\"https://pypi.org/simple/\")" && echo "python3 urllib https: OK"
		python3 -m venv /tmp/v
		/tmp/v/bin/pip install -q --disable-pip-version-check requests
		echo "$(/tmp/v/bin/pip --version | cut -d" " -f1-2): install requests OK"
		get="import requests; requests.get(\"https://pypi.org/simple/\")"
		if /tmp/v/bin/python -c "$get" 2>/dev/null; then
			echo "venv requests.get https: OK"
		else
			echo "venv requests.get https: fails (certifi bundle)"
		fi
		REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt /tmp/v/bin/python -c "$get"
		echo "venv requests.get with REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt: OK"
		' 2>&1 | sed "s/^/[testbed-check] $platform: /" >&2; then
		log "$platform: HTTPS/pip OK"
	else
		log "$platform: HTTPS/pip FAILED"
		return 1
	fi
}

main() {
	local pip=0 platforms=() p failed=()
	for p in "$@"; do
		case $p in
		--pip) pip=1 ;;
		all) platforms+=("${ALL_PLATFORMS[@]}") ;;
		*)
			[[ " ${ALL_PLATFORMS[*]} " == *" $p "* ]] || { print_header; exit 2; }
			platforms+=("$p")
			;;
		esac
	done
	((${#platforms[@]})) || { print_header; exit 2; }
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	"$script_dir/testbed-image.sh" "${platforms[@]}"
	for p in "${platforms[@]}"; do
		check_boot "$p" || failed+=("$p boot")
		if ((pip)); then check_pip "$p" || failed+=("$p pip"); fi
	done
	if ((${#failed[@]})); then
		log "FAILED: ${failed[*]}"
		exit 1
	fi
	log "all OK: ${platforms[*]}"
}

main "$@"
