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
