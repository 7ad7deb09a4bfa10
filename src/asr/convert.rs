//! CTranslate2 Whisper model → whisper.cpp ggml file, tensor by tensor.
//!
//! The ggml layout (`ggml::layout`) drives the conversion: for each tensor whisper.cpp expects, find its
//! CTranslate2 source (fused Q|K|V and K|V projections are split by rows), check the source's shape and
//! type, convert the elements and write them. One tensor is in memory at a time.

use super::ct2::{Ct2Model, DType, Var};
use super::ggml::{self, Hparams, Q8_0_BLOCK, TensorSpec, TensorType};
use super::{mel, vocab};
use half::{bf16, f16};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("cannot read {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("cannot write the ggml file: {0}")]
    Write(#[from] std::io::Error),
    #[error("malformed model: {0}")]
    Malformed(String),
    #[error("malformed model: tensor {0} missing")]
    Missing(String),
}

/// Where a ggml tensor's data comes from: rows `part` of `parts` equal slices of a CTranslate2 variable.
struct Source {
    var: String,
    part: usize,
    parts: usize,
}

impl Source {
    fn whole(var: impl Into<String>) -> Source {
        Source {
            var: var.into(),
            part: 0,
            parts: 1,
        }
    }

    fn slice(var: impl Into<String>, part: usize, parts: usize) -> Source {
        Source {
            var: var.into(),
            part,
            parts,
        }
    }
}

/// Maps a ggml tensor name to its CTranslate2 source (see ASR.md for the correspondence).
fn source(name: &str) -> Result<Source, ConvertError> {
    let unknown = || ConvertError::Malformed(format!("no CTranslate2 source for {name}"));
    let (side, rest) = name.split_once('.').ok_or_else(unknown)?;
    let param = |p: &str| if p == "weight" { "gamma" } else { "beta" };
    let fixed = match rest {
        "positional_embedding" => Some(format!("{side}/position_encodings/encodings")),
        "token_embedding.weight" => Some("decoder/embeddings/weight".into()),
        "ln_post.weight" | "ln_post.bias" | "ln.weight" | "ln.bias" => Some(format!(
            "{side}/layer_norm/{}",
            param(rest.rsplit('.').next().unwrap_or_default())
        )),
        r if r.starts_with("conv") => Some(format!("{side}/{}", r.replace('.', "/"))),
        _ => None,
    };
    if let Some(var) = fixed {
        return Ok(Source::whole(var));
    }
    let rest = rest.strip_prefix("blocks.").ok_or_else(unknown)?;
    let (layer, rest) = rest.split_once('.').ok_or_else(unknown)?;
    let (module, p) = rest.rsplit_once('.').ok_or_else(unknown)?;
    let base = format!("{side}/layer_{layer}");
    Ok(match module {
        "attn_ln" => Source::whole(format!("{base}/self_attention/layer_norm/{}", param(p))),
        "cross_attn_ln" => Source::whole(format!("{base}/attention/layer_norm/{}", param(p))),
        "mlp_ln" => Source::whole(format!("{base}/ffn/layer_norm/{}", param(p))),
        "attn.query" => Source::slice(format!("{base}/self_attention/linear_0/{p}"), 0, 3),
        "attn.key" => Source::slice(format!("{base}/self_attention/linear_0/{p}"), 1, 3),
        "attn.value" => Source::slice(format!("{base}/self_attention/linear_0/{p}"), 2, 3),
        "attn.out" => Source::whole(format!("{base}/self_attention/linear_1/{p}")),
        "cross_attn.query" => Source::whole(format!("{base}/attention/linear_0/{p}")),
        "cross_attn.key" => Source::slice(format!("{base}/attention/linear_1/{p}"), 0, 2),
        "cross_attn.value" => Source::slice(format!("{base}/attention/linear_1/{p}"), 1, 2),
        "cross_attn.out" => Source::whole(format!("{base}/attention/linear_2/{p}")),
        "mlp.0" => Source::whole(format!("{base}/ffn/linear_0/{p}")),
        "mlp.2" => Source::whole(format!("{base}/ffn/linear_1/{p}")),
        _ => return Err(unknown()),
    })
}

/// How the converted model stores its matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F16,
    /// 8-bit blocks (ggml's q8_0): about half the size, and whisper.cpp's int8 kernels.
    Q8_0,
}

impl Precision {
    fn ftype(self) -> usize {
        match self {
            Precision::F16 => ggml::FTYPE_F16,
            Precision::Q8_0 => ggml::FTYPE_Q8_0,
        }
    }
}

