//! Whisper's mel filterbank, which whisper.cpp reads from the model file rather than computing.
//!
//! OpenAI generated theirs with `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)`: Slaney's mel scale
//! (linear below 1 kHz, logarithmic above) and Slaney area normalisation. This is the same computation, in
//! f64 and rounded to f32 at the end as librosa does.

/// Hz → mel on Slaney's scale.
fn hz_to_mel(f: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= MIN_LOG_HZ {
        min_log_mel + (f / MIN_LOG_HZ).ln() / logstep
    } else {
        f / F_SP
    }
}

fn mel_to_hz(m: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        MIN_LOG_HZ * (logstep * (m - min_log_mel)).exp()
    } else {
        F_SP * m
    }
}

/// Row-major `n_mels × (n_fft/2 + 1)` triangular filters from 0 Hz to `sample_rate/2`.
pub fn filterbank(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let bins = n_fft / 2 + 1;
    let nyquist = f64::from(sample_rate) / 2.0;
    let fft_freqs: Vec<f64> = (0..bins)
        .map(|k| k as f64 * f64::from(sample_rate) / n_fft as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = Vec::with_capacity(n_mels * bins);
    for i in 0..n_mels {
        let (left, centre, right) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let norm = 2.0 / (right - left);
        for &f in &fft_freqs {
            let lower = (f - left) / (centre - left);
            let upper = (right - f) / (right - centre);
            out.push((lower.min(upper).max(0.0) * norm) as f32);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_is_linear_below_1khz_and_continuous_at_it() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-12);
        for f in [0.0, 300.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9, "{f}");
        }
    }

    #[test]
    fn whisper_filterbank_shape_and_normalisation() {
        let fb = filterbank(16_000, 400, 80);
        assert_eq!(fb.len(), 80 * 201);
        // Slaney normalisation: each triangle has unit area in Hz (sum × 40 Hz bin width ≈ 1), as far as
        // the 40 Hz grid resolves triangles only a few bins wide.
        for m in 10..80 {
            let row = &fb[m * 201..(m + 1) * 201];
            let area: f32 = row.iter().sum::<f32>() * 40.0;
            assert!((area - 1.0).abs() < 0.1, "filter {m}: area {area}");
        }
        // The first filter peaks at its centre frequency (≈ 33 Hz, between bins 0 and 1) and the DC bin
        // gets zero weight; the top filter ends at Nyquist.
        assert_eq!(fb[0], 0.0);
        assert!(fb[1] > 0.0);
        assert_eq!(fb[79 * 201 + 200], 0.0);
        assert!(fb[79 * 201 + 199] > 0.0);
        // By hand: filter 0 spans 0–74.478 Hz peaking at 37.239 Hz; bin 1 (40 Hz) is on the falling edge:
        // (74.478 − 40) / 37.239 × 2 / 74.478 = 0.0248626.
        assert!((fb[1] - 0.024_862_59).abs() < 1e-6, "{}", fb[1]);
    }
}
