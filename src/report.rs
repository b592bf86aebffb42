//! The HTML report of a run folder: one self-contained page (every figure embedded as a
//! `data:` URI, no external resource, no network) with the resolved config, the curves
//! of `metrics.csv`, the run's PNG figures, and the final numbers with their units.
//!
//! Units follow the column names: losses, NLLs, KLs, bounds and log-probabilities are in
//! nats (per image or per point, as the run's config says); seconds are wall time; a
//! column `X_se` is printed as the standard error of `X` (`X +- X_se`).

pub mod tour;

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

/// The unit of a metrics column, from its name: `s` for times, `fraction` for
/// acceptance rates and accuracies, `nats` for losses, likelihoods, KLs, bounds, log Z,
/// energies and free energies (an energy `E` is in nats: `p = exp(-E) / Z` at beta 1),
/// nothing for counts, weights, widths, norms and ratios.
pub fn unit_of(column: &str) -> &'static str {
    let c = column.to_ascii_lowercase();
    let unitless = [
        "weight", "beta", "ess", "sigma", "mu", "norm", "rel", "width", "step",
    ];
    if c.contains("second") || c == "wall" || c.ends_with("_s") {
        "s"
    } else if c.contains("acc") {
        "fraction"
    } else if unitless.iter().any(|k| c.contains(k)) && !c.contains("loss") {
        ""
    } else if [
        "loss", "nll", "kl", "recon", "logp", "log_p", "log_z", "bound", "elbo", "energy", "free",
        "depth", "gap",
    ]
    .iter()
    .any(|k| c.contains(k))
        || c.starts_with("e_")
    {
        "nats"
    } else {
        ""
    }
}

