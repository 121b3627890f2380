#!/usr/bin/env bash
# The README's promise, end to end over SSH: `make deploy` on a fresh sandbox host serves the
# page, enables the firewall without cutting the connection, and a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

http_port=${SANDBOX_HTTP_PORT:-8080}
logs=$(mktemp -d)
passed=0
failed=0
check() {  # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "PASS: $what"
	else
		failed=$((failed + 1))
		echo "FAIL: $what"
	fi
}
cleanup() {
	scripts/sandbox.sh down >/dev/null 2>&1 || true
	rm -rf "$logs"
}
trap cleanup EXIT

scripts/sandbox.sh down
make --no-print-directory deploy 2>&1 | tee "$logs/first.log"
make --no-print-directory deploy 2>&1 | tee "$logs/second.log"

lacks() { ! grep -q "$1" "${@:2}"; }  # lacks PATTERN FILE...
recap() { grep -E '^quote-sandbox +: ok=' "$1"; }
check "first deploy succeeds" grep -qE 'failed=0' <(recap "$logs/first.log")
check "first deploy changes the host" grep -qvE 'changed=0 ' <(recap "$logs/first.log")
# plugins/strategy/mitogen_linear.py warns this way when it falls back to the linear strategy.
check "the deploys ran under mitogen, not the linear fallback" \
	lacks 'running the linear strategy without it' "$logs/first.log" "$logs/second.log"
check "second deploy reports changed=0" grep -qE 'changed=0 +unreachable=0 +failed=0' <(recap "$logs/second.log")
check "the page answers on 127.0.0.1:$http_port" \
	grep -q 'Quote of the day' <(curl -fsS --max-time 10 "http://127.0.0.1:$http_port/")
check "/healthz answers ok" grep -q '"status":"ok"' <(curl -fsS --max-time 10 "http://127.0.0.1:$http_port/healthz")
check "UFW is active and SSH still reaches the host" \
	grep -q 'Status: active' <(scripts/sandbox.sh ssh sudo -n ufw status)

echo "sandbox deploy: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
