//! The HTML report of a run folder: one self-contained page (every figure embedded as a
//! `data:` URI, no external resource, no network) with the resolved config, the curves
//! of `metrics.csv`, the run's PNG figures, and the final numbers with their units.
//!
//! Units follow the column names: losses, NLLs, KLs, bounds and log-probabilities are in
//! nats (per image or per point, as the run's config says); seconds are wall time; a
//! column `X_se` is printed as the standard error of `X` (`X +- X_se`).

use crate::io::write_atomic;
use crate::plot;
use crate::{Error, Result};
use base64::Engine;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A parsed `metrics.csv`: header and numeric rows (unparsable cells are NaN).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Metrics {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Metrics {
    /// Parse CSV text with a header line; errors name the file and line.
    pub fn parse(text: &str, path: &Path) -> Result<Metrics> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| Error::format(path, "empty metrics file (no header line)"))?;
        let columns: Vec<String> = header.split(',').map(|c| c.trim().to_string()).collect();
        let mut rows = Vec::new();
        for (i, l) in lines.enumerate() {
            let cells: Vec<f64> = l
                .split(',')
                .map(|c| c.trim().parse::<f64>().unwrap_or(f64::NAN))
                .collect();
            if cells.len() != columns.len() {
                return Err(Error::format(
                    path,
                    format!(
                        "line {}: {} fields for {} columns",
                        i + 2,
                        cells.len(),
                        columns.len()
                    ),
                ));
            }
            rows.push(cells);
        }
        Ok(Metrics { columns, rows })
    }
}

/// The unit of a metrics column, from its name.
pub fn unit_of(column: &str) -> &'static str {
    let c = column.to_ascii_lowercase();
    if c.contains("second") || c == "wall" || c.ends_with("_s") {
        "s"
    } else if c.contains("acc") {
        "fraction"
    } else if [
        "loss", "nll", "kl", "recon", "logp", "bound", "elbo", "energy", "free",
    ]
    .iter()
    .any(|k| c.contains(k))
    {
        "nats"
    } else {
        ""
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rows of a CSV table shown in the report (the last ones).
const TABLE_ROWS: usize = 20;

/// The files of `dir` with extension `ext`, sorted.
fn files_with(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    Ok(v)
}

/// `p` relative to `base`, for captions.
fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base).unwrap_or(p).display().to_string()
}

fn png_uri(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if bytes.len() < 8 || &bytes[1..4] != b"PNG" {
        return Err(Error::format(path, "not a PNG file"));
    }
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    ))
}

