#!/usr/bin/env bash
# The README's test command. On a fresh Debian 12 with only the Rust toolchain it installs what the tests
# use (apt and pip, only what is missing, quietly), fetches the real speech recordings once into
# tests/.cache/, then runs the whole suite: `cargo test --release`. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Build: cmake/clang/libclang for whisper-rs. Peers: sip-tester (SIPp), baresip-core (its stdio, g711,
# aufile, sndfile and menu modules), python3-pip (pjsua2, pyopenjtalk). Audio: sox, npm (fetches jfk.wav with
# `npm pack`). Prompts: flite (English TTS); espeak-ng
# (its engine test, and a caller voice unlike the prompts). alsa-utils: its recorded voices and Noise.wav
# are test speech.
# Browser tests: chromium and its driver. Each package is probed by the command it provides (a machine may
# have it from elsewhere, e.g. npm with a nodejs from another source), libclang-dev by dpkg.
has() {
    case "$1" in
        libclang-dev) dpkg-query -W -f='${Status}' libclang-dev 2> /dev/null | grep -q "install ok installed" ;;
        python3-pip) python3 -m pip --version > /dev/null 2>&1 ;;
        sip-tester) command -v sipp > /dev/null ;;
        baresip-core) command -v baresip > /dev/null ;;
        chromium-driver) command -v chromedriver > /dev/null ;;
        alsa-utils) [ -s /usr/share/sounds/alsa/Noise.wav ] ;;
        *) command -v "$1" > /dev/null ;;
    esac
}
missing=()
for p in cmake clang libclang-dev pkg-config sip-tester baresip-core sox python3-pip npm chromium chromium-driver espeak-ng flite alsa-utils; do
    has "$p" || missing+=("$p")
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

# Japanese TTS for prompts: pyopenjtalk-plus bundles its dictionary and voice (plain pyopenjtalk downloads
# its dictionary on first use).
if ! python3 -c 'import pyopenjtalk' > /dev/null 2>&1; then
    echo "installing: pyopenjtalk-plus==0.4.1.post10"
    pip=(python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore --no-warn-script-location)
    "${pip[@]}" pyopenjtalk-plus==0.4.1.post10 2> /dev/null \
        || "${pip[@]}" --break-system-packages pyopenjtalk-plus==0.4.1.post10
fi

bash tests/fetch-audio.sh

cargo test --release "$@"
