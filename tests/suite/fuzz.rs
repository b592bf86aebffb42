//! Fuzzing of the three readers a user's files reach: the IDX reader (MNIST), the digits
//! CSV reader, and the `--config` TOML loader. Each property: any input gives `Ok` or a
//! one-line `Err`, never a panic (proptest shrinks and records any failure in
//! `proptest-regressions/`; a crash found is kept below as its own regression test).
//!
//! Inputs are mutations of valid files (byte overwrites, truncation, appended bytes,
//! huge dimensions) and raw random bytes. In the suite each property runs
//! `EBM_FUZZ_CASES` cases (default 300); the campaign of BENCHMARKS.md ran each for
//! 10 minutes with `EBM_FUZZ_CASES` large.

use ebm::data::digits::Digits;
use ebm::data::idx::parse_idx;
use proptest::prelude::*;
use std::io::Write;
use std::path::Path;

fn cases() -> u32 {
    std::env::var("EBM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn valid_idx() -> Vec<u8> {
    let mut v = vec![0, 0, 8, 3];
    for d in [3u32, 4, 4] {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend((0..48u8).map(|i| i.wrapping_mul(5)));
    v
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A valid input, then overwrites, a truncation and appended bytes.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len();
    (
        prop::collection::vec((0..n.max(1), any::<u8>()), 0..8),
        0..=n,
        prop::collection::vec(any::<u8>(), 0..16),
        any::<bool>(),
    )
        .prop_map(move |(edits, cut, tail, keep_len)| {
            let mut b = base.clone();
            for (i, v) in edits {
                if i < b.len() {
                    b[i] = v;
                }
            }
            if !keep_len {
                b.truncate(cut);
            }
            b.extend(tail);
            b
        })
}

fn one_line(e: &ebm::Error) {
    let s = e.to_string();
    assert!(!s.contains('\n'), "multi-line error: {s:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn idx_reader_never_panics(b in prop_oneof![
        mutated(valid_idx()),
        mutated(gzip(&valid_idx())),
        prop::collection::vec(any::<u8>(), 0..64),
        // Huge or zero dimensions with little data.
        (any::<[u32; 3]>(), prop::collection::vec(any::<u8>(), 0..32)).prop_map(|(d, data)| {
            let mut v = vec![0, 0, 8, 3];
            for x in d { v.extend_from_slice(&x.to_be_bytes()); }
            v.extend(data);
            v
        }),
    ]) {
        match parse_idx(&b, Path::new("fuzz.idx")) {
            Ok(idx) => prop_assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>()),
            Err(e) => one_line(&e),
        }
    }

    #[test]
    fn digits_csv_reader_never_panics(b in prop_oneof![
        mutated({
            let row: Vec<String> = (0..64).map(|i| (i % 17).to_string()).collect();
            format!("{},3\n{},7\n", row.join(","), row.join(",")).into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..300),
    ]) {
        let text = String::from_utf8_lossy(&b);
        match Digits::parse_csv(&text, Path::new("fuzz.csv")) {
            Ok(d) => prop_assert_eq!(d.images.nrows(), d.labels.len()),
            Err(e) => one_line(&e),
        }
    }
}

/// The config loader runs in the `ebm` binary: one process per case (fewer cases).
#[test]
fn config_loader_never_panics() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: (cases() / 10).max(10),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let valid =
        b"arch = \"iwae\"\niwae_k = 5\nhidden = [64, 32]\nepochs = 3\nseed = 7\nquiet = true\n"
            .to_vec();
    let strat = prop_oneof![mutated(valid), prop::collection::vec(any::<u8>(), 0..80)];
    let dir = std::env::temp_dir().join(format!("ebm-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("c.toml");
    runner
        .run(&strat, |b| {
            std::fs::write(&f, &b).unwrap();
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_ebm"))
                .args([
                    "train",
                    "vae",
                    "--config",
                    f.to_str().unwrap(),
                    "--print-config",
                ])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            prop_assert!(
                !err.contains("panicked"),
                "panic on {:?}: {}",
                String::from_utf8_lossy(&b),
                err
            );
            if !o.status.success() {
                prop_assert_eq!(err.trim().lines().count(), 1, "{}", err);
            }
            Ok(())
        })
        .unwrap();
}
