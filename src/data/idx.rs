//! IDX files (the MNIST format), plain or gzip-compressed (detected by the magic bytes 1f 8b).
//!
//! Layout: magic `00 00 TT NN` (TT = data type, only 0x08 = unsigned byte is read;
//! NN = number of dimensions), then NN big-endian u32 sizes, then the product of the
//! sizes in raw bytes, row-major, and nothing after.
//!
//! Hostile files: the payload the header promises is capped at [`max_bytes`] (512 MiB
//! by default, 10x MNIST's training images; `ebm --max-data SIZE` raises it), checked
//! against the memory budget before it is allocated, and a gzip stream is read only up
//! to that size plus one byte (a gzip bomb stops there). Images are converted to f32 as
//! they are read: the file is never held in memory beside its pixels.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use ndarray::Array2;

use crate::error::{Error, Result};

/// Default of [`max_bytes`]: 512 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 512 << 20;

static MAX_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_BYTES);

/// The largest payload an IDX header may promise; larger is refused as corrupt.
pub fn max_bytes() -> u64 {
    MAX_BYTES.load(Ordering::Relaxed)
}

/// Set [`max_bytes`] (the command line's `--max-data`).
pub fn set_max_bytes(n: u64) {
    MAX_BYTES.store(n, Ordering::Relaxed);
}

/// A decoded IDX file of unsigned bytes: its dimensions and its row-major data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Read an IDX file of unsigned bytes, gzip-compressed or not, streamed from disk.
pub fn read_idx(path: &Path) -> Result<Idx> {
    let (dims, data) = read_with(path, |b| b)?;
    Ok(Idx { dims, data })
}

/// Read an IDX file of unsigned bytes as `f32` values `byte / 255`, converted as they
/// are read (one copy in memory: the floats).
pub fn read_idx_unit(path: &Path) -> Result<(Vec<usize>, Vec<f32>)> {
    read_with(path, |b| b as f32 / 255.0)
}

fn read_with<T>(path: &Path, conv: impl Fn(u8) -> T) -> Result<(Vec<usize>, Vec<T>)> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = BufReader::new(f);
    let head = r.fill_buf_peek().map_err(|e| Error::io(path, e))?;
    if head.is_empty() {
        return Err(Error::format(path, "empty file"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let gz_err =
            |e: std::io::Error| Error::format(path, format!("gzip decompression failed: {e}"));
        parse_stream(
            MultiGzDecoder::new(r),
            path,
            gz_err,
            "decompressed data",
            conv,
        )
    } else {
        parse_stream(r, path, |e| Error::io(path, e), "file", conv)
    }
}

/// Peek at the first bytes of a buffered reader without consuming them.
trait Peek {
    fn fill_buf_peek(&mut self) -> std::io::Result<Vec<u8>>;
}

impl<R: Read> Peek for BufReader<R> {
    fn fill_buf_peek(&mut self) -> std::io::Result<Vec<u8>> {
        use std::io::BufRead;
        Ok(self.fill_buf()?.iter().take(2).copied().collect())
    }
}

/// Parse IDX content held in memory (gzip-compressed or not); `path` only labels errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<Idx> {
    if bytes.is_empty() {
        return Err(Error::format(path, "empty file"));
    }
    let (dims, data) = if bytes.starts_with(&[0x1f, 0x8b]) {
        let gz_err =
            |e: std::io::Error| Error::format(path, format!("gzip decompression failed: {e}"));
        parse_stream(
            MultiGzDecoder::new(bytes),
            path,
            gz_err,
            "decompressed data",
            |b| b,
        )?
    } else {
        parse_stream(bytes, path, |e| Error::io(path, e), "file", |b| b)?
    };
    Ok(Idx { dims, data })
}

