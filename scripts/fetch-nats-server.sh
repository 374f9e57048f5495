#!/usr/bin/env bash
# Fetches nats-server 2.10.27 — the version Debian's next release (trixie) packages — into the
# project's cache, so the test suite can run against a 2.10 server while the machine's own
# nats-server stays Debian bookworm's 2.9.
#
# The system is never touched: apt runs with a private sources list, package lists and cache under
# .cache/apt (no /etc/apt change, no lock on /var/lib/apt), `apt-get download` only downloads the
# .deb, and `dpkg-deb -x` unpacks it into .cache/nats-server-<version>/ without installing it.
# Idempotent: a second run finds the binary and does nothing. Prints the binary's path on stdout.
#
#   scripts/fetch-nats-server.sh          # → .cache/nats-server-2.10.27/usr/sbin/nats-server
#
# Environment: SLUICE_CACHE_DIR (default <repo>/.cache), SLUICE_DEBIAN_MIRROR (default
# http://deb.debian.org/debian, the mirror /etc/apt/sources.list.d/debian.sources uses).
set -euo pipefail

version=2.10.27
suite=trixie
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${SLUICE_CACHE_DIR:-$root/.cache}
mirror=${SLUICE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
dest=$cache/nats-server-$version
bin=$dest/usr/sbin/nats-server

fail() {
  echo "fetch-nats-server: $1" >&2
  exit 1
}

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "v$version\$"; then
  echo "$bin"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null 2>&1 ||
    fail "$tool is missing: this script needs a Debian-based system; otherwise download nats-server $version from https://github.com/nats-io/nats-server/releases and set SLUICE_NATS_SERVER to it."
done

apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$keyring" ] || fail "$keyring is missing: install the package debian-archive-keyring (it holds the key that signs Debian $suite)."
echo "deb [signed-by=$keyring] $mirror $suite main" >"$apt_dir/sources.list"

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
)
# As root apt downloads as the _apt user, who may not write into a checkout under /root.
[ "$(id -u)" = 0 ] && apt_opts+=(-o "APT::Sandbox::User=root")

log=$apt_dir/last-run.log
# apt-get update exits 0 on some failed fetches (a "W: Failed to fetch" line): look at its output.
if ! apt-get "${apt_opts[@]}" -q update >"$log" 2>&1 || grep -qE '^(E:|W: Failed|Err:)' "$log"; then
  fail "cannot read Debian $suite's package list from $mirror (see $log): check the network or set SLUICE_DEBIAN_MIRROR to a reachable Debian mirror."
fi
available=$(apt-cache "${apt_opts[@]}" madison nats-server 2>/dev/null | awk -v s="$suite" '$0 ~ s {print $3}' | tr '\n' ' ')
case " $available" in
  *" $version"*) ;;
  *) fail "Debian $suite at $mirror no longer has nats-server $version (it has: ${available:-none}): update the version in $0, or set SLUICE_NATS_SERVER to a $version binary from https://github.com/nats-io/nats-server/releases." ;;
esac
work=$(mktemp -d "$apt_dir/download.XXXXXX")
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get "${apt_opts[@]}" -q download "nats-server=$version*") >>"$log" 2>&1; then
  fail "cannot download nats-server $version from Debian $suite at $mirror (see $log): check the network or set SLUICE_DEBIAN_MIRROR to a reachable Debian mirror."
fi
deb=$(ls "$work"/nats-server_*.deb)

# Unpack into a fresh directory, then move it into place: an interrupted run leaves no half tree.
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
dpkg-deb -x "$deb" "$dest.tmp"
rm -rf "$dest"
mv "$dest.tmp" "$dest"
"$bin" --version 2>/dev/null | grep -q "v$version\$" || fail "the unpacked $bin does not report version $version."
echo "$bin"
