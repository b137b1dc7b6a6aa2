# Sourced by .ci/run and by developers: the one build environment, so that CI reuses the
# artifacts (above all DuckDB's C++, ~55 CPU-minutes) built by earlier runs on the same machine.
# The cache lives at a fixed place outside the clone (override with ETL_CACHE_DIR).
etl_cache="${ETL_CACHE_DIR:-/root/.cache/etl}"
if ! mkdir -p "$etl_cache" 2>/dev/null; then
  etl_cache="${HOME:-/tmp}/.cache/etl"
  mkdir -p "$etl_cache"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$etl_cache/target}"
if command -v ccache >/dev/null 2>&1; then
  export CC="ccache gcc" CXX="ccache g++"
  export CCACHE_DIR="${CCACHE_DIR:-$etl_cache/ccache}"
  export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
fi
