#!/usr/bin/env bash
# The README's run command: installs the build tools if missing, builds koe, installs the default Whisper
# model once, and runs the gateway with its embedded defaults. Arguments go to `koe serve`
# (e.g. `scripts/run.sh --config my.toml`).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in cmake clang pkg-config; do
    command -v "$p" > /dev/null || missing+=("$p")
done
dpkg-query -W -f='${Status}' libclang-dev 2> /dev/null | grep -q "install ok installed" || missing+=(libclang-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null
fi

cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/koe"
[ -s models/ggml-tiny.en.bin ] || "$bin" models install tiny.en
exec "$bin" serve "$@"