/// `column (unit)`, or the bare name for a unitless column.
pub fn with_unit(column: &str) -> String {
    match unit_of(column) {
        "" => column.to_string(),
        u => format!("{column} ({u})"),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as a table cell: integers as they are, small magnitudes in scientific
/// notation (a residual of 3e-9 is not `0.0000`), others to 4 decimals.
pub fn cell(v: f64) -> String {
    if v.fract() == 0.0 || !v.is_finite() {
        format!("{v}")
    } else if v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

/// The CSV file `p` as an HTML table (its last [`TABLE_ROWS`] rows) under the heading
/// `caption`; header cells carry units ([`with_unit`]).
fn csv_table(p: &Path, caption: &str) -> Result<String> {
    let mut html = String::new();
    let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let Some((head, body)) = lines.split_first() else {
        return Ok(html);
    };
    let shown = &body[body.len().saturating_sub(TABLE_ROWS)..];
    let _ = writeln!(
        html,
        "<h3>{}{}</h3>\n<table><tr>{}</tr>",
        esc(caption),
        if shown.len() < body.len() {
            format!(" (last {} of {} rows)", shown.len(), body.len())
        } else {
            String::new()
        },
        head.split(',')
            .map(|c| format!("<th>{}</th>", esc(&with_unit(c.trim()))))
            .collect::<String>()
    );
    for l in shown {
        let cells: String = l
            .split(',')
            .map(|c| match c.trim().parse::<f64>() {
                Ok(v) => format!("<td>{}</td>", cell(v)),
                _ => format!("<td>{}</td>", esc(c.trim())),
            })
            .collect();
        let _ = writeln!(html, "<tr>{cells}</tr>");
    }
    let _ = writeln!(html, "</table>");
    Ok(html)
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

/// What a figure of the known names shows (its caption after the file name).
pub fn describe_figure(file: &str) -> Option<&'static str> {
    let stem = file.rsplit('/').next()?.strip_suffix(".png")?;
    Some(match stem {
        "density" => "the model's density exp(-E(y)) / Z on the data's box",
        "energy" => "the energy landscape (colour: -E(y), higher is likelier)",
        "samples" => "samples: data and model (toy), or decoded draws from the prior (VAE, RBM)",
        "kl" => "KL(p_data || p_model) over training, exact by quadrature (nats)",
        "test_nll" => "exact test negative log-likelihood over training (nats)",
        "loss" => "the training loss over updates (nats)",
        "recon" => "test images (top) and their reconstructions (bottom)",
        "traversal" => "decoded images along each latent axis",
        "codes" => "test codes in the 2-D latent space, coloured by digit",
        "fuzzy_balls" => "codes as balls of one standard deviation, without and with the KL term",
        "filters" => "the RBM's weight filters, one per hidden unit",
        "draws" => "MCMC draws of the first two coordinates",
        "curve" => "average log-probability over training, AIS estimate with its interval (nats)",
        "latent_inference" => "zero-temperature inference: min_z E(y, z) against the free energies",
        s if s.starts_with("density_") => "square root of the density exp(-E(y)) / Z",
        s if s.starts_with("test_nll_") => "exact test NLL over training (nats)",
        s if s.starts_with("well_depth_") => {
            "well depth over training: median grid energy minus mean training energy (nats)"
        }
        s if s.contains("_beta") => "the Gibbs density P_beta(y) = exp(-beta E(y)) / Z_beta",
        _ => return None,
    })
}

/// A figure's caption: its file (relative to the report) and what it shows.
fn figure_caption(file: &str) -> String {
    match describe_figure(file) {
        Some(d) => format!("{file}: {d}"),
        None => file.to_string(),
    }
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
        let mut v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::format(&cfg_path, format!("not JSON: {e}")))?;
        crate::io::tidy_f32_noise(&mut v);
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
                    Some(s) if s.is_finite() => format!("{} &plusmn; {}", cell(*v), cell(s)),
                    _ => cell(*v),
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
        figures.push((figure_caption(&rel(run, &p)), p));
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
        html.push_str(&csv_table(p, &rel(run, p))?);
    }
    html.push_str(PAGE_END);
    let out = run.join("report.html");
    write_atomic(&out, html.as_bytes())?;
    Ok(out)
}

/// The end of every report page, with a check a browser can run: how many images
/// decoded (read back by the tests).
const PAGE_END: &str = "\n<script>window.addEventListener('load',function(){var im=document.images,ok=0;\
    for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}\
    document.body.setAttribute('data-images',im.length);\
    document.body.setAttribute('data-images-ok',ok);});</script>\n</body></html>\n";

/// One number of a report's summary table.
#[derive(Clone, Debug, PartialEq)]
pub struct Number {
    pub quantity: String,
    pub value: f64,
    /// One standard error, when the number is an estimate.
    pub se: Option<f64>,
    pub unit: String,
}

impl Number {
    pub fn new(quantity: impl Into<String>, value: f64, unit: impl Into<String>) -> Number {
        Number {
            quantity: quantity.into(),
            value,
            se: None,
            unit: unit.into(),
        }
    }
}

/// One part of a multi-part report (the tour): the lecture's section title, what it
/// shows, its numbers, and the folder (relative to the report) whose own report, tables
/// and figures it links and embeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub title: String,
    pub text: String,
    pub numbers: Vec<Number>,
    /// Folders below the report's folder that belong to this part (`1-gibbs`, ...).
    pub dirs: Vec<String>,
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222;line-height:1.4}\
    table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
    th{background:#f3f3f3}td.q{text-align:left}pre{background:#f7f7f7;padding:1em;overflow:auto}\
    figure{display:inline-block;margin:1em;vertical-align:top;max-width:45%}img{max-width:100%;border:1px solid #ddd}";

fn number_rows(html: &mut String, part: Option<&str>, numbers: &[Number]) {
    for n in numbers {
        let v = match n.se {
            Some(s) if s.is_finite() => format!("{} &plusmn; {}", cell(n.value), cell(s)),
            _ => cell(n.value),
        };
        let first = part.map_or(String::new(), |p| {
            format!("<td class=\"q\">{}</td>", esc(p))
        });
        let _ = writeln!(
            html,
            "<tr>{first}<td class=\"q\">{}</td><td>{v}</td><td class=\"q\">{}</td></tr>",
            esc(&n.quantity),
            esc(&n.unit)
        );
    }
}

/// Write `dir/report.html` for a run made of parts (the tour): a title and `intro`, a
/// table of every part's numbers with units, then per part its section title, text,
/// numbers, a link to each of its folders' own `report.html`, its tables (CSV files, with
/// units) and its figures (PNG files; not the curves, which its own report has).
/// Returns the path.
pub fn write_parts_report(dir: &Path, title: &str, intro: &str, parts: &[Part]) -> Result<PathBuf> {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{t}</h1>\n<p>{}</p>\n",
        esc(intro),
        t = esc(title)
    );
    let _ = writeln!(
        html,
        "<h2>Final numbers</h2>\n<table id=\"final\"><tr><th>part</th><th>quantity</th><th>value</th><th>unit</th></tr>"
    );
    for p in parts {
        // The part's number ("1", "2", ...) or its whole title.
        let short = p
            .title
            .split_once(". ")
            .map_or(p.title.as_str(), |(n, _)| n);
        number_rows(&mut html, Some(short), &p.numbers);
    }
    let _ = writeln!(html, "</table>");
    for p in parts {
        let _ = writeln!(html, "<h2>{}</h2>\n<p>{}</p>", esc(&p.title), esc(&p.text));
        if !p.numbers.is_empty() {
            let _ = writeln!(
                html,
                "<table><tr><th>quantity</th><th>value</th><th>unit</th></tr>"
            );
            number_rows(&mut html, None, &p.numbers);
            let _ = writeln!(html, "</table>");
        }
        for d in &p.dirs {
            let sub = dir.join(d);
            if !sub.is_dir() {
                return Err(Error::invalid(
                    "report part",
                    format!("{} is not a directory", sub.display()),
                ));
            }
            if sub.join("report.html").exists() {
                let _ = writeln!(
                    html,
                    "<p>Full report of this part (config, curves, every figure): \
                     <a href=\"{d}/report.html\">{d}/report.html</a></p>",
                    d = esc(d)
                );
            }
            for csv in files_with(&sub, "csv")?
                .into_iter()
                .filter(|c| c.file_name().is_some_and(|n| n != "metrics.csv"))
            {
                html.push_str(&csv_table(&csv, &rel(dir, &csv))?);
            }
            for png in files_with(&sub, "png")? {
                let c = figure_caption(&rel(dir, &png));
                let _ = writeln!(
                    html,
                    "<figure><img alt=\"{c}\" src=\"{}\"><figcaption>{c}</figcaption></figure>",
                    png_uri(&png)?,
                    c = esc(&c)
                );
            }
        }
    }
    html.push_str(PAGE_END);
    let out = dir.join("report.html");
    write_atomic(&out, html.as_bytes())?;
    Ok(out)
}
