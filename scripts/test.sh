#!/usr/bin/env bash
# The README's test command. On a fresh Debian 12 with only the Rust toolchain it installs what the tests
# use (apt and pip, only what is missing, quietly), fetches the real speech recordings once into
# tests/.cache/, then runs the whole suite: `cargo test --release`. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Build: cmake/clang/libclang for whisper-rs. Peers: sip-tester (SIPp), baresip-core (its stdio, g711,
# aufile, sndfile and menu modules), python3-pip (pjsua2). Audio: sox, npm (fetches jfk.wav with `npm pack`).
# Browser tests: chromium and its driver.
apt_packages=(cmake clang libclang-dev pkg-config sip-tester baresip-core sox python3-pip
    chromium chromium-driver)
# npm: only where no Node.js is installed (a NodeSource nodejs ships its own npm and conflicts with Debian's).
command -v npm > /dev/null || apt_packages+=(npm)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" > /dev/null
fi

# pjsua2 (PJSIP's own Python API) is not packaged in Debian 12. Debian's own python3 refuses a plain
# `pip install` (PEP 668), hence the fallback.
if ! python3 -c 'import pjsua2' 2> /dev/null; then
    echo "installing: pjsua2-python==2.15.1"
    python3 -m pip install -q --disable-pip-version-check pjsua2-python==2.15.1 2> /dev/null \
        || python3 -m pip install -q --disable-pip-version-check --break-system-packages pjsua2-python==2.15.1
fi

bash tests/fetch-audio.sh

cargo test --release "$@"
