#!/usr/bin/env bash
# Confluent's Kafka client, @confluentinc/kafka-javascript, for the tests and benchmarks of the Kafka adapter's
# Confluent producer driver (src/adapters/kafka/confluent-driver.ts). It is an optional peer of the package, not a
# dependency: its default install fails where github.com is unreachable (the prebuilt binary and librdkafka's bundled
# dependencies come from there). This builds it from the npm tarball against Debian's OpenSSL and zlib
# (CKJS_LINKING=dynamic; 1-2 minutes on 2 cores; shared/brokers.md section 3) in a scratch folder, and copies what it
# needs at run time (the package without librdkafka's sources, and `bindings`) into node_modules.
#
#   ensure   the package loads from node_modules: nothing to do. Otherwise restores the build cached for this Node ABI
#            and platform, or builds it (apt-get installs a compiler and the headers if missing) and caches it.
#   build    builds and caches it even if it loads.
#
# Cache: $CONFLUENT_CACHE_DIR (default ${XDG_CACHE_HOME:-~/.cache}/reliable-mq/confluent), outside the checkout so that
# fresh clones on one machine build once.
set -euo pipefail

VERSION=1.10.1
PACKAGE=@confluentinc/kafka-javascript
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${CONFLUENT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/reliable-mq/confluent}"
RUNTIME_DEPS=(bindings file-uri-to-path)

log() { printf 'confluent-kafka.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

loads() { (cd "$ROOT" && node -e "require('$PACKAGE/package.json').version === '$VERSION' || process.exit(1); require('$PACKAGE')" 2>/dev/null); }

archive() { echo "$CACHE/kafka-javascript-$VERSION-node-abi$(node -p process.versions.modules)-$(node -p 'process.platform + "-" + process.arch').tgz"; }

install_build_deps() {
  local missing=()
  for pkg in g++ make python3 libssl-dev zlib1g-dev; do dpkg -s "$pkg" > /dev/null 2>&1 || missing+=("$pkg"); done
  [[ ${#missing[@]} == 0 ]] && return 0
  command -v apt-get > /dev/null || die "missing ${missing[*]} and no apt-get to install them"
  log "installing ${missing[*]} with apt-get"
  local sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" > /dev/null
}

# Builds in a scratch folder and leaves the run-time files in $1/node_modules.
build_into() {
  local work="$1" started=$SECONDS
  install_build_deps
  log "building $PACKAGE@$VERSION from source (CKJS_LINKING=dynamic)"
  (cd "$work" && npm init -y > /dev/null && CKJS_LINKING=dynamic npm install --no-audit --no-fund "$PACKAGE@$VERSION" > build.log 2>&1) \
    || { tail -30 "$work/build.log" >&2; die "the build failed (log above)"; }
  # Only what loads at run time: librdkafka's shared libraries stay, its sources and the object files go.
  local pkg="$work/node_modules/$PACKAGE"
  find "$pkg/deps" -mindepth 1 -maxdepth 1 ! -name 'librdkafka*.so*' -exec rm -rf {} +
  rm -rf "$pkg/build/Release/obj.target" "$pkg/src"
  log "built in $((SECONDS - started)) s"
}

pack_to_cache() {
  local work="$1" file
  file="$(archive)"
  mkdir -p "$CACHE"
  tar -C "$work/node_modules" -czf "$file.tmp" "$PACKAGE" "${RUNTIME_DEPS[@]}"
  mv "$file.tmp" "$file"
  log "cached $(du -h "$file" | cut -f1) in $file"
}

unpack_from_cache() {
  local file
  file="$(archive)"
  [[ -f "$file" ]] || return 1
  mkdir -p "$ROOT/node_modules"
  for dep in "$PACKAGE" "${RUNTIME_DEPS[@]}"; do
    [[ "$dep" == "$PACKAGE" || ! -e "$ROOT/node_modules/$dep" ]] && rm -rf "${ROOT:?}/node_modules/$dep"
  done
  tar -C "$ROOT/node_modules" -xzf "$file" --skip-old-files
  loads
}

build() {
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  build_into "$work"
  pack_to_cache "$work"
  unpack_from_cache || die "$PACKAGE does not load after the build"
}

case "${1:-}" in
  ensure)
    if loads; then exit 0; fi
    if unpack_from_cache; then log "restored $PACKAGE@$VERSION from $(archive)"; exit 0; fi
    build
    ;;
  build) build ;;
  *) die "usage: $0 ensure|build" ;;
esac
