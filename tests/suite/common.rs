//! Helpers shared by the test modules.

use std::io::Write;

/// Say on the test run's own output (not only under `--nocapture`) that `test` skipped
/// its check and why: libtest captures `println!`/`eprintln!`, not a direct write to the
/// process's stderr.
pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
