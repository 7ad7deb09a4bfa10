//! G.711 μ-law (PCMU) and A-law (PCMA) codecs, as specified by ITU-T G.711 and its reference
//! implementation in G.191.
//!
//! Decoding uses 256-entry tables computed at compile time; encoding computes the segment from the
//! position of the highest set bit, so neither direction needs per-sample searches.

/// A G.711 companding law, identified on the wire by its static RTP payload type (RFC 3551).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// μ-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

/// μ-law bias added before segmenting (G.191 works on 14-bit magnitudes, hence 0x84 >> 2).
const ULAW_BIAS: i32 = 0x21;
/// Largest 14-bit magnitude that still fits after adding the bias.
const ULAW_CLIP: i32 = 0x1FFF - ULAW_BIAS;

static ULAW_TO_LINEAR: [i16; 256] = build_table(Codec::Pcmu);
static ALAW_TO_LINEAR: [i16; 256] = build_table(Codec::Pcma);

const fn build_table(codec: Codec) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0;
    while code < 256 {
        table[code] = match codec {
            Codec::Pcmu => ulaw_decode(code as u8),
            Codec::Pcma => alaw_decode(code as u8),
        };
        code += 1;
    }
    table
}

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let magnitude = ((((u & 0x0F) as i32) << 3) + 0x84) << ((u & 0x70) >> 4);
    if u & 0x80 != 0 {
        (0x84 - magnitude) as i16
    } else {
        (magnitude - 0x84) as i16
    }
}

