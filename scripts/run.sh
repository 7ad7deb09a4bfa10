#!/usr/bin/env bash
# The README's run command: installs the build tools and the TTS engines if missing, builds koe, installs
# the default Whisper model once, and runs the gateway with its embedded defaults. Arguments go to
# `koe serve` (e.g. `scripts/run.sh --config my.toml`).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Build: cmake, clang, libclang-dev, pkg-config (whisper-rs). Prompts: flite (English TTS), python3-pip
# (pyopenjtalk, below).
missing=()
for p in cmake clang pkg-config flite; do
    command -v "$p" > /dev/null || missing+=("$p")
done
dpkg-query -W -f='${Status}' libclang-dev 2> /dev/null | grep -q "install ok installed" || missing+=(libclang-dev)
python3 -m pip --version > /dev/null 2>&1 || missing+=(python3-pip)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null
fi

# Japanese TTS for prompts: pyopenjtalk-plus bundles its dictionary and voice. Debian's own python3
# refuses a plain `pip install` (PEP 668), hence the fallback.
if ! python3 -c 'import pyopenjtalk' > /dev/null 2>&1; then
    echo "installing: pyopenjtalk-plus==0.4.1.post10"
    pip=(python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-warn-script-location)
    "${pip[@]}" pyopenjtalk-plus==0.4.1.post10 2> /dev/null \
        || "${pip[@]}" --break-system-packages pyopenjtalk-plus==0.4.1.post10
fi

cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/koe"
[ -s models/ggml-tiny.en.bin ] || "$bin" models install tiny.en
exec "$bin" serve "$@"
