#!/usr/bin/env bash
# Print lynis's hardening index for a converged test container (a reference figure, not a gate).
# Usage: scripts/lynis-audit.sh CONTAINER   e.g. after `make deploy`: scripts/lynis-audit.sh quote-sandbox
# lynis is installed inside that container only; the controller is never audited or changed.
set -euo pipefail
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF="$script_dir/containers.conf"

container=${1:?usage: $0 CONTAINER}
podman exec "$container" sh -c 'command -v lynis >/dev/null || {
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lynis >/dev/null; }'
podman exec "$container" lynis audit system --quick --no-colors >/dev/null 2>&1 || true
podman exec "$container" sh -c "grep -E '^(hardening_index|lynis_version|tests_executed|warning\[\]|suggestion\[\])=' /var/log/lynis-report.dat" |
	awk -F= '/^hardening_index/ {hi=$2} /^lynis_version/ {v=$2} /^warning/ {w++} /^suggestion/ {s++}
		END {printf "lynis %s: hardening index %s, %d warnings, %d suggestions\n", v, hi, w, s}'