const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mantissa = ((a & 0x0F) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    let magnitude = match segment {
        0 => mantissa + 8,
        _ => (mantissa + 0x108) << (segment - 1),
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Number of significant bits of a non-negative value (0 for 0).
fn bit_length(v: i32) -> i32 {
    32 - v.leading_zeros() as i32
}

fn ulaw_encode(sample: i16) -> u8 {
    let pcm = i32::from(sample) >> 2;
    let (magnitude, mask) = if pcm < 0 { (-pcm, 0x7F) } else { (pcm, 0xFF) };
    let biased = magnitude.min(ULAW_CLIP) + ULAW_BIAS;
    // Biased magnitudes span 0x21..=0x1FFF: six bits are segment 0, thirteen bits segment 7.
    let segment = bit_length(biased) - 6;
    let mantissa = (biased >> (segment + 1)) & 0x0F;
    ((segment << 4) | mantissa) as u8 ^ mask
}

fn alaw_encode(sample: i16) -> u8 {
    let pcm = i32::from(sample) >> 3;
    // Negative values map to one's complement so that -1 lands on the smallest negative code.
    let (magnitude, mask) = if pcm < 0 { (!pcm, 0x55) } else { (pcm, 0xD5) };
    let segment = (bit_length(magnitude) - 5).max(0);
    let shift = segment.max(1);
    let mantissa = (magnitude >> shift) & 0x0F;
    ((segment << 4) | mantissa) as u8 ^ mask
}

impl Codec {
    /// The static RTP payload type (RFC 3551): 0 for PCMU, 8 for PCMA.
    pub fn payload_type(&self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The SDP encoding name.
    pub fn name(&self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The codec for a static payload type, if it is one of the two G.711 laws.
    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The code that decodes to (near) zero, for padding and comfort silence.
    pub fn silence_byte(&self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }

    /// Appends one code per 16-bit linear sample to `out`.
    pub fn encode(&self, pcm: &[i16], out: &mut Vec<u8>) {
        // One loop per law, so that the per-sample function is inlined rather than called.
        match self {
            Codec::Pcmu => out.extend(pcm.iter().map(|&s| ulaw_encode(s))),
            Codec::Pcma => out.extend(pcm.iter().map(|&s| alaw_encode(s))),
        }
    }

    /// Appends one 16-bit linear sample per code to `out`.
    pub fn decode(&self, data: &[u8], out: &mut Vec<i16>) {
        let table = match self {
            Codec::Pcmu => &ULAW_TO_LINEAR,
            Codec::Pcma => &ALAW_TO_LINEAR,
        };
        out.extend(data.iter().map(|&c| table[usize::from(c)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];

    fn decode_one(codec: Codec, code: u8) -> i16 {
        let mut out = Vec::new();
        codec.decode(&[code], &mut out);
        out[0]
    }

    fn encode_one(codec: Codec, sample: i16) -> u8 {
        let mut out = Vec::new();
        codec.encode(&[sample], &mut out);
        out[0]
    }

    #[test]
    fn ulaw_known_vectors() {
        // Values from the G.191 reference decoder (ulaw2linear).
        for (code, linear) in [
            (0xFF, 0),
            (0x80, 32124),
            (0x00, -32124),
            (0x7F, 0),
            (0xFE, 8),
            (0x7E, -8),
            (0xF0, 120),
            (0xEF, 132),
            (0xCF, 924),
            (0x8F, 16764),
        ] {
            assert_eq!(decode_one(Codec::Pcmu, code), linear, "code {code:#04x}");
        }
        assert_eq!(encode_one(Codec::Pcmu, 0), 0xFF);
        assert_eq!(encode_one(Codec::Pcmu, i16::MAX), 0x80);
        assert_eq!(encode_one(Codec::Pcmu, i16::MIN), 0x00);
    }

    #[test]
    fn alaw_known_vectors() {
        // Values from the G.191 reference decoder (alaw2linear).
        for (code, linear) in [
            (0xD5, 8),
            (0x55, -8),
            (0xAA, 32256),
            (0x2A, -32256),
            (0xD4, 24),
            (0xC5, 264),
            (0xF5, 528),
            (0xA5, 16896),
        ] {
            assert_eq!(decode_one(Codec::Pcma, code), linear, "code {code:#04x}");
        }
        assert_eq!(encode_one(Codec::Pcma, 0), 0xD5);
        assert_eq!(encode_one(Codec::Pcma, -1), 0x55);
        assert_eq!(encode_one(Codec::Pcma, i16::MAX), 0xAA);
        assert_eq!(encode_one(Codec::Pcma, i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for codec in BOTH {
            for code in 0..=255u8 {
                let back = encode_one(codec, decode_one(codec, code));
                // μ-law has two zeros (0xFF and 0x7F); the encoder always picks positive zero.
                let expected = if codec == Codec::Pcmu && code == 0x7F {
                    0xFF
                } else {
                    code
                };
                assert_eq!(back, expected, "{} code {code:#04x}", codec.name());
            }
        }
    }

    #[test]
    fn encoding_is_monotonic() {
        for codec in BOTH {
            let mut previous = decode_one(codec, encode_one(codec, i16::MIN));
            for sample in (i16::MIN..=i16::MAX).step_by(7) {
                let level = decode_one(codec, encode_one(codec, sample));
                assert!(level >= previous, "{} not monotonic at {sample}", codec.name());
                previous = level;
            }
        }
    }

    fn snr_db(codec: Codec, amplitude: f64) -> f64 {
        let pcm: Vec<i16> = (0..8000)
            .map(|n| (amplitude * (2.0 * std::f64::consts::PI * 1013.0 * n as f64 / 8000.0).sin()) as i16)
            .collect();
        let mut coded = Vec::new();
        codec.encode(&pcm, &mut coded);
        let mut decoded = Vec::new();
        codec.decode(&coded, &mut decoded);
        assert_eq!(decoded.len(), pcm.len());
        let signal: f64 = pcm.iter().map(|&s| f64::from(s).powi(2)).sum();
        let noise: f64 = pcm
            .iter()
            .zip(&decoded)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
            .sum();
        10.0 * (signal / noise).log10()
    }

    #[test]
    fn sine_round_trip_snr_exceeds_35_db() {
        for codec in BOTH {
            for amplitude in [3000.0, 10000.0, 30000.0] {
                let snr = snr_db(codec, amplitude);
                assert!(snr > 35.0, "{} at {amplitude}: {snr:.1} dB", codec.name());
            }
        }
    }

    #[test]
    fn payload_types_and_names() {
        for codec in BOTH {
            assert_eq!(Codec::from_payload_type(codec.payload_type()), Some(codec));
            assert!(decode_one(codec, codec.silence_byte()).abs() <= 8);
        }
        assert_eq!(Codec::Pcmu.name(), "PCMU");
        assert_eq!(Codec::Pcma.name(), "PCMA");
        assert_eq!(Codec::from_payload_type(18), None);
    }
}
