//! Media-path costs per 20 ms frame: what one call spends every tick, so the figures multiply
//! directly into calls per core. Run with `cargo bench --bench media` (add `-- --quick` for a
//! short run).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use koe::media::g711::Codec;
use koe::media::inband::InbandDetector;
use koe::media::jitter::{FRAME_SAMPLES, JitterBuffer};
use koe::media::rtcp;

/// A deterministic speech-like frame: two harmonics and a little noise, not a DTMF pair.
fn frame(seed: usize) -> Vec<i16> {
    let mut state = seed as u32 | 1;
    (0..FRAME_SAMPLES)
        .map(|n| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let t = (seed * FRAME_SAMPLES + n) as f32 / 8000.0;
            let voice = 6000.0 * (2.0 * std::f32::consts::PI * 180.0 * t).sin()
                + 3000.0 * (2.0 * std::f32::consts::PI * 540.0 * t).sin();
            (voice + (state % 400) as f32 - 200.0) as i16
        })
        .collect()
}

fn g711(c: &mut Criterion) {
    let pcm = frame(1);
    let mut group = c.benchmark_group("g711");
    group.throughput(Throughput::Elements(FRAME_SAMPLES as u64));
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut coded = Vec::with_capacity(FRAME_SAMPLES);
        codec.encode(&pcm, &mut coded);
        group.bench_function(format!("encode_160_{}", codec.name()), |b| {
            let mut out = Vec::with_capacity(FRAME_SAMPLES);
            b.iter(|| {
                out.clear();
                codec.encode(black_box(&pcm), &mut out);
                black_box(&out);
            })
        });
        group.bench_function(format!("decode_160_{}", codec.name()), |b| {
            let mut out = Vec::with_capacity(FRAME_SAMPLES);
            b.iter(|| {
                out.clear();
                codec.decode(black_box(&coded), &mut out);
                black_box(&out);
            })
        });
    }
    group.finish();
}

fn jitter(c: &mut Criterion) {
    let pcm = frame(2);
    c.bench_function("jitter/push_pop_per_frame", |b| {
        let mut jb = JitterBuffer::new(2, 25);
        let mut n: u64 = 0;
        b.iter(|| {
            // A steady stream with every 16th pair swapped, so the reordering path runs too.
            let k = if n % 16 == 14 {
                n + 1
            } else if n % 16 == 15 {
                n - 1
            } else {
                n
            };
            jb.push(k as u16, (k * 160) as u32, 1, pcm.clone(), 20 * n + 40);
            n += 1;
            black_box(jb.pop(20 * n + 40));
        })
    });
}

fn inband(c: &mut Criterion) {
    let frames: Vec<Vec<i16>> = (0..50).map(frame).collect();
    c.bench_function("inband/goertzel_per_20ms_frame", |b| {
        let mut detector = InbandDetector::new();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % frames.len();
            black_box(detector.push(black_box(&frames[i])));
        })
    });
}

fn rtcp_parse(c: &mut Criterion) {
    let mut stats = rtcp::ReceiverStats::new();
    for seq in 0..100u16 {
        stats.update(seq, u32::from(seq) * 160, u32::from(seq) * 160 + 7);
    }
    let block = stats.report_block(0x1234, 0, 0);
    let compound = [
        rtcp::build_sr(0x9876, 0xE6A1_2B3C_8000_0000, 16_000, 100, 16_000, Some(block)),
        rtcp::build_sdes_cname(0x9876, "koe@gateway.example"),
    ]
    .concat();
    c.bench_function("rtcp/parse_sr_sdes", |b| {
        b.iter(|| black_box(rtcp::parse(black_box(&compound))))
    });
}

criterion_group!(benches, g711, jitter, inband, rtcp_parse);
criterion_main!(benches);