/// Fill `buf` as far as the reader allows; returns the number of bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn parse_stream<R: Read, T>(
    mut r: R,
    path: &Path,
    err: impl Fn(std::io::Error) -> Error,
    what: &str,
    conv: impl Fn(u8) -> T,
) -> Result<(Vec<usize>, Vec<T>)> {
    let mut magic = [0u8; 4];
    let n = read_full(&mut r, &mut magic).map_err(&err)?;
    if n == 0 {
        return Err(Error::format(path, format!("empty {what}")));
    }
    if n < 4 {
        return Err(Error::format(
            path,
            format!("truncated header: expected 4 bytes of magic, found {n}"),
        ));
    }
    if magic[0] != 0 || magic[1] != 0 {
        return Err(Error::format(
            path,
            format!(
                "bad magic {:02x} {:02x} {:02x} {:02x}: not an IDX file (the first two bytes must be zero)",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    if magic[2] != 0x08 {
        return Err(Error::format(
            path,
            format!(
                "bad magic: unsupported IDX data type 0x{:02x} (only unsigned byte 0x08 is read)",
                magic[2]
            ),
        ));
    }
    let ndim = magic[3] as usize;
    if ndim == 0 {
        return Err(Error::format(
            path,
            "bad magic: IDX file with zero dimensions",
        ));
    }
    let mut dim_bytes = vec![0u8; 4 * ndim];
    let n = read_full(&mut r, &mut dim_bytes).map_err(&err)?;
    if n < dim_bytes.len() {
        return Err(Error::format(
            path,
            format!(
                "truncated header: expected {} bytes of dimensions for {ndim} dimensions, found {n}",
                dim_bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let cap = max_bytes();
    let total = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&p| p <= cap)
        .ok_or_else(|| {
            Error::format(
                path,
                format!(
                    "dimensions {dims:?} promise more than {} of data (the cap; raise it with --max-data)",
                    crate::budget::human(cap)
                ),
            )
        })? as usize;
    crate::budget::check(
        "max-data",
        crate::budget::bytes(Some(total as u64), std::mem::size_of::<T>().max(1) as u64),
        &format!("the data of {}", path.display()),
    )?;
    // Reserved, not touched: pages of a short file are never committed.
    let mut data: Vec<T> = Vec::with_capacity(total);
    let mut r = r.take(total as u64 + 1);
    let mut chunk = vec![0u8; 1 << 16];
    let mut extra = false;
    loop {
        let n = read_full(&mut r, &mut chunk).map_err(&err)?;
        let room = total - data.len();
        data.extend(chunk[..n.min(room)].iter().map(|&b| conv(b)));
        if n > room {
            extra = true;
        }
        if n < chunk.len() || extra {
            break;
        }
    }
    if data.len() < total {
        return Err(Error::format(
            path,
            format!(
                "truncated: expected {total} bytes of data, found {}",
                data.len()
            ),
        ));
    }
    if extra {
        return Err(Error::format(
            path,
            format!("trailing bytes after the {total} bytes of data for dimensions {dims:?}"),
        ));
    }
    Ok((dims, data))
}

/// MNIST: images as rows of `rows * cols` pixels scaled to [0, 1] (pixel / 255), labels 0..=9.
#[derive(Debug, Clone)]
pub struct Mnist {
    pub train_images: Array2<f32>,
    pub train_labels: Vec<u8>,
    pub test_images: Array2<f32>,
    pub test_labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Mnist {
    /// Load the four MNIST files from `dir`. Each may be named `train-images-idx3-ubyte`
    /// or `train-images.idx3-ubyte`, with or without `.gz` (likewise `train-labels-idx1`,
    /// `t10k-images-idx3`, `t10k-labels-idx1`).
    pub fn load(dir: &Path) -> Result<Mnist> {
        let (train_images, train_labels, rows, cols) = load_split(dir, "train")?;
        let (test_images, test_labels, trows, tcols) = load_split(dir, "t10k")?;
        if (trows, tcols) != (rows, cols) {
            return Err(Error::format(
                find_file(dir, "t10k", "images", "idx3")?,
                format!("test images are {trows}x{tcols} but training images are {rows}x{cols}"),
            ));
        }
        Ok(Mnist {
            train_images,
            train_labels,
            test_images,
            test_labels,
            rows,
            cols,
        })
    }
}

/// The first existing name among `{prefix}-{kind}-{idx}-ubyte`, `{prefix}-{kind}.{idx}-ubyte`,
/// each with or without `.gz`.
fn find_file(dir: &Path, prefix: &str, kind: &str, idx: &str) -> Result<PathBuf> {
    let dashed = format!("{prefix}-{kind}-{idx}-ubyte");
    let dotted = format!("{prefix}-{kind}.{idx}-ubyte");
    for name in [
        dashed.clone(),
        format!("{dashed}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::format(
        dir,
        format!("missing MNIST file {dashed} (also tried {dashed}.gz, {dotted}, {dotted}.gz)"),
    ))
}

fn load_split(dir: &Path, prefix: &str) -> Result<(Array2<f32>, Vec<u8>, usize, usize)> {
    let img_path = find_file(dir, prefix, "images", "idx3")?;
    let lab_path = find_file(dir, prefix, "labels", "idx1")?;
    let (img_dims, pixels) = read_idx_unit(&img_path)?;
    if img_dims.len() != 3 {
        return Err(Error::format(
            &img_path,
            format!(
                "expected 3 dimensions (images x rows x cols), found {:?}",
                img_dims
            ),
        ));
    }
    let (n, rows, cols) = (img_dims[0], img_dims[1], img_dims[2]);
    if n == 0 || rows == 0 || cols == 0 {
        return Err(Error::format(
            &img_path,
            format!("no data: {n} images of {rows}x{cols} pixels"),
        ));
    }
    let lab = read_idx(&lab_path)?;
    if lab.dims.len() != 1 {
        return Err(Error::format(
            &lab_path,
            format!("expected 1 dimension (labels), found {:?}", lab.dims),
        ));
    }
    if lab.dims[0] != n {
        return Err(Error::format(
            &lab_path,
            format!(
                "count mismatch: {} labels but {} has {n} images",
                lab.dims[0],
                img_path.display()
            ),
        ));
    }
    if let Some((i, &v)) = lab.data.iter().enumerate().find(|&(_, &v)| v > 9) {
        return Err(Error::format(
            &lab_path,
            format!("label {v} at index {i} is outside 0..=9"),
        ));
    }
    let images = Array2::from_shape_vec((n, rows * cols), pixels).map_err(|_| Error::Shape {
        what: format!("images of {}", img_path.display()),
        expected: vec![n, rows * cols],
        found: img_dims.clone(),
    })?;
    Ok((images, lab.data, rows, cols))
}