/// Write `run/report.html` and return its path. The curves are drawn into
/// `run/curves/` first; every `*.png` of the run folder and of `run/curves/` is embedded.
pub fn write_report(run: &Path) -> Result<PathBuf> {
    if !run.is_dir() {
        return Err(Error::invalid(
            "run folder",
            format!("{} is not a directory", run.display()),
        ));
    }
    let name = run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>ebm run {n}</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f3f3f3}}pre{{background:#f7f7f7;padding:1em;overflow:auto}}\
         figure{{display:inline-block;margin:1em;vertical-align:top}}img{{max-width:100%;border:1px solid #ddd}}\
         </style></head><body>\n<h1>ebm run <code>{n}</code></h1>\n",
        n = esc(&name)
    );
    // Config.
    let cfg_path = run.join("config.json");
    if cfg_path.exists() {
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(&cfg_path, format!("not JSON: {e}")))?;
        let pretty = serde_json::to_string_pretty(&v).expect("json value serializes");
        let _ = write!(
            html,
            "<h2>Config</h2>\n<pre id=\"config\">{}</pre>\n",
            esc(&pretty)
        );
    }
    // Metrics: final numbers and curves.
    let mut figures: Vec<(String, PathBuf)> = Vec::new();
    let m_path = run.join("metrics.csv");
    if m_path.exists() {
        let text = std::fs::read_to_string(&m_path).map_err(|e| Error::io(&m_path, e))?;
        let m = Metrics::parse(&text, &m_path)?;
        if let Some(last) = m.rows.last() {
            let _ = write!(
                html,
                "<h2>Final numbers</h2>\n<table id=\"final\"><tr><th>metric</th><th>value</th><th>unit</th></tr>\n"
            );
            for (c, v) in m.columns.iter().zip(last) {
                if c.ends_with("_se") {
                    continue;
                }
                let se = m
                    .columns
                    .iter()
                    .position(|x| *x == format!("{c}_se"))
                    .map(|j| last[j]);
                let val = match se {
                    Some(s) if s.is_finite() => format!("{v:.4} &plusmn; {s:.4}"),
                    _ => format!("{v:.4}"),
                };
                let _ = writeln!(
                    html,
                    "<tr><td style=\"text-align:left\">{}</td><td>{val}</td><td>{}</td></tr>",
                    esc(c),
                    unit_of(c)
                );
            }
            let _ = writeln!(html, "</table>");
        }
        if m.rows.len() >= 2 && m.columns.len() >= 2 {
            let dir = run.join("curves");
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            let x: Vec<f64> = m.rows.iter().map(|r| r[0]).collect();
            for (j, c) in m.columns.iter().enumerate().skip(1) {
                let y: Vec<f64> = m.rows.iter().map(|r| r[j]).collect();
                if y.iter().any(|v| !v.is_finite()) || !x.iter().all(|v| v.is_finite()) {
                    continue;
                }
                let safe: String = c
                    .chars()
                    .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '_' })
                    .collect();
                let p = dir.join(format!("{safe}.png"));
                let unit = unit_of(c);
                let label = if unit.is_empty() {
                    c.clone()
                } else {
                    format!("{c} ({unit})")
                };
                plot::line_plot(&p, &label, &m.columns[0], &label, &x, &y)?;
                figures.push((format!("curve: {label}"), p));
            }
        }
    }
    // Other figures of the run and of its immediate subfolders (but not the curves).
    let mut pngs = files_with(run, "png")?;
    let mut csvs: Vec<PathBuf> = files_with(run, "csv")?
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "metrics.csv"))
        .collect();
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(run)
        .map_err(|e| Error::io(run, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "curves"))
        .collect();
    subdirs.sort();
    for d in &subdirs {
        pngs.extend(files_with(d, "png")?);
        csvs.extend(files_with(d, "csv")?);
    }
    let curves = figures.len();
    for p in pngs {
        figures.push((rel(run, &p), p));
    }
    let (curve_figs, other_figs) = figures.split_at(curves);
    for (title, figs) in [("Curves", curve_figs), ("Figures", other_figs)] {
        if figs.is_empty() {
            continue;
        }
        let _ = writeln!(html, "<h2>{title}</h2>");
        for (caption, p) in figs {
            let _ = writeln!(
                html,
                "<figure><img alt=\"{c}\" src=\"{}\"><figcaption>{c}</figcaption></figure>",
                png_uri(p)?,
                c = esc(caption)
            );
        }
    }
    if !csvs.is_empty() {
        let _ = writeln!(html, "<h2>Tables</h2>");
    }
    for p in &csvs {
        let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let Some((head, body)) = lines.split_first() else {
            continue;
        };
        let shown = &body[body.len().saturating_sub(TABLE_ROWS)..];
        let _ = writeln!(
            html,
            "<h3>{}{}</h3>\n<table><tr>{}</tr>",
            esc(&rel(run, p)),
            if shown.len() < body.len() {
                format!(" (last {} of {} rows)", shown.len(), body.len())
            } else {
                String::new()
            },
            head.split(',')
                .map(|c| format!("<th>{}</th>", esc(c.trim())))
                .collect::<String>()
        );
        for l in shown {
            let cells: String = l
                .split(',')
                .map(|c| match c.trim().parse::<f64>() {
                    Ok(v) if v.fract() != 0.0 => format!("<td>{v:.4}</td>"),
                    _ => format!("<td>{}</td>", esc(c.trim())),
                })
                .collect();
            let _ = writeln!(html, "<tr>{cells}</tr>");
        }
        let _ = writeln!(html, "</table>");
    }
    // A check a browser can run: how many images decoded (read back by the tests).
    let _ = write!(
        html,
        "\n<script>window.addEventListener('load',function(){{var im=document.images,ok=0;\
         for(var i=0;i<im.length;i++){{if(im[i].complete&&im[i].naturalWidth>0)ok++;}}\
         document.body.setAttribute('data-images',im.length);\
         document.body.setAttribute('data-images-ok',ok);}});</script>\n</body></html>\n"
    );
    let out = run.join("report.html");
    write_atomic(&out, html.as_bytes())?;
    Ok(out)
}