/// Reads the hyper-parameters off the shapes in the CTranslate2 index.
fn hparams(m: &mut Ct2Model, precision: Precision) -> Result<Hparams, ConvertError> {
    let dims = |m: &Ct2Model, name: &str, n: usize| -> Result<Vec<usize>, ConvertError> {
        let v = m.get(name)?;
        if v.dims.len() != n {
            return Err(ConvertError::Malformed(format!(
                "tensor {name}: shape {:?}, expected {n}-D",
                v.dims
            )));
        }
        Ok(v.dims.clone())
    };
    let embed = dims(m, "decoder/embeddings/weight", 2)?;
    let audio_pos = dims(m, "encoder/position_encodings/encodings", 2)?;
    let text_pos = dims(m, "decoder/position_encodings/encodings", 2)?;
    let conv1 = dims(m, "encoder/conv1/weight", 3)?;
    let layers = |m: &Ct2Model, side: &str| {
        let prefix = format!("{side}/layer_");
        m.names()
            .filter_map(|n| n.strip_prefix(&prefix)?.split_once('/')?.0.parse::<usize>().ok())
            .max()
            .map_or(0, |l| l + 1)
    };
    let heads = |m: &mut Ct2Model, side: &str, state: usize| -> Result<usize, ConvertError> {
        let name = format!("{side}/num_heads");
        match m.get(&name) {
            Ok(_) => usize::try_from(m.read_int(&name)?)
                .map_err(|_| ConvertError::Malformed(format!("tensor {name}: negative"))),
            // Older conversions omit it; every Whisper size uses 64-wide heads.
            Err(_) => Ok(state / 64),
        }
    };
    let h = Hparams {
        n_vocab: embed[0],
        n_audio_ctx: audio_pos[0],
        n_audio_state: audio_pos[1],
        n_audio_head: heads(m, "encoder", audio_pos[1])?,
        n_audio_layer: layers(m, "encoder"),
        n_text_ctx: text_pos[0],
        n_text_state: embed[1],
        n_text_head: heads(m, "decoder", embed[1])?,
        n_text_layer: layers(m, "decoder"),
        n_mels: conv1[1],
        ftype: precision.ftype(),
    };
    h.check().map_err(ConvertError::Malformed)?;
    Ok(h)
}

/// Reads and checks the index of a CTranslate2 `model.bin` (sizes against the file) without converting.
pub fn check_model_bin(model_bin: &Path) -> Result<(), ConvertError> {
    Ct2Model::open(model_bin).map(|_| ())
}

/// Converts `model.bin` plus its vocabulary file to a ggml model written to `out`.
pub fn convert(
    model_bin: &Path,
    vocabulary: &Path,
    precision: Precision,
    out: &mut impl Write,
) -> Result<Hparams, ConvertError> {
    let text = std::fs::read_to_string(vocabulary).map_err(|e| ConvertError::Io(vocabulary.to_owned(), e))?;
    let json = vocabulary.extension().is_some_and(|e| e == "json");
    let tokens = vocab::load(&text, json)?;
    let mut model = Ct2Model::open(model_bin)?;
    let h = hparams(&mut model, precision)?;
    let filters = mel::filterbank(16_000, 400, h.n_mels);
    ggml::write_header(out, &h, &filters, &tokens)?;
    for spec in ggml::layout(&h) {
        let src = source(&spec.name)?;
        let bytes = convert_tensor(&mut model, &spec, &src)?;
        ggml::write_tensor_header(out, &spec)?;
        out.write_all(&bytes)?;
    }
    Ok(h)
}

fn convert_tensor(m: &mut Ct2Model, spec: &TensorSpec, src: &Source) -> Result<Vec<u8>, ConvertError> {
    let var = m.get(&src.var)?.clone();
    check_shape(&var, spec, src)?;
    let rows_per_part = var.dims.first().copied().unwrap_or(1) / src.parts;
    let rows = src.part * rows_per_part..(src.part + 1) * rows_per_part;
    let (_, raw) = m.read_rows(&src.var, rows.clone())?;
    let malformed = |what: &str| ConvertError::Malformed(format!("tensor {}: {what}", src.var));
    let values: Vec<f32> = match var.dtype {
        DType::F16 if spec.ttype == TensorType::F16 => {
            check_finite(
                raw.chunks_exact(2)
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()),
            )
            .map_err(|_| malformed("holds NaN or infinite values"))?;
            return Ok(raw);
        }
        DType::F16 => raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::BF16 => raw
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        DType::F32 => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::I8 => dequantize(m, &src.var, &raw, rows)?,
        DType::I16 | DType::I32 => return Err(malformed("integer weights without a scale")),
    };
    check_finite(values.iter().copied()).map_err(|_| malformed("holds NaN or infinite values"))?;
    Ok(match spec.ttype {
        TensorType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        TensorType::F16 => values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect(),
        TensorType::Q8_0 => {
            // Rows are whole blocks (every Whisper width is a multiple of 32), so flat blocks are rows'.
            if !spec.shape.last().is_some_and(|w| w.is_multiple_of(Q8_0_BLOCK)) {
                return Err(malformed("rows are not whole q8_0 blocks"));
            }
            quantize_q8_0(&values)
        }
    })
}

/// ggml's reference q8_0: per block of 32, scale = max |x| / 127 and bytes = round(x / scale).
fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / Q8_0_BLOCK * ggml::Q8_0_BYTES);
    for block in values.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inverse = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
        out.extend(block.iter().map(|v| (v * inverse).round() as i8 as u8));
    }
    out
}

