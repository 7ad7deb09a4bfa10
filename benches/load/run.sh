#!/usr/bin/env bash
# Load test: ramps concurrent recorded calls against a release koe on loopback and prints one line per
# level: CPU % and RSS of koe, RTP packets lost, late frames, call setup time (INVITE → 200) p50/p99.
#
#   benches/load/run.sh [LEVEL ...]        default levels: 50 100 200 400 600
#   env: HOLD_S (seconds each call lasts, default 20), RATE (new calls per second, default 50),
#        LOAD_BIN (a koe binary to test instead of building target/release/koe)
#
# Each level runs SIPp with `-m N -l N`: N calls, all up together for most of HOLD_S, each streaming real
# speech (jfk.ulaw, looped) to koe while koe plays its prompt back and records both sides. Bounded: every
# level ends within N/RATE + HOLD_S + 30 s; only 127.0.0.1 is used. koe answers at once
# (calls.answer_delay_ms = 0), so the setup time is its own, not a ring time. cpu% is koe's alone, in
# percent of one core (SIPp's own load is not counted); late is koe_rtp_late_frames_total's increase. Needs sip-tester, sox, npm, curl
# (scripts/test.sh installs the first three).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

levels=("$@")
[ ${#levels[@]} -gt 0 ] || levels=(50 100 200 400 600)
hold_s=${HOLD_S:-20}
rate=${RATE:-50}
sip_port=${SIP_PORT:-25060}
http_port=${HTTP_PORT:-28080}
sipp_port=${SIPP_PORT:-25070}
sipp_media=${SIPP_MEDIA_PORT:-25100}

bin=${LOAD_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet
    bin="${CARGO_TARGET_DIR:-target}/release/koe"
fi
bash tests/fetch-audio.sh > /dev/null

work=$(mktemp -d)
koe_pid=
cleanup() {
    [ -z "$koe_pid" ] || kill "$koe_pid" 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
cp benches/load/call.xml tests/.cache/jfk.ulaw "$work/"

KOE_SIP_BIND=127.0.0.1:$sip_port KOE_HTTP_BIND=127.0.0.1:$http_port KOE_DATA_DIR="$work/data" \
    KOE_MEDIA_BIND_IP=127.0.0.1 KOE_MEDIA_RTP_PORT_MIN=30000 KOE_MEDIA_RTP_PORT_MAX=32999 \
    KOE_ASR_ENABLED=false KOE_CALLS_IDLE_TIMEOUT_S=3600 KOE_CALLS_ANSWER_DELAY_MS=0 KOE_DATA_RECORD_CALLS=true RUST_LOG=warn \
    "$bin" serve > "$work/koe.log" 2>&1 &
koe_pid=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$http_port/healthz" > /dev/null && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$http_port/healthz" > /dev/null || { cat "$work/koe.log"; exit 1; }

# Sum of every sample of a metric family (0 when absent).
metric() {
    curl -sf "http://127.0.0.1:$http_port/metrics" \
        | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }'
}
rtp_in() {
    curl -sf "http://127.0.0.1:$http_port/metrics" \
        | awk '/^koe_rtp_packets_total\{.*direction="(in|received)"/ { s += $NF } END { printf "%d\n", s }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$koe_pid/stat"; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$koe_pid/status"; }
tck=$(getconf CLK_TCK)

printf "%-6s %7s %9s %10s %9s %7s %8s %8s %6s\n" calls cpu% rss_MiB rtp_in lost loss% late p50_ms p99_ms
for n in "${levels[@]}"; do
    lost0=$(metric koe_rtp_packets_lost_total)
    late0=$(metric koe_rtp_late_frames_total)
    in0=$(rtp_in)
    ramp_s=$(( (n + rate - 1) / rate ))
    rm -f "$work"/*_rtt.csv
    (cd "$work" && sipp -sf call.xml -i 127.0.0.1 -mi 127.0.0.1 -p "$sipp_port" -mp "$sipp_media" \
        -m "$n" -l "$n" -r "$rate" -d $(( hold_s * 1000 )) -nostdin \
        -timeout $(( ramp_s + hold_s + 30 ))s -trace_rtt -rtt_freq 1 \
        -trace_stat -stf "$work/stats-$n.csv" "127.0.0.1:$sip_port" > "$work/sipp-$n.out" 2>&1) &
    sipp_pid=$!

    # Measure while every call is up: from the end of the ramp to 3 s before the first call ends.
    sleep $(( ramp_s + 1 ))
    window=$(( hold_s - ramp_s - 4 ))
    [ "$window" -ge 2 ] || window=2
    t0=$(cpu_ticks); rss=0
    for _ in $(seq "$window"); do
        sleep 1
        r=$(rss_kib); [ "$r" -gt "$rss" ] && rss=$r
    done
    t1=$(cpu_ticks)
    cpu=$(awk -v d=$(( t1 - t0 )) -v t="$tck" -v s="$window" 'BEGIN { printf "%.0f", 100 * d / t / s }')
    sipp_rc=0
    wait "$sipp_pid" || sipp_rc=$?
    sleep 2

    lost=$(( $(metric koe_rtp_packets_lost_total) - lost0 ))
    late=$(( $(metric koe_rtp_late_frames_total) - late0 ))
    got=$(( $(rtp_in) - in0 ))
    loss=$(awk -v l="$lost" -v g="$got" 'BEGIN { printf "%.3f", (l + g) ? 100 * l / (l + g) : 0 }')
    read -r p50 p99 < <(cat "$work"/*_rtt.csv 2> /dev/null | awk -F';' '$2 ~ /^[0-9.]+$/ { print $2 }' \
        | sort -n | awk '{ v[NR] = $1 } END { if (!NR) { print "n/a n/a"; exit } i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f %.1f\n", v[int((NR + 1) / 2)], v[i] }')
    printf "%-6s %7s %9s %10s %9s %7s %8s %8s %6s" "$n" "$cpu" $(( rss / 1024 )) "$got" "$lost" "$loss" "$late" "$p50" "$p99"
    [ "$sipp_rc" -eq 0 ] || printf "   (SIPp exit %s: some calls failed, see %s)" "$sipp_rc" "sipp-$n.out"
    printf "\n"
done
