//! The README's expected tour output is the tour's output: the block after "Expected
//! output" in `README.md` is compared with what `ebm --threads 2 tour` prints today
//! (issue 15 item 12), so the README cannot drift from the program again.
//!
//! The block is abridged: its lines (after masking times, see `golden::normalize`) must
//! appear in the tour's output in the same order; a line `...` stands for lines left out.
//! Trained numbers depend on the kernels the CPU selects, so the README names the CPU
//! class it was recorded on (`` CPU class `x86_64-avx2` ``). On that class every line must
//! match character for character (whitespace runs aside). On another class each line
//! must have the same words, and every number must agree within 5% (relative, with an
//! absolute floor of 0.01): a changed format, a new column or a real change of result is
//! still seen, a last-digit difference of the floating-point path is not.

use std::path::Path;
use std::process::Command;

/// The README's expected-output block and the CPU class it names.
fn readme_block(readme: &str) -> (Vec<String>, String) {
    let start = readme
        .find("Expected output")
        .expect("README has an 'Expected output' paragraph");
    let rest = &readme[start..];
    let class = rest
        .split("CPU class `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .expect("the paragraph names its CPU class as CPU class `...`")
        .to_string();
    let open = rest.find("\n```\n").expect("a code block follows") + 5;
    let close = rest[open..].find("\n```").expect("the code block ends") + open;
    let lines = rest[open..close]
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>();
    (lines, class)
}

fn squash(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A line's words with each number replaced by `#`, and its numbers.
fn skeleton(line: &str) -> (Vec<String>, Vec<f64>) {
    let mut words = Vec::new();
    let mut nums = Vec::new();
    for tok in line.split_whitespace() {
        let core = tok.trim_end_matches([',', ';', '%', ':']);
        match core.parse::<f64>() {
            Ok(v) => {
                nums.push(v);
                words.push(format!("#{}", &tok[core.len()..]));
            }
            Err(_) => words.push(tok.to_string()),
        }
    }
    (words, nums)
}

fn close_enough(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.05 * a.abs().max(b.abs()) + 0.01
}

/// Whether `want` (a README line) matches `got` (a tour line), exactly or within tolerance.
pub(crate) fn matches(want: &str, got: &str, exact: bool) -> bool {
    if exact {
        return squash(want) == squash(got);
    }
    let (ww, wn) = skeleton(want);
    let (gw, gn) = skeleton(got);
    ww == gw && wn.len() == gn.len() && wn.iter().zip(&gn).all(|(a, b)| close_enough(*a, *b))
}

/// Check that the README lines appear, in order, among the output lines. Returns the
/// first README line not found.
fn first_missing(readme: &[String], output: &str, exact: bool) -> Option<String> {
    let out: Vec<&str> = output.lines().collect();
    let mut at = 0;
    for want in readme {
        if want.trim().is_empty() || want.trim() == "..." {
            continue;
        }
        match out[at..].iter().position(|g| matches(want, g, exact)) {
            Some(k) => at += k + 1,
            None => return Some(want.clone()),
        }
    }
    None
}

#[test]
fn the_comparison_sees_a_changed_number_and_allows_an_abridged_block() {
    let out = "a\nstep 1 <t> s KL 0.0276\nb\nkl 0 22.186 21.940\nend <t> s\n";
    let readme = |s: &str| s.lines().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        first_missing(&readme("a\n...\nkl 0 22.186 21.940\nend <t> s"), out, true),
        None
    );
    // The fuzzy-ball line the issue found stale: exact sees it, tolerance lets it pass.
    let stale = readme("kl 0 22.186 21.919");
    assert!(first_missing(&stale, out, true).is_some());
    assert_eq!(first_missing(&stale, out, false), None);
    // A real change, a changed word or a wrong order is seen under tolerance too.
    assert!(first_missing(&readme("kl 0 22.186 25.0"), out, false).is_some());
    assert!(first_missing(&readme("kl 0 22.186 nats"), out, false).is_some());
    assert!(first_missing(&readme("end <t> s\na"), out, false).is_some());
}

/// Run by `a_long_runs::readme_tour_block_is_what_the_tour_prints`.
pub(crate) fn the_readme_tour_block_is_what_the_tour_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let (block, class) = readme_block(&readme);
    // Normalized as one text: a table's `seconds` column is known from its header.
    let block: Vec<String> = crate::golden::normalize(&block.join("\n"))
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect();
    let work = std::env::temp_dir().join(format!("ebm-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    // Default output folder (runs/tour) inside a scratch folder: the paths the README
    // prints are the ones the tour prints.
    let o = Command::new(env!("CARGO_BIN_EXE_ebm"))
        .current_dir(&work)
        .args(["--threads", "2", "--quiet", "tour"])
        .output()
        .expect("runs ebm");
    let _ = std::fs::remove_dir_all(&work);
    assert!(
        o.status.success(),
        "ebm tour failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let got = crate::golden::normalize(&String::from_utf8_lossy(&o.stdout));
    let exact = class == crate::golden::cpu_class();
    if !exact {
        crate::common::skip(
            "README tour block, exact match",
            &format!(
                "recorded on CPU class {class}, this is {}: numbers compared within 5%",
                crate::golden::cpu_class()
            ),
        );
    }
    if let Some(line) = first_missing(&block, &got, exact) {
        panic!(
            "README.md's expected tour output has a line the tour no longer prints \
             ({}):\n  {line}\nthe tour printed:\n{got}",
            if exact { "exact" } else { "within 5%" }
        );
    }
}
