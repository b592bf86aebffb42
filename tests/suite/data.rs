//! Data loaders: embedded UCI digits, MNIST IDX files, and their errors on bad input.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ebm::data::digits::Digits;
use ebm::data::idx::{Idx, Mnist, parse_idx, read_idx};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

// ---------- helpers ----------

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty directory under the system temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("ebm-test-data-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A small valid MNIST-like set: `n` images of 3x2 pixels and `n` labels.
fn images(n: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..n * 6).map(|i| (i * 37 % 256) as u8).collect();
    idx_bytes(&[n, 3, 2], &data)
}
fn labels(n: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    idx_bytes(&[n], &data)
}

/// Write a complete small MNIST directory with the classic gzip names.
fn small_mnist(tag: &str) -> PathBuf {
    let dir = temp_dir(tag);
    write(&dir, "train-images-idx3-ubyte.gz", &gzip(&images(12)));
    write(&dir, "train-labels-idx1-ubyte.gz", &gzip(&labels(12)));
    write(&dir, "t10k-images-idx3-ubyte.gz", &gzip(&images(5)));
    write(&dir, "t10k-labels-idx1-ubyte.gz", &gzip(&labels(5)));
    dir
}

fn err_msg<T: std::fmt::Debug>(r: ebm::error::Result<T>) -> String {
    let msg = r.expect_err("expected an error").to_string();
    assert!(!msg.contains('\n'), "error is not one line: {msg}");
    msg
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "error `{msg}` should mention `{p}`");
    }
}

fn mnist_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if dir.is_dir() {
        Some(dir)
    } else {
        crate::common::skip_unless_ci(
            "data (MNIST)",
            &format!("MNIST directory {} is absent", dir.display()),
        );
        None
    }
}

// ---------- UCI digits ----------

