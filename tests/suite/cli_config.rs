//! `--config FILE` (TOML) and `--print-config`: the file's settings apply, flags override
//! them, the printed config is itself a config that resolves to the same settings, and bad
//! files are one-line errors naming the file and the key.

use crate::common::ebm;
use std::process::Output;

fn tmp(name: &str, text: &str) -> String {
    let p = std::env::temp_dir().join(format!("ebm-config-{name}-{}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// The resolved `key = value` lines (comments and the header dropped).
fn resolved(o: &Output) -> Vec<String> {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_file_applies_flags_override_and_the_printed_config_round_trips() {
    let f = tmp(
        "vae",
        "arch = \"iwae\"\niwae_k = 5\nhidden = [64, 32]\nepochs = 3\nseed = 7\n",
    );
    let r = resolved(&ebm(&[
        "train",
        "vae",
        "--config",
        &f,
        "--epochs",
        "2",
        "--print-config",
    ]));
    for want in [
        "arch = \"iwae\"",
        "iwae_k = 5",
        "hidden = [64, 32]",
        "epochs = 2",
        "seed = 7",
        "batch = 128",
    ] {
        assert!(r.contains(&want.to_string()), "`{want}` not in {r:?}");
    }
    // The printed config, fed back, resolves to the same settings.
    let printed = String::from_utf8_lossy(
        &ebm(&[
            "train",
            "vae",
            "--config",
            &f,
            "--epochs",
            "2",
            "--print-config",
        ])
        .stdout,
    )
    .into_owned();
    let g = tmp("vae-printed", &printed);
    assert_eq!(
        resolved(&ebm(&["train", "vae", "--config", &g, "--print-config"])),
        r
    );
    // And it runs: the architecture and objective come from the file.
    let ck = std::env::temp_dir().join(format!("ebm-cfg-run-{}.safetensors", std::process::id()));
    let o = ebm(&[
        "train",
        "vae",
        "--config",
        &f,
        "--epochs",
        "1",
        "--save",
        ck.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("VAE 64-64-32-50") && out.contains("IWAE k = 5"),
        "{out}"
    );
}

#[test]
fn bad_config_files_are_one_line_errors() {
    let check = |o: Output, needles: &[&str]| {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        for n in needles {
            assert!(err.contains(n), "`{n}` not in {err}");
        }
    };
    let f = tmp("unknown", "epochs = 2\nwarp_speed = 9\n");
    check(
        ebm(&["train", "vae", "--config", &f]),
        &[&f, "warp_speed", "known:"],
    );
    let f = tmp("syntax", "epochs = [\n");
    check(ebm(&["train", "toy", "--config", &f]), &[&f, "TOML"]);
    let f = tmp("table", "epochs = { a = 1 }\n");
    check(ebm(&["train", "rbm", "--config", &f]), &[&f, "epochs"]);
    check(
        ebm(&["gibbs", "--config", "/nonexistent/c.toml"]),
        &["/nonexistent/c.toml"],
    );
    let f = tmp("value", "epochs = \"many\"\n");
    check(ebm(&["train", "vae", "--config", &f]), &["epochs", "many"]);
}

#[test]
fn the_library_defaults_for_contrastive_training_are_the_clis() {
    let o = ebm(&["train", "toy", "--print-config"]);
    let lines = resolved(&o);
    let d = ebm::contrastive::ContrastiveConfig::default();
    for (key, lib) in [
        ("step_size", d.step_size.to_string()),
        ("batch", d.batch.to_string()),
        ("grid_cells", d.grid_cells.to_string()),
        ("grid_refresh", d.grid_refresh.to_string()),
    ] {
        let want = format!("{key} = {lib}");
        assert!(lines.contains(&want), "`{want}` not in {lines:?}");
    }
    // Unset in --print-config, documented in --help: the PCD defaults.
    let help = String::from_utf8_lossy(&ebm(&["train", "toy", "--help"]).stdout).into_owned();
    assert!(
        help.contains(&format!("default: {}", d.energy_l2)),
        "{help}"
    );
    assert!(
        help.contains(&format!("default: {}", d.mcmc_steps)),
        "{help}"
    );
}
