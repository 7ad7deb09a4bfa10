//! The ggml model file whisper.cpp loads: its layout, a writer for the header, and `verify_ggml`.
//!
//! whisper.cpp trusts the file it is given and can crash on a damaged one, so koe checks every file
//! before loading it: magic, sane hyper-parameters, every tensor present with the shape and type the
//! loader will expect, nothing truncated, and (when the install recorded one) the sha256.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: u32 = 0x6767_6d6c;
/// Frequency bins of a 400-point FFT: the width of whisper's mel filter matrix.
pub const N_FFT_BINS: usize = 201;

#[derive(Debug, thiserror::Error)]
pub enum GgmlError {
    #[error("cannot read model {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("model {path} is not usable: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

/// The eleven hyper-parameters at the start of the file, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hparams {
    pub n_vocab: usize,
    pub n_audio_ctx: usize,
    pub n_audio_state: usize,
    pub n_audio_head: usize,
    pub n_audio_layer: usize,
    pub n_text_ctx: usize,
    pub n_text_state: usize,
    pub n_text_head: usize,
    pub n_text_layer: usize,
    pub n_mels: usize,
    /// How the matrices are stored: `FTYPE_F32`, `FTYPE_F16` or `FTYPE_Q8_0`.
    pub ftype: usize,
}

/// All tensors f32.
pub const FTYPE_F32: usize = 0;
/// Matrices and convolution kernels f16.
pub const FTYPE_F16: usize = 1;
/// Matrices q8_0, convolution kernels f16: ggml's "mostly Q8_0" (7) plus its quantization version 2
/// times 1000, as whisper.cpp's quantize tool writes it and its loader expects.
pub const FTYPE_Q8_0: usize = 2007;

impl Hparams {
    fn to_array(self) -> [usize; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    fn from_array(a: [usize; 11]) -> Hparams {
        Hparams {
            n_vocab: a[0],
            n_audio_ctx: a[1],
            n_audio_state: a[2],
            n_audio_head: a[3],
            n_audio_layer: a[4],
            n_text_ctx: a[5],
            n_text_state: a[6],
            n_text_head: a[7],
            n_text_layer: a[8],
            n_mels: a[9],
            ftype: a[10],
        }
    }

    /// Ranges that cover every released Whisper model; anything else is a damaged header.
    pub fn check(&self) -> Result<(), String> {
        let h = self;
        let ok = (51_000..=52_000).contains(&h.n_vocab)
            && (1..=1500).contains(&h.n_audio_ctx)
            && (1..=448).contains(&h.n_text_ctx)
            && (1..=64).contains(&h.n_audio_layer)
            && (1..=64).contains(&h.n_text_layer)
            && (h.n_mels == 80 || h.n_mels == 128)
            && [FTYPE_F32, FTYPE_F16, FTYPE_Q8_0].contains(&h.ftype)
            && heads_fit(h.n_audio_state, h.n_audio_head)
            && heads_fit(h.n_text_state, h.n_text_head);
        if ok {
            Ok(())
        } else {
            Err(format!("implausible hyper-parameters {h:?}"))
        }
    }
}

fn heads_fit(state: usize, heads: usize) -> bool {
    (64..=4096).contains(&state) && heads > 0 && state.is_multiple_of(heads)
}

/// Element type of a tensor in the file (ggml's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorType {
    F32 = 0,
    F16 = 1,
    /// Blocks of 32 values: an f16 scale, then 32 signed bytes (value = scale × byte).
    Q8_0 = 8,
}

/// Values per q8_0 block, and the block's size in bytes.
pub const Q8_0_BLOCK: usize = 32;
pub const Q8_0_BYTES: usize = 2 + Q8_0_BLOCK;

impl TensorType {
    /// Bytes of `n` elements (for q8_0, `n` is a whole number of blocks).
    pub fn bytes(self, n: usize) -> usize {
        match self {
            TensorType::F32 => 4 * n,
            TensorType::F16 => 2 * n,
            TensorType::Q8_0 => n / Q8_0_BLOCK * Q8_0_BYTES,
        }
    }
}

