#!/usr/bin/env bash
# Build the local podman images that stand in for fresh cloud hosts in tests:
#   localhost/quote-testbed:PLATFORM   (label quote-testbed.version=<hash>)
#
# Usage: scripts/testbed-image.sh PLATFORM...   (ubuntu2604 ubuntu2404 ubuntu2204 debian12 debian13 | all)
#        scripts/testbed-image.sh --list        # print the known platforms, one a line
#        TESTBED_FORCE=1 scripts/testbed-image.sh all    # rebuild even if up to date
#        TESTBED_UBUNTU_MIRROR=... / TESTBED_DEBIAN_MIRROR=...  # optional, else debootstrap's default
#        TESTBED_CACHE_DIR=DIR   # .deb cache kept between builds (/var/cache/quote-testbed; empty: none)
#
# No container registry is reachable from the build machines, so the images are
# made with debootstrap and `podman import`. An image is reused while its label
# matches a hash of this script and of the host's CA bundle (both shape its contents).
#
# How to start a container of an image is recorded in the image itself, for every
# caller to read (sandbox.sh, testbed-check.sh; molecule.yml repeats it):
#   label quote-testbed.init         the command to run as PID 1 (also the image's CMD)
#   label quote-testbed.podman-opts  podman run options it needs beyond the usual ones
#                                    (--systemd=always, NET_ADMIN/NET_RAW, ulimits)
# Images with systemd >= 258 (ubuntu2604) get an init wrapper: such a systemd refuses to
# boot on the cgroup v1/hybrid layout podman hands a container on these machines, so
# /usr/local/sbin/testbed-init first mounts cgroup2 over /sys/fs/cgroup. That needs
# `--cgroupns=private --cap-add=SYS_ADMIN` (the latter also makes systemd enforce
# service sandboxing for real). On a cgroup v2 host the wrapper just execs /sbin/init.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# crun cannot run on the cgroups v1/v2 hybrid hosts; containers.conf selects runc.
export CONTAINERS_CONF="$script_dir/containers.conf"

# (TESTBED_REPO: build elsewhere, e.g. to time builds without touching the images in use)
readonly IMAGE_REPO=${TESTBED_REPO:-localhost/quote-testbed}
readonly ALL_PLATFORMS=(ubuntu2604 ubuntu2404 ubuntu2204 debian12 debian13)
# The machine's trust store; it includes the CA of the TLS-intercepting proxy that
# HTTPS (pip, curl) passes through here, so the images must trust it too.
readonly HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# What a cloud image has and the playbook may rely on (minbase has none of it).
# python3-apt: Ubuntu and Debian cloud images ship it (unattended-upgrades), and
# Ansible's apt module needs it.
readonly PACKAGES=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,sudo,ufw,procps,iproute2,ca-certificates,curl
# Downloaded packages are kept here between builds (debootstrap --cache-dir).
readonly CACHE_DIR=${TESTBED_CACHE_DIR-/var/cache/quote-testbed}
# No unit needs masking: all platforms boot to "running" with no failed unit
# under podman --systemd=always + runc (checked by testbed-check.sh).
# From this systemd version on, the image needs the cgroup2 init wrapper.
readonly CGROUP2_ONLY_SYSTEMD=258
readonly INIT_WRAPPER=/usr/local/sbin/testbed-init
readonly INIT_WRAPPER_PODMAN_OPTS="--cgroupns=private --cap-add=SYS_ADMIN"

# The comment block at the top of this file is the help text.
print_header() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; }
log() { printf '[testbed-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
	print_header
	exit 2
}

ensure_tools() {
	if [[ $(id -u) -ne 0 ]]; then
		die "must run as root (debootstrap, chroot and rootful podman)"
	fi
	local missing=0 tool
	for tool in podman runc debootstrap; do
		command -v "$tool" >/dev/null || missing=1
	done
	if ((missing)); then
		log "installing podman/debootstrap"
		apt-get update -q
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			podman runc debootstrap uidmap slirp4netns fuse-overlayfs
	fi
}

# Image version: changes whenever this script or the trusted CA set changes.
image_version() {
	cat "${BASH_SOURCE[0]}" "$HOST_CA_BUNDLE" | sha256sum | cut -c1-16
}

