#!/usr/bin/env bash
# The "sandbox host" for `make deploy`: a throwaway container (Ubuntu 26.04 LTS unless
# SANDBOX_PLATFORM says otherwise) that behaves like a fresh cloud host reached over SSH
# as the sudo user `deploy`.
#
# Usage: scripts/sandbox.sh up|down|status|key|ssh-config|ssh [COMMAND...]
#   up          reuse the running container (if it runs the platform asked for: else it is
#               replaced), or create it and wait until `ssh deploy@... sudo -n true` works;
#               print an inventory line (also in .testbed/sandbox.ini)
#   down        remove the container (no error if absent)
#   key         make the controller key pair in .testbed/ssh/ if it is missing
#   status      print whether it runs (exit 0 if running, 3 if not)
#   ssh-config  print an ssh_config "Host" block for it
#   ssh         run a command (or a shell) on it as deploy
# Environment: SANDBOX_PLATFORM (ubuntu2604: what a new user would pick for a fresh Ubuntu
#   host today; any platform of `scripts/testbed-image.sh --list`),
#   SANDBOX_SSH_PORT (2222), SANDBOX_HTTP_PORT (8080), SANDBOX_WAIT (60 s),
#   SANDBOX_NAME (quote-sandbox; another name is another host of the same kind, as `make bench`
#   makes, with its inventory line in .testbed/<name>.ini)
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# crun cannot run on the cgroups v1/v2 hybrid hosts; containers.conf selects runc.
export CONTAINERS_CONF="$script_dir/containers.conf"

readonly NAME=${SANDBOX_NAME:-quote-sandbox}
readonly PLATFORM=${SANDBOX_PLATFORM:-ubuntu2604}
readonly IMAGE=${TESTBED_REPO:-localhost/quote-testbed}:$PLATFORM
readonly SSH_PORT=${SANDBOX_SSH_PORT:-2222}
readonly HTTP_PORT=${SANDBOX_HTTP_PORT:-8080}
readonly WAIT=${SANDBOX_WAIT:-60}
readonly USER_NAME=deploy
# Local state (key pair, inventory) lives in the git-ignored .testbed/ only.
testbed_dir=$(cd "$script_dir/.." && pwd)/.testbed
readonly KEY=$testbed_dir/ssh/id_ed25519
if [[ $NAME == quote-sandbox ]]; then
	readonly INVENTORY=$testbed_dir/sandbox.ini
else
	readonly INVENTORY=$testbed_dir/$NAME.ini
fi
# The sandbox's host keys are new on every `up`: never record them.
readonly SSH_OPTS=(-i "$KEY" -p "$SSH_PORT" -o IdentitiesOnly=yes -o BatchMode=yes
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
	-o ConnectTimeout=5)

# The comment block at the top of this file is the help text.
print_header() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; }
log() { printf '[sandbox] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
	print_header
	exit 2
}

ensure_tools() {
	if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
		log "installing podman"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			podman runc debootstrap uidmap slirp4netns fuse-overlayfs
	fi
	if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssh-client
	fi
}

ensure_key() {
	[[ -f $KEY && -f $KEY.pub ]] && return 0
	install -d -m 0700 "$testbed_dir" "$testbed_dir/ssh"
	rm -f "$KEY" "$KEY.pub"
	ssh-keygen -q -t ed25519 -N '' -C "$NAME-controller" -f "$KEY"
	log "generated $KEY"
}

# Podman's default limits exceed this machine's hard limits and it lacks
# CAP_SYS_RESOURCE to raise them: pass limits within the hard limit.
nofile_limit() {
	local hard
	hard=$(ulimit -Hn)
	if [[ $hard == unlimited ]] || ((hard > 65536)); then
		hard=65536
	fi
	echo "$hard"
}

remove_container() {
	podman rm --force --ignore --time 0 "$NAME" >/dev/null
}

# An image's label (empty when it has none). testbed-image.sh records there how a
# container of the image must start: its init command and extra podman options.
image_label() {
	podman image inspect --format "{{index .Labels \"$1\"}}" "$IMAGE"
}

inventory_line() {
	printf "%s ansible_host=127.0.0.1 ansible_port=%s ansible_user=%s ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes' ansible_host_key_checking=false\n" \
		"$NAME" "$SSH_PORT" "$USER_NAME" "$KEY"
}