/// One tensor whisper.cpp expects: its name, shape in numpy order (outermost first) and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub ttype: TensorType,
}

impl TensorSpec {
    pub fn bytes(&self) -> usize {
        self.ttype.bytes(self.shape.iter().product::<usize>())
    }
}

/// Every tensor of a model with these hyper-parameters, in the order koe writes them. Matrices are
/// f16 or q8_0 and convolution kernels f16 (f32 for `FTYPE_F32`); biases, norms and positional
/// embeddings f32 — the types whisper.cpp's loader allocates for each `ftype`.
pub fn layout(h: &Hparams) -> Vec<TensorSpec> {
    let mut out = Vec::new();
    let (matrix, kernel) = match h.ftype {
        FTYPE_F32 => (TensorType::F32, TensorType::F32),
        FTYPE_Q8_0 => (TensorType::Q8_0, TensorType::F16),
        _ => (TensorType::F16, TensorType::F16),
    };
    let mut push = |name: String, shape: Vec<usize>, ttype| out.push(TensorSpec { name, shape, ttype });
    let (a, t) = (h.n_audio_state, h.n_text_state);
    push(
        "encoder.positional_embedding".into(),
        vec![h.n_audio_ctx, a],
        TensorType::F32,
    );
    push("encoder.conv1.weight".into(), vec![a, h.n_mels, 3], kernel);
    push("encoder.conv1.bias".into(), vec![a, 1], TensorType::F32);
    push("encoder.conv2.weight".into(), vec![a, a, 3], kernel);
    push("encoder.conv2.bias".into(), vec![a, 1], TensorType::F32);
    let block = |push: &mut dyn FnMut(String, Vec<usize>, TensorType),
                 prefix: String,
                 n: usize,
                 cross: bool| {
        let norm = |push: &mut dyn FnMut(String, Vec<usize>, TensorType), name: &str| {
            push(format!("{prefix}.{name}.weight"), vec![n], TensorType::F32);
            push(format!("{prefix}.{name}.bias"), vec![n], TensorType::F32);
        };
        let linear =
            |push: &mut dyn FnMut(String, Vec<usize>, TensorType), name: &str, rows: usize, cols, bias| {
                push(format!("{prefix}.{name}.weight"), vec![rows, cols], matrix);
                if bias {
                    push(format!("{prefix}.{name}.bias"), vec![rows], TensorType::F32);
                }
            };
        let attention = |push: &mut dyn FnMut(String, Vec<usize>, TensorType), name: &str| {
            norm(push, &format!("{name}_ln"));
            linear(push, &format!("{name}.query"), n, n, true);
            linear(push, &format!("{name}.key"), n, n, false);
            linear(push, &format!("{name}.value"), n, n, true);
            linear(push, &format!("{name}.out"), n, n, true);
        };
        attention(push, "attn");
        if cross {
            attention(push, "cross_attn");
        }
        norm(push, "mlp_ln");
        linear(push, "mlp.0", 4 * n, n, true);
        linear(push, "mlp.2", n, 4 * n, true);
    };
    for i in 0..h.n_audio_layer {
        block(&mut push, format!("encoder.blocks.{i}"), a, false);
    }
    push("encoder.ln_post.weight".into(), vec![a], TensorType::F32);
    push("encoder.ln_post.bias".into(), vec![a], TensorType::F32);
    push(
        "decoder.positional_embedding".into(),
        vec![h.n_text_ctx, t],
        TensorType::F32,
    );
    push(
        "decoder.token_embedding.weight".into(),
        vec![h.n_vocab, t],
        matrix,
    );
    for i in 0..h.n_text_layer {
        block(&mut push, format!("decoder.blocks.{i}"), t, true);
    }
    push("decoder.ln.weight".into(), vec![t], TensorType::F32);
    push("decoder.ln.bias".into(), vec![t], TensorType::F32);
    out
}