# One line per certificate: its base64 body without whitespace. Comparing these
# lines compares the DER certificates themselves, whatever the PEM formatting.
cert_bodies() {
	awk '/-----BEGIN CERTIFICATE-----/ { inside = 1; body = ""; next }
	     /-----END CERTIFICATE-----/   { if (inside) print body; inside = 0; next }
	     inside { gsub(/[ \t\r]/, ""); body = body $0 }' "$1" | sort -u
}

# Per-platform settings, set as globals: suite, dbs_script, family, components,
# gpg_opts, mirror, extra_packages.
platform_params() {
	dbs_script=""
	gpg_opts=()
	extra_packages=""
	case $1 in
	# Ubuntu's images use sudo-rs as `sudo` since 25.10 (configure_sudo).
	ubuntu2604) suite=resolute family=ubuntu extra_packages=,sudo-rs ;;
	ubuntu2404) suite=noble family=ubuntu ;;
	ubuntu2204) suite=jammy family=ubuntu ;;
	debian12) suite=bookworm family=debian ;;
	debian13) suite=trixie family=debian ;;
	*) die "unknown platform '$1' (known: ${ALL_PLATFORMS[*]} all)" ;;
	esac
	if [[ $family == ubuntu ]]; then
		components=main,universe # a cloud image has universe enabled
		mirror=${TESTBED_UBUNTU_MIRROR:-}
		# Older debootstrap (Debian 12) has no script for noble or resolute;
		# newer ones link them to gutsy, so use gutsy directly when it is missing.
		[[ -e /usr/share/debootstrap/scripts/$suite ]] || dbs_script=gutsy
		if [[ -e /usr/share/keyrings/ubuntu-archive-keyring.gpg ]]; then
			gpg_opts=(--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg)
		else
			# Debian has no Ubuntu keyring package. Only the bootstrap is
			# unverified: the result carries ubuntu-keyring and its apt
			# verifies signatures as usual.
			gpg_opts=(--no-check-gpg)
		fi
	else
		components=main
		mirror=${TESTBED_DEBIAN_MIRROR:-}
		[[ -e /usr/share/debootstrap/scripts/$suite ]] || dbs_script=sid
	fi
}

# Run a command inside the root file system with a clean environment.
in_root() {
	chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"
}

# Unmount whatever a failed debootstrap left mounted (proc, sys, ...) before
# deleting, and never let rm cross into another file system.
cleanup_rootfs() {
	[[ -n ${rootfs:-} && -d $rootfs ]] || return 0
	local mnt
	findmnt -rn -o TARGET | awk -v root="$rootfs/" 'index($0, root) == 1' | sort -r |
		while read -r mnt; do umount -l "$mnt" || true; done
	rm -rf --one-file-system "$rootfs"
	rootfs=""
}

