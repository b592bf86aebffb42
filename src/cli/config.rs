//! `--config FILE` and `--print-config` for every subcommand.
//!
//! A config is a TOML table whose keys are the subcommand's long options (dashes or
//! underscores), plus the global `threads` and `seed`; e.g. for `ebm train vae`:
//!
//! ```toml
//! arch = "iwae"
//! iwae_k = 5
//! hidden = [200, 200]
//! epochs = 100
//! ```
//!
//! Flags on the command line override the file. `--print-config` prints every option of
//! the subcommand with its resolved value (defaults, then the file, then the flags) as
//! TOML and exits: that output is itself a valid config.

use clap::{ArgAction, CommandFactory};
use ebm::{Error, Result};
use std::ffi::OsString;
use std::path::PathBuf;

const GLOBALS: [&str; 4] = ["threads", "seed", "quiet", "max-data"];

/// What [`expand`] returns: the arguments with the file's settings inserted, and whether
/// to print the resolved config instead of running.
pub struct Expanded {
    pub args: Vec<OsString>,
    pub print: bool,
}

fn s(o: &OsString) -> String {
    o.to_string_lossy().into_owned()
}

/// Does the user's argument list set `--name` (as `--name v` or `--name=v`)?
fn given(args: &[OsString], name: &str) -> bool {
    let flag = format!("--{name}");
    let eq = format!("--{name}=");
    args.iter().any(|a| {
        let a = s(a);
        a == flag || a.starts_with(&eq)
    })
}

/// Insert the settings of `--config FILE` into `args` (flags given on the command line win)
/// and strip `--config` / `--print-config`.
pub fn expand(args: Vec<OsString>) -> Result<Expanded> {
    let (out, file, print) = strip(args)?;
    let Some(path) = file else {
        return Ok(Expanded { args: out, print });
    };
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        Error::format(
            &path,
            e.to_string()
                .lines()
                .next()
                .unwrap_or("bad TOML")
                .to_string(),
        )
    })?;
    let (cmd, depth, path_words) = leaf(&out);
    let known: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l != "help" && l != "config" && l != "print-config")
        .collect();
    let mut insert: Vec<OsString> = Vec::new();
    let mut globals: Vec<OsString> = Vec::new();
    for (k, v) in &table {
        let name = k.replace('_', "-");
        let is_global = GLOBALS.contains(&name.as_str());
        if !is_global && !known.contains(&name) {
            return Err(Error::format(
                &path,
                format!(
                    "unknown key `{k}` for `ebm {}` (known: {})",
                    path_words.join(" "),
                    known.join(", ")
                ),
            ));
        }
        if given(&out, &name) {
            continue;
        }
        let dst = if is_global { &mut globals } else { &mut insert };
        push_setting(dst, &path, k, &name, v)?;
    }
    let mut args: Vec<OsString> = Vec::with_capacity(out.len() + insert.len() + globals.len());
    args.push(out[0].clone());
    args.extend(globals);
    args.extend(out[1..depth.min(out.len())].iter().cloned());
    args.extend(insert);
    args.extend(out[depth.min(out.len())..].iter().cloned());
    Ok(Expanded { args, print })
}

/// `args` without `--config FILE` (or `--config=FILE`) and `--print-config`; the file and
/// whether to print.
fn strip(args: Vec<OsString>) -> Result<(Vec<OsString>, Option<PathBuf>, bool)> {
    let mut out: Vec<OsString> = Vec::with_capacity(args.len());
    let mut file: Option<PathBuf> = None;
    let mut print = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let t = s(&a);
        if t == "--config" {
            let v = it
                .next()
                .ok_or_else(|| Error::invalid("--config", "needs a file name (a TOML config)"))?;
            file = Some(PathBuf::from(v));
        } else if let Some(v) = t.strip_prefix("--config=") {
            file = Some(PathBuf::from(v));
        } else if t == "--print-config" {
            print = true;
        } else {
            out.push(a);
        }
    }
    Ok((out, file, print))
}