/// Writes magic, hyper-parameters, the mel filter matrix (`n_mels` × 201) and the byte-level vocabulary.
pub fn write_header(w: &mut impl Write, h: &Hparams, mel: &[f32], vocab: &[Vec<u8>]) -> std::io::Result<()> {
    w.write_all(&MAGIC.to_le_bytes())?;
    for v in h.to_array() {
        write_i32(w, v)?;
    }
    write_i32(w, h.n_mels)?;
    write_i32(w, N_FFT_BINS)?;
    for x in mel {
        w.write_all(&x.to_le_bytes())?;
    }
    write_i32(w, vocab.len())?;
    for token in vocab {
        write_i32(w, token.len())?;
        w.write_all(token)?;
    }
    Ok(())
}

/// Writes one tensor header; the caller writes exactly `spec.bytes()` of data after it.
pub fn write_tensor_header(w: &mut impl Write, spec: &TensorSpec) -> std::io::Result<()> {
    write_i32(w, spec.shape.len())?;
    write_i32(w, spec.name.len())?;
    write_i32(w, spec.ttype as usize)?;
    for d in spec.shape.iter().rev() {
        write_i32(w, *d)?;
    }
    w.write_all(spec.name.as_bytes())
}

fn write_i32(w: &mut impl Write, v: usize) -> std::io::Result<()> {
    let v = i32::try_from(v).map_err(|_| std::io::Error::other("value does not fit in i32"))?;
    w.write_all(&v.to_le_bytes())
}

/// What `verify_ggml` learnt about a good file.
#[derive(Debug, Clone)]
pub struct ModelInfo {
    pub hparams: Hparams,
    pub tokens: usize,
    pub tensors: usize,
    pub bytes: u64,
}

impl ModelInfo {
    /// Multilingual models have one more token (`<|endoftext|>` moves up by one).
    pub fn multilingual(&self) -> bool {
        self.hparams.n_vocab >= 51_865
    }
}

