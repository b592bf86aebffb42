//! UCI optical recognition of handwritten digits (Alpaydin & Kaynak 1998), as CSV.
//!
//! Layout: no header; one line per image of 65 comma-separated integers: 64 pixels in
//! 0..=16 (an 8x8 image, row-major) then the label 0..=9. Plain or gzip-compressed
//! (detected by the magic bytes 1f 8b). The 1,797-image set is embedded in the binary.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;
use ndarray::{Array2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::error::{Error, Result};

/// Pixels per image (8x8).
pub const PIXELS: usize = 64;

/// Largest decompressed CSV accepted (256 MiB).
const MAX_TEXT: u64 = 1 << 28;

static EMBEDDED: &[u8] = include_bytes!("../../data/digits.csv.gz");

/// Digit images as rows of 64 pixels scaled to [0, 1] (value / 16) and their labels 0..=9.
#[derive(Debug, Clone)]
pub struct Digits {
    /// `[n, 64]`, values in [0, 1].
    pub images: Array2<f32>,
    pub labels: Vec<u8>,
}

impl Digits {
    /// The 1,797 digits embedded in the binary (`data/digits.csv.gz`).
    pub fn embedded() -> Digits {
        let path = Path::new("<embedded>/data/digits.csv.gz");
        let text = decode_text(EMBEDDED, path).expect("embedded digits.csv.gz decompresses");
        Digits::parse_csv(&text, path).expect("embedded digits.csv.gz parses")
    }

    /// Read a digits CSV file, gzip-compressed or plain.
    pub fn from_csv_gz(path: &Path) -> Result<Digits> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = decode_text(&bytes, path)?;
        Digits::parse_csv(&text, path)
    }

    /// Parse digits CSV text; `path` only labels errors. Blank lines are skipped.
    pub fn parse_csv(text: &str, path: &Path) -> Result<Digits> {
        let mut pixels = Vec::new();
        let mut labels = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let n_fields = line.split(',').count();
            if n_fields != PIXELS + 1 {
                return Err(Error::format(
                    path,
                    format!(
                        "line {lineno}: expected {} fields (64 pixels and a label), found {n_fields}",
                        PIXELS + 1
                    ),
                ));
            }
            for (j, field) in line.split(',').enumerate() {
                let field = field.trim();
                let col = j + 1;
                let v: i64 = field.parse().map_err(|_| {
                    Error::format(
                        path,
                        format!("line {lineno}, field {col}: `{field}` is not an integer"),
                    )
                })?;
                if j < PIXELS {
                    if !(0..=16).contains(&v) {
                        return Err(Error::format(
                            path,
                            format!("line {lineno}, field {col}: pixel {v} is outside 0..=16"),
                        ));
                    }
                    pixels.push(v as f32 / 16.0);
                } else {
                    if !(0..=9).contains(&v) {
                        return Err(Error::format(
                            path,
                            format!("line {lineno}, field {col}: label {v} is outside 0..=9"),
                        ));
                    }
                    labels.push(v as u8);
                }
            }
        }
        if labels.is_empty() {
            return Err(Error::format(path, "no data rows"));
        }
        let n = labels.len();
        let images = Array2::from_shape_vec((n, PIXELS), pixels).map_err(|_| Error::Shape {
            what: format!("digits images of {}", path.display()),
            expected: vec![n, PIXELS],
            found: vec![],
        })?;
        Ok(Digits { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Shuffle with `Xoshiro256PlusPlus::seed_from_u64(seed)` and split into
    /// `(train, test)` with `min(n_test, len)` test images.
    pub fn split(&self, n_test: usize, seed: u64) -> (Digits, Digits) {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut Xoshiro256PlusPlus::seed_from_u64(seed));
        let n_test = n_test.min(idx.len());
        let (test_idx, train_idx) = idx.split_at(n_test);
        (self.subset(train_idx), self.subset(test_idx))
    }

    fn subset(&self, idx: &[usize]) -> Digits {
        Digits {
            images: self.images.select(Axis(0), idx),
            labels: idx.iter().map(|&i| self.labels[i]).collect(),
        }
    }
}

/// Decompress if gzip (by magic bytes), then check UTF-8.
fn decode_text(bytes: &[u8], path: &Path) -> Result<String> {
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes)
            .take(MAX_TEXT + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::format(path, format!("gzip decompression failed: {e}")))?;
        if out.len() as u64 > MAX_TEXT {
            return Err(Error::format(
                path,
                "decompressed CSV larger than 256 MiB: not a digits file",
            ));
        }
        out
    } else {
        bytes.to_vec()
    };
    String::from_utf8(raw).map_err(|e| {
        Error::format(
            path,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