#[test]
fn embedded_digits_shape_values_labels() {
    let d = Digits::embedded();
    assert_eq!(d.len(), 1797);
    assert!(!d.is_empty());
    assert_eq!(d.images.dim(), (1797, 64));
    assert_eq!(d.labels.len(), 1797);
    assert!(d.images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // Values are k/16: the maximum 16 must occur, and some zeros.
    assert!(d.images.iter().any(|&v| v == 1.0));
    assert!(d.images.iter().any(|&v| v == 0.0));
    let mut counts = [0usize; 10];
    for &l in &d.labels {
        assert!(l <= 9);
        counts[l as usize] += 1;
    }
    for (c, &n) in counts.iter().enumerate() {
        assert!((170..=190).contains(&n), "class {c} has {n} images");
    }
}

#[test]
fn digits_from_plain_and_gz_files() {
    let dir = temp_dir("digits");
    let mut row: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
    row.push("7".into());
    let text = format!("{}\r\n\n{}\n", row.join(","), row.join(", "));
    let plain = write(&dir, "d.csv", text.as_bytes());
    let gz = write(&dir, "d.csv.gz", &gzip(text.as_bytes()));
    // Gzip is detected by magic bytes, not the extension.
    let gz_odd = write(&dir, "d.txt", &gzip(text.as_bytes()));
    for p in [&plain, &gz, &gz_odd] {
        let d = Digits::from_csv_gz(p).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.labels, vec![7, 7]);
        assert_eq!(d.images[[0, 16]], 16.0 / 16.0);
        assert_eq!(d.images[[1, 3]], 3.0 / 16.0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn digits_csv_errors_name_file_line_field() {
    let p = Path::new("bad-digits.csv");
    let good: Vec<String> = (0..65).map(|_| "1".to_string()).collect();
    let line = |f: &dyn Fn(&mut Vec<String>)| {
        let mut r = good.clone();
        f(&mut r);
        format!("{}\n{}\n", good.join(","), r.join(","))
    };

    let m = err_msg(Digits::parse_csv(
        &line(&|r| {
            r.pop();
        }),
        p,
    ));
    assert_mentions(
        &m,
        &["bad-digits.csv", "line 2", "expected 65 fields", "found 64"],
    );

    let m = err_msg(Digits::parse_csv(&line(&|r| r[4] = "x1".into()), p));
    assert_mentions(
        &m,
        &["bad-digits.csv", "line 2", "field 5", "not an integer"],
    );

    let m = err_msg(Digits::parse_csv(&line(&|r| r[10] = "17".into()), p));
    assert_mentions(&m, &["bad-digits.csv", "line 2", "field 11", "pixel 17"]);

    let m = err_msg(Digits::parse_csv(&line(&|r| r[0] = "-1".into()), p));
    assert_mentions(&m, &["bad-digits.csv", "line 2", "field 1", "pixel -1"]);

    let m = err_msg(Digits::parse_csv(&line(&|r| r[64] = "10".into()), p));
    assert_mentions(&m, &["bad-digits.csv", "line 2", "field 65", "label 10"]);

    let m = err_msg(Digits::parse_csv("", p));
    assert_mentions(&m, &["bad-digits.csv", "no data rows"]);

    let dir = temp_dir("digits-bad");
    let f = write(&dir, "garbage.csv.gz", &[0x1f, 0x8b, 1, 2, 3, 4, 5]);
    assert_mentions(
        &err_msg(Digits::from_csv_gz(&f)),
        &["garbage.csv.gz", "gzip"],
    );
    let f = write(&dir, "binary.csv", &[0xff, 0xfe, 0, 1]);
    assert_mentions(&err_msg(Digits::from_csv_gz(&f)), &["binary.csv", "UTF-8"]);
    let missing = dir.join("missing.csv");
    assert_mentions(&err_msg(Digits::from_csv_gz(&missing)), &["missing.csv"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn digits_split_is_seeded_and_partitions() {
    let d = Digits::embedded();
    let (train, test) = d.split(297, 42);
    assert_eq!(test.len(), 297);
    assert_eq!(train.len(), 1500);
    assert_eq!(train.images.dim(), (1500, 64));
    assert_eq!(test.images.dim(), (297, 64));
    // Same seed, same split; another seed, another split.
    let (train2, test2) = d.split(297, 42);
    assert_eq!(test.labels, test2.labels);
    assert_eq!(train.images, train2.images);
    let (_, test3) = d.split(297, 43);
    assert_ne!(test.images, test3.images);
    // A partition: the multiset of rows is preserved.
    let key = |x: &Digits| {
        let mut rows: Vec<Vec<u32>> = x
            .images
            .outer_iter()
            .zip(&x.labels)
            .map(|(r, &l)| {
                let mut k: Vec<u32> = r.iter().map(|&v| (v * 16.0) as u32).collect();
                k.push(l as u32);
                k
            })
            .collect();
        rows.sort();
        rows
    };
    let mut both = key(&train);
    both.extend(key(&test));
    both.sort();
    assert_eq!(both, key(&d));
    // Asking for more test rows than exist does not panic.
    let (tr, te) = d.split(5000, 1);
    assert_eq!((tr.len(), te.len()), (0, 1797));
    assert!(tr.is_empty());
}

// ---------- IDX / MNIST ----------

#[test]
fn mnist_real_files() {
    let Some(dir) = mnist_dir() else { return };
    let t = std::time::Instant::now();
    let m = Mnist::load(&dir).unwrap();
    eprintln!("MNIST loaded in {:.3} s", t.elapsed().as_secs_f64());
    assert_eq!((m.rows, m.cols), (28, 28));
    assert_eq!(m.train_images.dim(), (60_000, 784));
    assert_eq!(m.train_labels.len(), 60_000);
    assert_eq!(m.test_images.dim(), (10_000, 784));
    assert_eq!(m.test_labels.len(), 10_000);
    assert!(m.train_images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let mean = m.train_images.iter().map(|&v| v as f64).sum::<f64>() / m.train_images.len() as f64;
    assert!(
        (mean - 0.1307).abs() < 1e-3,
        "MNIST training mean pixel {mean}"
    );
    let mut counts = [0usize; 10];
    for &l in &m.train_labels {
        counts[l as usize] += 1;
    }
    assert!(
        counts.iter().all(|&c| (5000..=7000).contains(&c)),
        "{counts:?}"
    );
}

#[test]
fn mnist_plain_and_dotted_names() {
    let dir = temp_dir("names");
    // Every naming variant, mixed: dotted plain, dashed gzip, dashed plain, dotted gzip.
    write(&dir, "train-images.idx3-ubyte", &images(12));
    write(&dir, "train-labels-idx1-ubyte.gz", &gzip(&labels(12)));
    write(&dir, "t10k-images-idx3-ubyte", &images(5));
    write(&dir, "t10k-labels.idx1-ubyte.gz", &gzip(&labels(5)));
    let m = Mnist::load(&dir).unwrap();
    assert_eq!((m.rows, m.cols), (3, 2));
    assert_eq!(m.train_images.dim(), (12, 6));
    assert_eq!(m.test_images.dim(), (5, 6));
    assert_eq!(m.train_labels[..3], [0, 1, 2]);
    assert_eq!(m.train_images[[0, 1]], 37.0 / 255.0);
    assert!(m.train_images.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let _ = std::fs::remove_dir_all(&dir);

    // The same bytes read back the same, compressed or not; gzip by magic, not extension.
    let dir = temp_dir("gz-magic");
    let plain = write(&dir, "a.gz", &images(4));
    let gz = write(&dir, "b", &gzip(&images(4)));
    let (a, b) = (read_idx(&plain).unwrap(), read_idx(&gz).unwrap());
    assert_eq!(a, b);
    assert_eq!(a.dims, vec![4, 3, 2]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn idx_errors_name_file_and_problem() {
    let dir = temp_dir("idx-bad");
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("magic.idx", vec![1, 2, 8, 1, 0, 0, 0, 0], &["bad magic"]),
        (
            "type.idx",
            {
                let mut v = images(2);
                v[2] = 0x0d;
                v
            },
            &["bad magic", "0x0d"],
        ),
        (
            "trunc.idx",
            {
                let mut v = images(4);
                v.truncate(v.len() - 3);
                v
            },
            &["truncated: expected 24 bytes of data, found 21"],
        ),
        (
            "trunc-hdr.idx",
            images(4)[..9].to_vec(),
            &["truncated header"],
        ),
        (
            "trail.idx",
            {
                let mut v = images(4);
                v.push(0);
                v
            },
            &["trailing bytes"],
        ),
        ("empty.idx", vec![], &["empty file"]),
        (
            "absurd.idx",
            idx_bytes(&[u32::MAX, u32::MAX, 2], &[]),
            &["promise more than", "--max-data"],
        ),
        (
            "big.idx",
            idx_bytes(&[65536, 65536], &[1, 2, 3]),
            &["promise more than 512.0 MiB"],
        ),
        (
            "huge-but-ok.idx",
            idx_bytes(&[1 << 14, 1 << 14], &[1, 2, 3]),
            &["truncated"],
        ),
        (
            "garbage.idx",
            b"\x89PNG\r\n\x1a\n some random bytes".to_vec(),
            &["bad magic"],
        ),
        (
            "trunc.gz",
            {
                let g = gzip(&images(40));
                g[..g.len() / 2].to_vec()
            },
            &["gzip"],
        ),
        (
            "trail.gz",
            {
                let mut v = images(4);
                v.extend_from_slice(&[9, 9]);
                gzip(&v)
            },
            &["trailing bytes"],
        ),
        ("empty.gz", gzip(&[]), &["empty"]),
    ];
    for (name, bytes, parts) in cases {
        let p = write(&dir, name, &bytes);
        let m = err_msg(read_idx(&p));
        assert_mentions(&m, &[name]);
        assert_mentions(&m, parts);
        // The in-memory parser agrees.
        assert_eq!(err_msg(parse_idx(&bytes, &p)), m);
    }
    let m = err_msg(read_idx(&dir.join("nope.idx")));
    assert_mentions(&m, &["nope.idx"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mnist_errors_name_files_and_problem() {
    // Missing file: names the directory and the expected name.
    let dir = small_mnist("missing");
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &[dir.to_str().unwrap(), "t10k-labels-idx1-ubyte"]);
    let _ = std::fs::remove_dir_all(&dir);

    // Count mismatch: names both files and both counts.
    let dir = small_mnist("count");
    write(&dir, "train-labels-idx1-ubyte.gz", &gzip(&labels(11)));
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(
        &m,
        &[
            "train-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "11",
            "12",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);

    // Label 10: names the file and the index.
    let dir = small_mnist("label");
    let mut l = labels(5);
    let last = l.len() - 2;
    l[last] = 10;
    write(&dir, "t10k-labels-idx1-ubyte.gz", &gzip(&l));
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &["t10k-labels-idx1-ubyte.gz", "label 10", "index 3"]);
    let _ = std::fs::remove_dir_all(&dir);

    // Images that are not 3-D, labels that are not 1-D.
    let dir = small_mnist("dims");
    write(
        &dir,
        "train-images-idx3-ubyte.gz",
        &gzip(&idx_bytes(&[12, 6], &[0; 72])),
    );
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &["train-images-idx3-ubyte.gz", "3 dimensions"]);
    write(&dir, "train-images-idx3-ubyte.gz", &gzip(&images(12)));
    write(
        &dir,
        "train-labels-idx1-ubyte.gz",
        &gzip(&idx_bytes(&[12, 1], &[0; 12])),
    );
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &["train-labels-idx1-ubyte.gz", "1 dimension"]);
    let _ = std::fs::remove_dir_all(&dir);

    // Corrupt content inside a valid name is reported with that file's name.
    let dir = small_mnist("garbage");
    write(&dir, "t10k-images-idx3-ubyte.gz", b"not an idx file at all");
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &["t10k-images-idx3-ubyte.gz", "bad magic"]);
    write(&dir, "t10k-images-idx3-ubyte.gz", &[]);
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &["t10k-images-idx3-ubyte.gz", "empty"]);
    let _ = std::fs::remove_dir_all(&dir);

    // Test images of another size than the training images.
    let dir = small_mnist("size");
    write(
        &dir,
        "t10k-images-idx3-ubyte.gz",
        &gzip(&idx_bytes(&[5, 2, 3], &[0; 30])),
    );
    let m = err_msg(Mnist::load(&dir));
    assert_mentions(&m, &["t10k-images-idx3-ubyte.gz", "2x3", "3x2"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parse_idx_never_panics() {
    let p = Path::new("fuzz.idx");
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let valid = images(6);
    let valid_gz = gzip(&valid);
    let check = |bytes: &[u8]| match parse_idx(bytes, p) {
        Ok(Idx { dims, data }) => {
            assert_eq!(dims.iter().product::<usize>(), data.len());
        }
        Err(e) => {
            let m = e.to_string();
            assert!(m.contains("fuzz.idx") && !m.contains('\n'), "{m}");
        }
    };
    // Every truncation of a valid file, plain and gzip.
    for n in 0..=valid.len() {
        check(&valid[..n]);
    }
    for n in 0..=valid_gz.len() {
        check(&valid_gz[..n]);
    }
    for _ in 0..400 {
        let len = rng.gen_range(0..80);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
        // Half of them get a plausible header so the parser goes deeper.
        if rng.gen_bool(0.5) && bytes.len() >= 4 {
            bytes[0] = 0;
            bytes[1] = 0;
            bytes[2] = 8;
            bytes[3] = rng.gen_range(0..5);
        }
        check(&bytes);
        // Bit flips in valid files.
        let mut v = if rng.gen_bool(0.5) {
            valid.clone()
        } else {
            valid_gz.clone()
        };
        let i = rng.gen_range(0..v.len());
        v[i] ^= 1 << rng.gen_range(0..8);
        check(&v);
    }
}
