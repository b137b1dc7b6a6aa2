# Sourced by .ci/run and by developers: the one build environment, so that CI reuses the
# artifacts (above all DuckDB's C++, ~55 CPU-minutes) built by earlier runs on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME:-/root}/.cache/etl/target}"
if command -v ccache >/dev/null 2>&1; then
  export CC="ccache gcc" CXX="ccache g++"
  export CCACHE_DIR="${CCACHE_DIR:-${HOME:-/root}/.cache/etl/ccache}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
fi
