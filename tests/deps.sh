#!/usr/bin/env bash
# Install the Debian packages mitmd needs to build, run and test, and only
# those that are missing. Run by `make run`, `make check` and `make bench`.
set -euo pipefail

PKGS=(
	# build
	gcc make pkg-config libc6-dev
	libssl-dev libevent-dev libseccomp-dev libcap-dev
	libnghttp2-dev libsqlite3-dev libjansson-dev
	zlib1g-dev libbrotli-dev libzstd-dev libmsgpack-dev
	# fuzzing and sanitizers
	clang libclang-rt-14-dev
	# run: useradd for the system users
	passwd openssl ca-certificates
	# tests: real clients and origins, lint tools
	curl python3 python3-pytest python3-cryptography nginx mandoc systemd
	iproute2 procps strace util-linux
	nghttp2-client python3-h2 python3-websockets python3-grpcio
	python3-prometheus-client
	# the pages in a real browser (tests/integration/test_pages.py)
	chromium chromium-driver python3-selenium
)

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
	command -v sudo >/dev/null || {
		echo "deps: not root and no sudo; as root run:" >&2
		echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	}
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
apt_install() {
	$SUDO apt-get install -y -q --no-install-recommends \
		-o DPkg::Lock::Timeout=600 "${missing[@]}"
}
if ! apt_install; then
	$SUDO apt-get update -q -o DPkg::Lock::Timeout=600
	apt_install
fi
