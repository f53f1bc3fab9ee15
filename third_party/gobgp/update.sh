#!/bin/sh
# Regenerates third_party/gobgp from the Go module cache: copies the
# packages routewatch builds from GoBGP $VERSION (no tests, commands, docs)
# and applies patches/*.diff in name order. Run from anywhere:
#   third_party/gobgp/update.sh
# then check the package list still matches:
#   go list -deps ./... | grep osrg/gobgp
set -eu
VERSION=v4.8.0
dir=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$dir/../.." && pwd)
# The packages routewatch's build needs (go list -deps ./... | grep gobgp).
pkgs="api
internal/pkg/netutils
internal/pkg/table
internal/pkg/version
pkg/apiutil
pkg/config/oc
pkg/packet/bfd
pkg/packet/bgp
pkg/packet/bmp
pkg/packet/mrt
pkg/packet/rtr
pkg/server
pkg/zebra"

src=$(cd "$root" && GOFLAGS=-mod=mod go mod download -json "github.com/osrg/gobgp/v4@$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "update.sh: module github.com/osrg/gobgp/v4@$VERSION not in the module cache" >&2; exit 1; }

# Keep this script, the README and the patches; replace everything else.
find "$dir" -mindepth 1 -maxdepth 1 ! -name update.sh ! -name README.md ! -name patches -exec rm -rf {} +
cp "$src/go.mod" "$src/go.sum" "$src/LICENSE" "$dir/"
for p in $pkgs; do
	mkdir -p "$dir/$p"
	for f in "$src/$p"/*.go; do
		case $f in *_test.go) continue ;; esac
		cp "$f" "$dir/$p/"
	done
done
chmod -R u+w "$dir"
for d in "$dir"/patches/*.diff; do
	[ -e "$d" ] || continue
	echo "applying $(basename "$d")" >&2
	patch -d "$dir" -p1 --no-backup-if-mismatch --quiet <"$d"
done