/// Checks that `path` is a complete whisper.cpp model before anything hands it to whisper.cpp.
pub fn verify_ggml(path: &Path) -> Result<ModelInfo, GgmlError> {
    let io = |e| GgmlError::Io(path.to_owned(), e);
    let invalid = |problem: String| GgmlError::Invalid {
        path: path.to_owned(),
        problem,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut r = BufReader::new(file);
    let truncated = |what: &str| invalid(format!("file truncated in {what}"));
    let magic = read_i32(&mut r).map_err(|_| truncated("the magic number"))? as u32;
    if magic != MAGIC {
        return Err(invalid(format!(
            "bad magic 0x{magic:08x}, not a ggml Whisper model"
        )));
    }
    let mut values = [0usize; 11];
    for v in &mut values {
        *v = usize::try_from(read_i32(&mut r).map_err(|_| truncated("the hyper-parameters"))?)
            .map_err(|_| invalid("negative hyper-parameter".into()))?;
    }
    let h = Hparams::from_array(values);
    h.check().map_err(invalid)?;
    let n_mel = read_i32(&mut r).map_err(|_| truncated("the mel filters"))?;
    let n_fft = read_i32(&mut r).map_err(|_| truncated("the mel filters"))?;
    if n_mel as usize != h.n_mels || n_fft as usize != N_FFT_BINS {
        return Err(invalid(format!(
            "mel filters are {n_mel}×{n_fft}, expected {}×201",
            h.n_mels
        )));
    }
    skip(&mut r, (h.n_mels * N_FFT_BINS * 4) as u64, len).map_err(|_| truncated("the mel filters"))?;
    let tokens = read_i32(&mut r).map_err(|_| truncated("the vocabulary"))?;
    if tokens <= 0 || tokens as usize > h.n_vocab {
        return Err(invalid(format!(
            "vocabulary of {tokens} tokens for n_vocab {}",
            h.n_vocab
        )));
    }
    for i in 0..tokens {
        let n = read_i32(&mut r).map_err(|_| truncated("the vocabulary"))?;
        if !(0..=256).contains(&n) {
            return Err(invalid(format!("token {i} has length {n}")));
        }
        skip(&mut r, n as u64, len).map_err(|_| truncated("the vocabulary"))?;
    }
    let mut expected: HashMap<String, TensorSpec> =
        layout(&h).into_iter().map(|s| (s.name.clone(), s)).collect();
    let total = expected.len();
    while r.stream_position().map_err(io)? < len {
        let spec = read_tensor_header(&mut r).map_err(|e| invalid(format!("tensor header: {e}")))?;
        let want = expected
            .remove(&spec.name)
            .ok_or_else(|| invalid(format!("unexpected or duplicated tensor {:?}", spec.name)))?;
        if want.shape != spec.shape || want.ttype != spec.ttype {
            return Err(invalid(format!(
                "tensor {} is {:?} {:?}, expected {:?} {:?}",
                spec.name, spec.shape, spec.ttype, want.shape, want.ttype
            )));
        }
        skip(&mut r, spec.bytes() as u64, len)
            .map_err(|_| invalid(format!("file truncated in tensor {}", spec.name)))?;
    }
    if let Some(missing) = layout(&h).into_iter().find(|s| expected.contains_key(&s.name)) {
        return Err(invalid(format!(
            "tensor {} missing ({} of {total} absent: truncated?)",
            missing.name,
            expected.len()
        )));
    }
    check_recorded_sha256(path).map_err(invalid)?;
    Ok(ModelInfo {
        hparams: h,
        tokens: tokens as usize,
        tensors: total,
        bytes: len,
    })
}

/// When the install recorded `<model>.sha256`, the file must still have that hash (catches bit rot and
/// partial overwrites that keep the structure intact).
fn check_recorded_sha256(path: &Path) -> Result<(), String> {
    let sidecar = super::models::sha256_path(path);
    let Ok(recorded) = std::fs::read_to_string(&sidecar) else {
        return Ok(());
    };
    let recorded = recorded.split_whitespace().next().unwrap_or_default().to_string();
    let actual = super::models::sha256_file(path).map_err(|e| format!("cannot hash: {e}"))?;
    if recorded != actual {
        return Err(format!(
            "sha256 {actual} differs from the one recorded at install ({recorded}): the file is corrupted, \
             reinstall it with `koe models install --force`"
        ));
    }
    Ok(())
}

fn read_tensor_header(r: &mut impl Read) -> Result<TensorSpec, String> {
    let eof = |_| "truncated".to_string();
    let n_dims = read_i32(r).map_err(eof)?;
    let name_len = read_i32(r).map_err(eof)?;
    let ttype = read_i32(r).map_err(eof)?;
    if !(1..=4).contains(&n_dims) || !(1..=128).contains(&name_len) {
        return Err(format!("{n_dims} dimensions, name of {name_len} bytes"));
    }
    let mut shape = Vec::new();
    for _ in 0..n_dims {
        let d = read_i32(r).map_err(eof)?;
        shape.push(usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?);
    }
    shape.reverse();
    let mut name = vec![0u8; name_len as usize];
    r.read_exact(&mut name).map_err(eof)?;
    let name = String::from_utf8(name).map_err(|_| "tensor name is not UTF-8".to_string())?;
    let ttype = match ttype {
        0 => TensorType::F32,
        1 => TensorType::F16,
        8 => TensorType::Q8_0,
        t => return Err(format!("tensor {name} has unsupported type {t}")),
    };
    Ok(TensorSpec { name, shape, ttype })
}

fn read_i32(r: &mut impl Read) -> std::io::Result<i32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(i32::from_le_bytes(b))
}

/// Seeks forward `n` bytes, failing when that would pass the end of the file.
fn skip(r: &mut BufReader<File>, n: u64, len: u64) -> std::io::Result<()> {
    if r.stream_position()? + n > len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    r.seek_relative(n as i64)
}