/// int8 weights carry a per-row `weight_scale`: w = q / scale.
fn dequantize(
    m: &mut Ct2Model,
    var: &str,
    raw: &[u8],
    rows: std::ops::Range<usize>,
) -> Result<Vec<f32>, ConvertError> {
    let scale_name = format!("{var}_scale");
    let (scale_var, scale_raw) = m.read_rows(&scale_name, rows.clone())?;
    let scales: Vec<f32> = match scale_var.dtype {
        DType::F32 => scale_raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        DType::F16 => scale_raw
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(ConvertError::Malformed(format!(
                "tensor {scale_name}: dtype {other:?}"
            )));
        }
    };
    let row_len = raw.len() / rows.len().max(1);
    if scales.len() != rows.len() || scales.contains(&0.0) {
        return Err(ConvertError::Malformed(format!(
            "tensor {scale_name}: not one non-zero scale per row"
        )));
    }
    Ok(raw
        .iter()
        .enumerate()
        .map(|(i, q)| f32::from(*q as i8) / scales[i / row_len])
        .collect())
}

/// The CTranslate2 variable must be exactly `parts` stacked copies of the ggml tensor's shape (trailing
/// unit dimensions aside: ggml stores conv biases as `[n, 1]`).
fn check_shape(var: &Var, spec: &TensorSpec, src: &Source) -> Result<(), ConvertError> {
    let mut want = spec.shape.clone();
    want[0] *= src.parts;
    let trim = |d: &[usize]| {
        let mut d = d.to_vec();
        while d.len() > 1 && d.last() == Some(&1) {
            d.pop();
        }
        d
    };
    if trim(&var.dims) != trim(&want) {
        return Err(ConvertError::Malformed(format!(
            "tensor {}: shape {:?}, expected {:?}",
            var.name, var.dims, want
        )));
    }
    Ok(())
}

fn check_finite(mut values: impl Iterator<Item = f32>) -> Result<(), ()> {
    if values.all(f32::is_finite) {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_projections_split_by_rows() {
        let s = source("encoder.blocks.3.attn.key.weight").unwrap();
        assert_eq!(
            (s.var.as_str(), s.part, s.parts),
            ("encoder/layer_3/self_attention/linear_0/weight", 1, 3)
        );
        let s = source("decoder.blocks.0.cross_attn.value.bias").unwrap();
        assert_eq!(
            (s.var.as_str(), s.part, s.parts),
            ("decoder/layer_0/attention/linear_1/bias", 1, 2)
        );
        let s = source("decoder.blocks.11.cross_attn_ln.weight").unwrap();
        assert_eq!(s.var, "decoder/layer_11/attention/layer_norm/gamma");
        assert_eq!(
            source("encoder.ln_post.bias").unwrap().var,
            "encoder/layer_norm/beta"
        );
        assert_eq!(source("encoder.conv2.bias").unwrap().var, "encoder/conv2/bias");
        assert_eq!(
            source("decoder.token_embedding.weight").unwrap().var,
            "decoder/embeddings/weight"
        );
    }

    #[test]
    fn every_tensor_of_every_size_has_a_source() {
        let h = Hparams {
            n_vocab: 51865,
            n_audio_ctx: 1500,
            n_audio_state: 768,
            n_audio_head: 12,
            n_audio_layer: 12,
            n_text_ctx: 448,
            n_text_state: 768,
            n_text_head: 12,
            n_text_layer: 12,
            n_mels: 80,
            ftype: ggml::FTYPE_F16,
        };
        let layout = ggml::layout(&h);
        // whisper.cpp's count for `small`: 5 + 15·12 encoder + 2, 2 + 24·12 decoder + 2.
        assert_eq!(layout.len(), 5 + 15 * 12 + 2 + 2 + 24 * 12 + 2);
        for spec in layout {
            source(&spec.name).unwrap();
        }
    }

    #[test]
    fn q8_0_blocks_keep_values_within_half_a_step() {
        let values: Vec<f32> = (0..64)
            .map(|i| ((i as f32) * 0.37).sin() * (1.0 + i as f32))
            .collect();
        let bytes = quantize_q8_0(&values);
        assert_eq!(bytes.len(), 2 * ggml::Q8_0_BYTES);
        for (block, quantized) in values.chunks(Q8_0_BLOCK).zip(bytes.chunks(ggml::Q8_0_BYTES)) {
            let d = f16::from_le_bytes([quantized[0], quantized[1]]).to_f32();
            let amax = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert!((d - amax / 127.0).abs() <= amax / 127.0 * 1e-3, "scale {d}");
            for (x, q) in block.iter().zip(&quantized[2..]) {
                let back = f32::from(*q as i8) * d;
                assert!((back - x).abs() <= d * 0.5 + amax * 1e-3, "{x} → {back}");
            }
        }
        // An all-zero block has scale 0 and zero bytes, not NaN.
        assert!(quantize_q8_0(&[0.0; Q8_0_BLOCK]).iter().all(|b| *b == 0));
    }
}
