//! Helpers shared by the test modules.

use std::io::Write;

/// Say on the test run's own output (not only under `--nocapture`) that `test` skipped
/// its check and why: libtest captures `println!`/`eprintln!`, not a direct write to the
/// process's stderr.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// Whether this is a CI run (`CI=true`, as `.ci/run` is started): there a missing
/// prerequisite of a test (MNIST beside the checkout, a browser) is a failure, not a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skip `test` for a missing prerequisite (`why`), or, in CI (see [`in_ci`]), fail.
pub fn skip_unless_ci(test: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: {why}, and CI=true requires it (run without CI to skip)"
    );
    skip(test, why);
}

/// `ebm ARGS` (the binary this test build made), its output.
pub fn ebm(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_ebm"))
        .args(args)
        .output()
        .expect("run ebm")
}

/// A run's stdout and stderr as text.
pub fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fresh, empty folder for one test: `ebm-test-NAME-PID-K` in the temp folder, `K`
/// counting the calls, so tests of different modules that pick the same name never
/// share one.
pub fn tmpdir(name: &str) -> std::path::PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("ebm-test-{name}-{}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The run failed with one line on stderr that starts `error: `, names every one of
/// `needles`, and is not a panic.
pub fn one_line_error(o: &std::process::Output, needles: &[&str]) {
    let (_, err) = text(o);
    assert!(!o.status.success(), "expected failure, got success: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "error is not one line: {err:?}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` not in {err:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
}