/// The subcommand `args` names (the words after the program name that name
/// subcommands), where its own arguments start, and those words.
fn leaf(args: &[OsString]) -> (clap::Command, usize, Vec<String>) {
    let mut cmd = super::Cli::command();
    let mut depth = 1; // where the leaf's own arguments start
    let mut path_words = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let w = s(&args[i]);
        if w.starts_with('-') {
            // Skip a global option and its value.
            if w == "--threads" || w == "--seed" || w == "--max-data" {
                i += 1;
            }
            i += 1;
            continue;
        }
        match cmd.find_subcommand(&w) {
            Some(sub) => {
                let sub = sub.clone();
                path_words.push(w);
                cmd = sub;
                depth = i + 1;
                i += 1;
            }
            None => break,
        }
    }
    (cmd, depth, path_words)
}

/// The flags for the setting `k = v` of the file `path` (`--name` is `k` with dashes): a
/// switch for `true`, nothing for `false`, comma-separated values for an array.
fn push_setting(
    dst: &mut Vec<OsString>,
    path: &std::path::Path,
    k: &str,
    name: &str,
    v: &toml::Value,
) -> Result<()> {
    let scalar = |v: &toml::Value| -> Result<String> {
        Ok(match v {
            toml::Value::String(x) => x.clone(),
            toml::Value::Integer(x) => x.to_string(),
            toml::Value::Float(x) => x.to_string(),
            toml::Value::Boolean(x) => x.to_string(),
            other => {
                return Err(Error::format(
                    path,
                    format!(
                        "key `{k}`: {} is not a string, number or boolean",
                        other.type_str()
                    ),
                ));
            }
        })
    };
    match v {
        toml::Value::Boolean(true) => dst.push(format!("--{name}").into()),
        toml::Value::Boolean(false) => {}
        toml::Value::Array(xs) => {
            let items: Result<Vec<String>> = xs.iter().map(scalar).collect();
            dst.push(format!("--{name}").into());
            dst.push(items?.join(",").into());
        }
        other => {
            dst.push(format!("--{name}").into());
            dst.push(scalar(other)?.into());
        }
    }
    Ok(())
}

/// TOML for one resolved value of `arg` (quoted unless it is a number or a boolean).
fn toml_value(raw: &str) -> String {
    if raw.parse::<f64>().is_ok() || raw == "true" || raw == "false" {
        raw.to_string()
    } else {
        toml::Value::String(raw.to_string()).to_string()
    }
}

/// Print every option of the subcommand named in `args` with its resolved value, as TOML.
pub fn print_resolved(args: &[OsString]) -> Result<()> {
    let cmd = super::Cli::command();
    let m = cmd.clone().try_get_matches_from(args).map_err(|e| {
        Error::invalid(
            "arguments",
            e.to_string().lines().next().unwrap_or("").to_string(),
        )
    })?;
    let mut lines = vec![format!(
        "# resolved config of `{}` (defaults < --config file < flags)",
        args.iter().map(s).collect::<Vec<_>>().join(" ")
    )];
    for g in GLOBALS {
        let id = g.replace('-', "_");
        if let Some(v) = m.get_raw(&id).and_then(|mut v| v.next()) {
            lines.push(format!("{id} = {}", toml_value(&v.to_string_lossy())));
        }
    }
    let (mut c, mut mm) = (cmd, &m);
    while let Some((name, sub_m)) = mm.subcommand() {
        c = c.find_subcommand(name).expect("matched").clone();
        mm = sub_m;
    }
    for a in c.get_arguments() {
        let id = a.get_id().as_str();
        if id == "help"
            || id == "config"
            || id == "print_config"
            || GLOBALS.contains(&id.replace('_', "-").as_str())
        {
            continue;
        }
        let key = id.to_string();
        match mm.get_raw(id) {
            Some(vals) => {
                let vals: Vec<String> = vals.map(|v| v.to_string_lossy().into_owned()).collect();
                if matches!(a.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
                    lines.push(format!("{key} = {}", vals.first().map_or("false", |v| v)));
                } else if a.get_value_delimiter().is_some() || vals.len() > 1 {
                    let items: Vec<String> = vals.iter().map(|v| toml_value(v)).collect();
                    lines.push(format!("{key} = [{}]", items.join(", ")));
                } else {
                    lines.push(format!("{key} = {}", toml_value(&vals[0])));
                }
            }
            None => lines.push(format!("# {key} = (unset)")),
        }
    }
    println!("{}", lines.join("\n"));
    Ok(())
}