cmd_up() {
	ensure_tools
	# Builds the image when missing or stale, otherwise returns at once.
	"$script_dir/testbed-image.sh" "$PLATFORM" || die "no image for platform '$PLATFORM'"
	ensure_key
	# A running sandbox is kept: `make deploy` again must converge the same host (changed=0).
	# `down` (make destroy) first for a fresh one. One of another platform is not what was
	# asked for: it is replaced below.
	local running_image=""
	if [[ $(podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null) == true ]]; then
		running_image=$(podman inspect --format '{{.ImageName}}' "$NAME")
	fi
	if [[ -n $running_image && $running_image != "$IMAGE" ]]; then
		log "$NAME runs $running_image, not $IMAGE (SANDBOX_PLATFORM=$PLATFORM): replacing it"
	elif [[ -n $running_image ]] &&
		ssh "${SSH_OPTS[@]}" "$USER_NAME@127.0.0.1" sudo -n true 2>/dev/null; then
		log "$NAME is running: reused (scripts/sandbox.sh down for a fresh one)"
		printf '[sandbox]\n%s\n' "$(inventory_line)" >"$INVENTORY"
		inventory_line
		return 0
	fi
	# Anything else of that name (stopped, unreachable) is replaced by a fresh host; images are reused.
	remove_container
	local nofile init opts=()
	nofile=$(nofile_limit)
	init=$(image_label quote-testbed.init)
	read -r -a opts <<<"$(image_label quote-testbed.podman-opts)"
	# A failed start (e.g. a port taken) leaves a "Created" container behind.
	if ! podman run --detach --name "$NAME" --hostname "$NAME" \
		--systemd=always \
		--cap-add NET_ADMIN --cap-add NET_RAW "${opts[@]}" \
		--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 \
		--publish "127.0.0.1:$SSH_PORT:22" --publish "127.0.0.1:$HTTP_PORT:80" \
		--volume "$KEY.pub:/etc/ssh/authorized_keys.d/$USER_NAME:ro" \
		"$IMAGE" "${init:-/sbin/init}" >/dev/null; then
		remove_container
		die "cannot start $NAME (ports 127.0.0.1:$SSH_PORT and :$HTTP_PORT free?)"
	fi

	local start=$SECONDS
	until ssh "${SSH_OPTS[@]}" "$USER_NAME@127.0.0.1" sudo -n true 2>/dev/null; do
		if [[ $(podman inspect --format '{{.State.Running}}' "$NAME" 2>/dev/null) != true ]]; then
			podman logs --tail 30 "$NAME" >&2 || true
			remove_container
			die "container $NAME stopped while booting"
		fi
		if ((SECONDS - start >= WAIT)); then
			log "no SSH after $WAIT s; last attempt and the sandbox's view:"
			ssh "${SSH_OPTS[@]}" "$USER_NAME@127.0.0.1" sudo -n true || true
			podman exec "$NAME" systemctl --no-pager status ssh.socket ssh.service testbed-ssh-hostkeys.service >&2 || true
			remove_container
			die "sandbox did not become reachable"
		fi
		sleep 1
	done
	log "$NAME up ($PLATFORM): ssh deploy@127.0.0.1 -p $SSH_PORT, http://127.0.0.1:$HTTP_PORT/ (ready in $((SECONDS - start)) s)"
	printf '[sandbox]\n%s\n' "$(inventory_line)" >"$INVENTORY"
	inventory_line
}

cmd_down() {
	if podman container exists "$NAME"; then
		remove_container
		log "$NAME removed"
	else
		log "$NAME absent"
	fi
}

cmd_status() {
	local state
	if ! state=$(podman inspect --format '{{.State.Status}}' "$NAME" 2>/dev/null); then
		echo "$NAME: absent"
		return 3
	fi
	echo "$NAME: $state"
	[[ $state == running ]] || return 3
}

cmd_ssh_config() {
	cat <<-EOF
		Host $NAME
		  HostName 127.0.0.1
		  Port $SSH_PORT
		  User $USER_NAME
		  IdentityFile $KEY
		  IdentitiesOnly yes
		  StrictHostKeyChecking no
		  UserKnownHostsFile /dev/null
		  LogLevel ERROR
	EOF
}

main() {
	(($# > 0)) || usage
	local cmd=$1
	shift
	case $cmd in
	up) cmd_up ;;
	key)
		ensure_tools
		ensure_key
		;;
	down) cmd_down ;;
	status) cmd_status ;;
	ssh-config) cmd_ssh_config ;;
	ssh)
		[[ -f $KEY ]] || die "no key yet: run '$0 up' first"
		exec ssh "${SSH_OPTS[@]/BatchMode=yes/BatchMode=no}" "$USER_NAME@127.0.0.1" "$@"
		;;
	*) usage ;;
	esac
}

main "$@"