# Write the apt sources of a cloud image: release, -updates and -security
# pockets, all on the mirror debootstrap used.
write_sources() {
	local url
	url=$(awk '$1 == "deb" { print $2; exit }' "$rootfs/etc/apt/sources.list")
	[[ -n $url ]] || die "cannot read the mirror from the debootstrap sources.list"
	local comps=${components//,/ }
	{
		echo "deb $url $suite $comps"
		echo "deb $url $suite-updates $comps"
		if [[ $family == ubuntu ]]; then
			echo "deb $url $suite-security $comps"
		elif [[ $url == */debian ]]; then
			# Debian publishes security updates beside the archive as debian-security.
			echo "deb ${url%/debian}/debian-security $suite-security $comps"
		fi
	} >"$rootfs/etc/apt/sources.list"
}

# Trust the certificates the host trusts beyond its distribution's own set (the
# proxy CA among them), then check that the image trusts the host's whole bundle
# except public CAs its newer distribution dropped on purpose.
install_host_cas() {
	local tmp n=0 body f
	tmp=$(mktemp -d)
	cert_bodies "$HOST_CA_BUNDLE" >"$tmp/host"
	cert_bodies "$rootfs/etc/ssl/certs/ca-certificates.crt" >"$tmp/image"
	# The host's packaged (Mozilla) CAs: where the image lacks one of them, its
	# distribution distrusted it (TrustCor, E-Tugra, ...); do not bring it back.
	: >"$tmp/packaged"
	if [[ -d /usr/share/ca-certificates ]]; then
		find /usr/share/ca-certificates -name '*.crt' -type f -exec cat {} + >"$tmp/packaged.pem"
		cert_bodies "$tmp/packaged.pem" >"$tmp/packaged"
	fi
	comm -23 "$tmp/host" "$tmp/packaged" >"$tmp/local"
	# One certificate per file so that update-ca-certificates' rehash links each.
	while read -r body; do
		n=$((n + 1))
		{
			echo "-----BEGIN CERTIFICATE-----"
			fold -w 64 <<<"$body"
			echo "-----END CERTIFICATE-----"
		} >"$rootfs/usr/local/share/ca-certificates/host-ca-bundle-$(printf %03d "$n").crt"
	done < <(comm -23 "$tmp/local" "$tmp/image")
	log "adding $n host CA certificate(s) missing from the image's store"
	if command -v openssl >/dev/null; then
		for f in "$rootfs"/usr/local/share/ca-certificates/host-ca-bundle-*.crt; do
			[[ -e $f ]] && log "  $(openssl x509 -noout -subject -in "$f")"
		done
	fi
	local out
	# (its rehash warns about the bundle file itself: normal, hidden)
	out=$(in_root update-ca-certificates 2>&1) || die "update-ca-certificates: $out"
	cert_bodies "$rootfs/etc/ssl/certs/ca-certificates.crt" >"$tmp/image"
	if [[ -n $(comm -23 "$tmp/local" "$tmp/image") ]]; then
		rm -rf "$tmp"
		die "the image's CA bundle lacks CA certificates the host added"
	fi
	rm -rf "$tmp"
}

# The systemd major version in the root file system (0 if unknown).
systemd_major() {
	local v
	# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
	v=$(in_root dpkg-query -W -f '${Version}' systemd 2>/dev/null) || v=""
	v=${v#*:}
	v=${v%%[!0-9]*}
	echo "${v:-0}"
}

# Sets the globals init_cmd and podman_opts (recorded as labels). systemd >= 258 will
# not boot on cgroup v1 ("Detected unsupported legacy cgroup hierarchy, refusing
# execution", exit 255); these machines give containers a v1/hybrid layout.
configure_init() {
	local major
	major=$(systemd_major)
	init_cmd=/sbin/init
	podman_opts=""
	((major >= CGROUP2_ONLY_SYSTEMD)) || return 0
	log "systemd $major: installing $INIT_WRAPPER (needs podman $INIT_WRAPPER_PODMAN_OPTS)"
	install -d -m 0755 "$rootfs$(dirname "$INIT_WRAPPER")"
	cat >"$rootfs$INIT_WRAPPER" <<-'EOF'
		#!/bin/sh
		# quote-testbed: boot systemd >= 258, which refuses a cgroup v1 or hybrid layout,
		# in a container of a host that hands it one. Unless /sys/fs/cgroup already is a
		# cgroup2 mount (a cgroup v2 host), mount the container's own cgroup2 hierarchy
		# there, then hand over to systemd as PID 1. Needs a private cgroup namespace and
		# CAP_SYS_ADMIN: podman run --cgroupns=private --cap-add=SYS_ADMIN.
		fstype=
		while read -r _ mnt type _; do
			[ "$mnt" = /sys/fs/cgroup ] && fstype=$type
		done </proc/self/mounts
		if [ "$fstype" != cgroup2 ]; then
			mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup 2>/dev/null ||
				mount -t cgroup2 cgroup2 /sys/fs/cgroup ||
				echo "testbed-init: cannot mount cgroup2 on /sys/fs/cgroup;" \
					"start the container with --cgroupns=private --cap-add=SYS_ADMIN" >&2
		fi
		exec /sbin/init "$@"
	EOF
	chmod 0755 "$rootfs$INIT_WRAPPER"
	init_cmd=$INIT_WRAPPER
	podman_opts=$INIT_WRAPPER_PODMAN_OPTS
}

# Where sudo-rs is installed (ubuntu2604), it must be `sudo`, as on the distribution's
# cloud images. The packages' postinst scripts do it on resolute: both register the
# `sudo` alternative (with its visudo/sudoedit slaves), sudo-rs with priority 50
# (/usr/lib/cargo/bin/sudo), classic sudo with 40 (/usr/bin/sudo.ws); auto mode
# picks sudo-rs. Check it rather than trust it; /etc/sudoers (from `sudo`) includes
# /etc/sudoers.d for both.
configure_sudo() {
	# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
	in_root dpkg-query -W -f '${Status}' sudo-rs 2>/dev/null | grep -q 'ok installed' || return 0
	local version
	version=$(in_root sudo --version 2>&1 | head -n 1)
	if [[ $version != sudo-rs* ]]; then
		in_root update-alternatives --display sudo >&2 || true
		die "sudo-rs is installed but \`sudo --version\` says: $version"
	fi
	log "sudo is $version ($(in_root readlink -f /usr/bin/sudo))"
}

configure_rootfs() {
	configure_init
	configure_sudo
	# deploy: the unprivileged sudo user a cloud image's default user would be.
	in_root useradd --create-home --uid 1000 --user-group --shell /bin/bash deploy
	# No password at all ('*', not locked '!'): sshd then never refuses the
	# account as locked, whatever its UsePAM setting.
	in_root usermod --password '*' deploy
	echo 'deploy ALL=(ALL:ALL) NOPASSWD:ALL' >"$rootfs/etc/sudoers.d/deploy"
	chmod 0440 "$rootfs/etc/sudoers.d/deploy"
	in_root visudo -cf /etc/sudoers.d/deploy >/dev/null

	# The public key arrives at container start (bind mount), as cloud-init
	# would deliver it, so a new key needs no new image.
	install -d -m 0755 "$rootfs/etc/ssh/authorized_keys.d"
	cat >"$rootfs/etc/ssh/sshd_config.d/60-testbed.conf" <<-'EOF'
		# quote-testbed: keys only; per-user keys may come from a bind mount.
		AuthorizedKeysFile .ssh/authorized_keys /etc/ssh/authorized_keys.d/%u
		PasswordAuthentication no
		KbdInteractiveAuthentication no
	EOF

	# Host keys must differ per container: none in the image, generated at boot.
	# Ordered before ssh.service only: ordering against ssh.socket (socket
	# activation on 24.04) forms a cycle through sockets.target/basic.target that
	# systemd breaks at random. WantedBy=ssh.service covers a socket-activated
	# start; multi-user.target makes the keys exist early (`sshd -T` needs them).
	rm -f "$rootfs"/etc/ssh/ssh_host_*
	cat >"$rootfs/etc/systemd/system/testbed-ssh-hostkeys.service" <<-'EOF'
		[Unit]
		Description=Generate missing SSH host keys (first boot of a test bed container)
		Before=ssh.service

		[Service]
		Type=oneshot
		RemainAfterExit=yes
		ExecStart=/usr/bin/ssh-keygen -A

		[Install]
		WantedBy=ssh.service multi-user.target
	EOF
	local out
	out=$(in_root systemctl enable testbed-ssh-hostkeys.service 2>&1) || die "$out"

	# systemd fills an empty machine-id at boot: each container gets its own.
	: >"$rootfs/etc/machine-id"
	rm -f "$rootfs/var/lib/dbus/machine-id"
	echo localhost >"$rootfs/etc/hostname"

	write_sources
	install_host_cas

	# Small image: drop debootstrap's downloads and package lists. Backdate the
	# empty lists folder: without an update stamp, apt's cache_valid_time goes by
	# its age, and a fresh folder would make Ansible skip the needed update.
	rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
		"$rootfs"/var/lib/apt/lists/* "$rootfs/var/lib/apt/periodic/update-success-stamp" \
		"$rootfs/var/log/bootstrap.log"
	install -d -m 0700 "$rootfs/var/lib/apt/lists/partial"
	touch -d @0 "$rootfs/var/lib/apt/lists/partial" "$rootfs/var/lib/apt/lists"
}

# Untagged test bed images left by earlier rebuilds while containers still used
# them: remove those no container uses any more (plain rmi refuses the others).
prune_stale_images() {
	local id
	for id in $(podman images --quiet --no-trunc --filter dangling=true --filter label=quote-testbed.version); do
		podman rmi "$id" >/dev/null 2>&1 || true
	done
}

build_platform() {
	local platform=$1 version=$2 tag="$IMAGE_REPO:$1" old_id="" start=$SECONDS
	local suite dbs_script family components mirror gpg_opts extra_packages init_cmd podman_opts

	# Two callers (e.g. sandbox.sh and a test) must not build the same image at once.
	local lockfd
	exec {lockfd}>"/run/lock/quote-testbed-$platform.lock"
	flock "$lockfd"

	if [[ -z ${TESTBED_FORCE:-} ]] && podman image exists "$tag" &&
		[[ $(podman image inspect --format '{{index .Labels "quote-testbed.version"}}' "$tag") == "$version" ]]; then
		log "$tag is up to date ($version), reused"
		exec {lockfd}>&-
		return 0
	fi
	if podman image exists "$tag"; then
		old_id=$(podman image inspect --format '{{.Id}}' "$tag")
	fi

	platform_params "$platform"
	rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/quote-testbed-$platform.XXXXXX")
	log "$platform: debootstrap $suite ($components) into $rootfs"
	local args=(--variant=minbase --components="$components" --include="$PACKAGES$extra_packages" "${gpg_opts[@]}")
	# Reusing the .debs makes a rebuild (new script or CA bundle) much faster.
	if [[ -n $CACHE_DIR ]]; then
		install -d -m 0755 "$CACHE_DIR/$platform"
		args+=(--cache-dir="$CACHE_DIR/$platform")
	fi
	args+=("$suite" "$rootfs" "$mirror")
	[[ -n $dbs_script ]] && args+=("$dbs_script")
	if ! debootstrap "${args[@]}" >"$rootfs.log" 2>&1; then
		tail -n 30 "$rootfs.log" >&2
		[[ -f $rootfs/debootstrap/debootstrap.log ]] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
		die "$platform: debootstrap failed (log: $rootfs.log)"
	fi
	rm -f "$rootfs.log"
	local t_bootstrap=$((SECONDS - start))

	configure_rootfs

	log "$platform: importing as $tag"
	tar --numeric-owner --xattrs --xattrs-include='*' -C "$rootfs" -cf - . |
		podman import \
			--change "CMD [\"$init_cmd\"]" \
			--change 'STOPSIGNAL SIGRTMIN+3' \
			--change "LABEL quote-testbed.version=$version" \
			--change "LABEL quote-testbed.platform=$platform" \
			--change "LABEL quote-testbed.init=$init_cmd" \
			--change "LABEL quote-testbed.podman-opts=\"$podman_opts\"" \
			--quiet - "$tag" >/dev/null
	cleanup_rootfs

	# The tag has moved; drop the old image unless a container still uses it
	# (`rmi -f` would remove such containers too). prune_stale_images retries later.
	if [[ -n $old_id && $old_id != "$(podman image inspect --format '{{.Id}}' "$tag")" ]]; then
		podman rmi "$old_id" >/dev/null 2>&1 || log "old image ${old_id:0:12} still in use, kept"
	fi
	exec {lockfd}>&-
	log "$platform: built $tag in $((SECONDS - start)) s (debootstrap $t_bootstrap s)"
}

main() {
	(($# > 0)) || usage
	local platforms=() p
	for p in "$@"; do
		case $p in
		all) platforms+=("${ALL_PLATFORMS[@]}") ;;
		--list)
			printf '%s\n' "${ALL_PLATFORMS[@]}"
			return 0
			;;
		-h | --help) usage ;;
		*) platforms+=("$p") ;;
		esac
	done
	for p in "${platforms[@]}"; do platform_params "$p"; done # validate all first
	ensure_tools
	local version
	version=$(image_version)
	rootfs=""
	trap cleanup_rootfs EXIT
	trap 'exit 130' INT TERM # so that the EXIT trap cleans up
	# Sequential: debootstrap is bound by network and disk, not by the 2 cores.
	for p in "${platforms[@]}"; do
		build_platform "$p" "$version"
	done
	prune_stale_images
}

main "$@"
