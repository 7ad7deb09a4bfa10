//! Reader for CTranslate2's `model.bin` (the format faster-whisper models ship in).
//!
//! Only the index is read up front; tensor data stays on disk and is read one tensor (or one slice of rows)
//! at a time, so converting `small` never holds more than its largest tensor in memory. Every size in the
//! index is checked against the file, so a truncated or corrupted file is refused naming the tensor.

use super::convert::ConvertError;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

/// Element types of a CTranslate2 variable, numbered as in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl DType {
    fn from_code(code: u8) -> Option<DType> {
        Some(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// One variable of the index: where its data lies in the file.
#[derive(Debug, Clone)]
pub struct Var {
    pub name: String,
    pub dims: Vec<usize>,
    pub dtype: DType,
    offset: u64,
}

impl Var {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// An opened `model.bin`: the checked index plus the file to read tensor data from.
pub struct Ct2Model {
    vars: HashMap<String, Var>,
    file: BufReader<File>,
}

/// The format version this reader understands (CTranslate2 ≥ 3 writes 6).
const VERSION: u32 = 6;

impl Ct2Model {
    pub fn open(path: &Path) -> Result<Ct2Model, ConvertError> {
        let file = File::open(path).map_err(|e| ConvertError::Io(path.to_owned(), e))?;
        let len = file
            .metadata()
            .map_err(|e| ConvertError::Io(path.to_owned(), e))?
            .len();
        let mut r = BufReader::new(file);
        let bad = |what: String| ConvertError::Malformed(what);
        let version = read_u32(&mut r).map_err(|_| bad("model.bin: empty or truncated header".into()))?;
        if version != VERSION {
            return Err(bad(format!(
                "model.bin: format version {version}, expected {VERSION} (not a CTranslate2 model?)"
            )));
        }
        let spec = read_string(&mut r).map_err(|_| bad("model.bin: unreadable spec name".into()))?;
        if spec != "WhisperSpec" {
            return Err(bad(format!("model.bin: spec {spec:?} is not a Whisper model")));
        }
        let _revision = read_u32(&mut r).map_err(|_| bad("model.bin: truncated header".into()))?;
        let n_vars = read_u32(&mut r).map_err(|_| bad("model.bin: truncated header".into()))?;
        let mut vars = HashMap::new();
        let mut previous = String::from("(header)");
        for _ in 0..n_vars {
            let var = read_var(&mut r, len).map_err(|e| match e {
                ReadVarError::Io => bad(format!("model.bin truncated after tensor {previous}")),
                ReadVarError::Bad(msg) => bad(format!("model.bin: after tensor {previous}: {msg}")),
                ReadVarError::Tensor(name, msg) => bad(format!("tensor {name}: {msg}")),
            })?;
            previous = var.name.clone();
            vars.insert(var.name.clone(), var);
        }
        Ok(Ct2Model { vars, file: r })
    }

    pub fn get(&self, name: &str) -> Result<&Var, ConvertError> {
        self.vars
            .get(name)
            .ok_or_else(|| ConvertError::Missing(name.to_string()))
    }

    /// Names of all variables, for counting layers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Reads rows `rows` (along the first dimension) of a variable as raw little-endian bytes.
    pub fn read_rows(&mut self, name: &str, rows: Range<usize>) -> Result<(Var, Vec<u8>), ConvertError> {
        let var = self.get(name)?.clone();
        let total_rows = var.dims.first().copied().unwrap_or(1);
        if rows.end > total_rows || rows.start > rows.end {
            return Err(ConvertError::Malformed(format!(
                "tensor {name}: rows {rows:?} out of {total_rows}"
            )));
        }
        let row_bytes = var.elements() / total_rows.max(1) * var.dtype.size();
        let mut buf = vec![0u8; rows.len() * row_bytes];
        self.file
            .seek(SeekFrom::Start(var.offset + (rows.start * row_bytes) as u64))
            .and_then(|_| self.file.read_exact(&mut buf))
            .map_err(|e| ConvertError::Malformed(format!("tensor {name}: cannot read data: {e}")))?;
        Ok((var, buf))
    }

    /// Reads a scalar integer variable (e.g. `encoder/num_heads`).
    pub fn read_int(&mut self, name: &str) -> Result<i64, ConvertError> {
        let (var, bytes) = self.read_rows(name, 0..1)?;
        let value = match (var.dtype, bytes.as_slice()) {
            (DType::I8, [a]) => i64::from(*a as i8),
            (DType::I16, [a, b]) => i64::from(i16::from_le_bytes([*a, *b])),
            (DType::I32, [a, b, c, d]) => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
            _ => {
                return Err(ConvertError::Malformed(format!(
                    "tensor {name}: not an integer scalar"
                )));
            }
        };
        Ok(value)
    }
}

enum ReadVarError {
    Io,
    Bad(String),
    Tensor(String, String),
}

impl From<std::io::Error> for ReadVarError {
    fn from(_: std::io::Error) -> Self {
        ReadVarError::Io
    }
}

fn read_var(r: &mut BufReader<File>, file_len: u64) -> Result<Var, ReadVarError> {
    let name = read_string(r)?;
    let ndim = read_u8(r)?;
    if ndim > 4 {
        return Err(ReadVarError::Tensor(name, format!("{ndim} dimensions")));
    }
    let mut dims = Vec::with_capacity(ndim as usize);
    for _ in 0..ndim {
        dims.push(read_u32(r)? as usize);
    }
    let code = read_u8(r)?;
    let dtype = DType::from_code(code)
        .ok_or_else(|| ReadVarError::Tensor(name.clone(), format!("unknown dtype {code}")))?;
    let nbytes = read_u32(r)? as u64;
    let expected = dims.iter().product::<usize>() as u64 * dtype.size() as u64;
    if nbytes != expected {
        return Err(ReadVarError::Tensor(
            name,
            format!("{nbytes} bytes of data, expected {expected} for shape {dims:?} {dtype:?}"),
        ));
    }
    let offset = r.stream_position()?;
    if offset + nbytes > file_len {
        return Err(ReadVarError::Tensor(
            name,
            format!("truncated: needs {nbytes} bytes at offset {offset}, file has {file_len}"),
        ));
    }
    r.seek_relative(nbytes as i64)?;
    Ok(Var {
        name,
        dims,
        dtype,
        offset,
    })
}

fn read_u8(r: &mut impl Read) -> std::io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// A string is a u16 length (including the trailing NUL), the UTF-8 bytes, then NUL.
fn read_string(r: &mut impl Read) -> Result<String, ReadVarError> {
    let mut b = [0u8; 2];
    r.read_exact(&mut b)?;
    let len = u16::from_le_bytes(b) as usize;
    if len == 0 {
        return Err(ReadVarError::Bad("empty name".into()));
    }
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    bytes.pop();
    String::from_utf8(bytes).map_err(|_| ReadVarError::Bad("tensor name is not UTF-8".into()))
}

impl From<ReadVarError> for ConvertError {
    fn from(e: ReadVarError) -> Self {
        match e {
            ReadVarError::Io => ConvertError::Malformed("model.bin truncated in its header".into()),
            ReadVarError::Bad(m) => ConvertError::Malformed(format!("model.bin: {m}")),
            ReadVarError::Tensor(n, m) => ConvertError::Malformed(format!("tensor {n}: {m}")),
        }
    }
}
