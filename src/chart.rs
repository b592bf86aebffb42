//! Figures with axes drawn by the `plotters` crate: curves (with markers, error bars and a
//! legend), heatmaps with a labelled colour bar, and scatter plots. Ticks fall on round
//! numbers (plotters' key points: 1, 2 or 5 times a power of ten), an axis can be
//! logarithmic (and says so in its label), and a path ending in `.svg` gets an SVG file
//! instead of a PNG. Text is DejaVu Sans, embedded (see `data/fonts/LICENSE-DejaVu.txt`),
//! rasterized by `ab_glyph` through plotters; files are written atomically.
//!
//! The entry points most code calls are the wrappers in [`crate::plot`]
//! (`line_plot`, `errorbar_plot`, `heatmap`, `scatter_series`).

use crate::io::write_atomic;
use crate::plot::{Rgb, Series, viridis};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

static FONT: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");
const SANS: &str = "sans-serif";

/// Register the embedded font with plotters once per process.
fn fonts() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font is embedded and known to parse (a test draws text with it).
        let _ = plotters::style::register_font(SANS, FontStyle::Normal, FONT);
    });
}

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c[0], c[1], c[2])
}

/// A figure that can draw itself on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String>;
}

/// Draw `fig` into `path`: SVG when the name ends in `.svg`, PNG otherwise.
fn save<F: Figure>(path: &Path, fig: &F) -> Result<()> {
    fonts();
    let (w, h) = fig.size();
    let fail = |e: String| Error::format(path, format!("drawing failed: {e}"));
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"))
    {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
            fig.draw(&root).map_err(fail)?;
            root.present().map_err(|e| fail(e.to_string()))?;
        }
        return write_atomic(path, svg.as_bytes());
    }
    let mut px = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut px, (w, h)).into_drawing_area();
        fig.draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    let mut buf = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut buf, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc
            .write_header()
            .map_err(|e| Error::format(path, format!("png: {e}")))?;
        wr.write_image_data(&px)
            .map_err(|e| Error::format(path, format!("png: {e}")))?;
    }
    write_atomic(path, &buf)
}

/// Tick label: the shortest plain decimal of a round key point, scientific when tiny or huge.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a < 1e-12 {
        "0".into()
    } else if (1e-3..1e5).contains(&a) {
        // Key points are round: 6 significant digits are plenty, trailing zeros go.
        let s = format!("{v:.6}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        // 1e-5, 2.5e6: plotters' key points have at most two significant digits.
        format!("{v:e}")
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Range with a margin of `pad` of its span on each side (a unit span when flat).
fn padded(lo: f64, hi: f64, pad: f64) -> (f64, f64) {
    if hi > lo {
        let p = pad * (hi - lo);
        (lo - p, hi + p)
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// Curves, optionally with markers, error bars and a legend.
pub struct Curves<'a> {
    pub title: &'a str,
    pub xlabel: &'a str,
    pub ylabel: &'a str,
    pub series: &'a [Series<'a>],
    /// Square markers at the points (curves of a few evaluations).
    pub markers: bool,
    /// A logarithmic y axis (every value must be > 0); the label says `(log scale)`.
    pub log_y: bool,
}

impl Curves<'_> {
    fn check(&self) -> Result<((f64, f64), (f64, f64))> {
        if self.series.is_empty() {
            return Err(Error::invalid("plot series", "none given"));
        }
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for s in self.series {
            let n = s.x.len();
            let bad = s.y.len() != n
                || n == 0
                || s.err.is_some_and(|(l, h)| l.len() != n || h.len() != n);
            if bad {
                return Err(Error::invalid(
                    format!("plot series `{}`", s.label),
                    format!(
                        "{} x values, {} y values, error bars {:?} (need equal lengths, 1 or more)",
                        n,
                        s.y.len(),
                        s.err.map(|(l, h)| (l.len(), h.len()))
                    ),
                ));
            }
            finite(&format!("plot `{}` x", s.label), s.x)?;
            finite(&format!("plot `{}` y", s.label), s.y)?;
            xs.extend_from_slice(s.x);
            ys.extend_from_slice(s.y);
            if let Some((l, h)) = s.err {
                finite(&format!("plot `{}` lower bars", s.label), l)?;
                finite(&format!("plot `{}` upper bars", s.label), h)?;
                ys.extend_from_slice(l);
                ys.extend_from_slice(h);
            }
        }
        if let Some(v) = ys.iter().find(|v| self.log_y && **v <= 0.0) {
            return Err(Error::invalid(
                "plot y",
                format!("{v} on a logarithmic axis (need values > 0)"),
            ));
        }
        let (x0, x1) = min_max(&xs);
        let (y0, y1) = min_max(&ys);
        let x = if self.markers {
            padded(x0, x1, 0.05)
        } else {
            padded(x0, x1, 0.0)
        };
        let y = if self.log_y {
            let (a, b) = (y0.ln(), y1.ln());
            let (a, b) = padded(a, b, 0.05);
            (a.exp(), b.exp())
        } else {
            padded(y0, y1, 0.06)
        };
        Ok((x, y))
    }
}

fn finite(what: &str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::invalid(
            what,
            format!("value {i} is {}, cannot be plotted", v[i]),
        )),
        None => Ok(()),
    }
}

fn min_max(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        })
}

struct CurvesFig<'a, 'b> {
    c: &'a Curves<'b>,
    x: (f64, f64),
    y: (f64, f64),
}

impl Figure for CurvesFig<'_, '_> {
    fn size(&self) -> (u32, u32) {
        (640, 480)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let c = self.c;
        let mut b = ChartBuilder::on(root);
        b.caption(c.title, (SANS, 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(72);
        let ylabel = if c.log_y {
            format!("{} (log scale)", c.ylabel)
        } else {
            c.ylabel.to_string()
        };
        let series = c.series;
        let markers = c.markers;
        // The two coordinate kinds differ in type: one body, instantiated twice.
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(c.xlabel)
                    .y_desc(ylabel.as_str())
                    .x_labels(7)
                    .y_labels(7)
                    .x_label_formatter(&|v| tick_label(*v))
                    .y_label_formatter(&|v| tick_label(*v))
                    .label_style((SANS, 13))
                    .axis_desc_style((SANS, 14))
                    .light_line_style(WHITE)
                    .bold_line_style(RGBColor(225, 225, 225))
                    .draw()
                    .map_err(err)?;
                for s in series {
                    let col = rgb(s.color);
                    let pts: Vec<(f64, f64)> =
                        s.x.iter().copied().zip(s.y.iter().copied()).collect();
                    let drawn = chart
                        .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))
                        .map_err(err)?;
                    if !s.label.is_empty() {
                        drawn.label(s.label).legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 22, y)], col.stroke_width(2))
                        });
                    }
                    if markers {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, col.filled())))
                            .map_err(err)?;
                    }
                    if let Some((lo, hi)) = s.err {
                        for i in 0..s.x.len() {
                            chart
                                .draw_series(std::iter::once(PathElement::new(
                                    vec![(s.x[i], lo[i]), (s.x[i], hi[i])],
                                    col.stroke_width(2),
                                )))
                                .map_err(err)?;
                        }
                    }
                }
                if series.iter().any(|s| !s.label.is_empty()) {
                    chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::LowerRight)
                        .background_style(WHITE.mix(0.85))
                        .border_style(RGBColor(200, 200, 200))
                        .label_font((SANS, 13))
                        .draw()
                        .map_err(err)?;
                }
            }};
        }
        if c.log_y {
            body!(
                b.build_cartesian_2d(self.x.0..self.x.1, (self.y.0..self.y.1).log_scale())
                    .map_err(err)?
            );
        } else {
            body!(
                b.build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
                    .map_err(err)?
            );
        }
        Ok(())
    }
}

/// Draw `c` into `path` (PNG, or SVG for a `.svg` name).
pub fn curves(path: &Path, c: &Curves<'_>) -> Result<()> {
    let (x, y) = c.check()?;
    save(path, &CurvesFig { c, x, y })
}

/// A heatmap of `grid[iy][ix]` (row 0 at the bottom) over `x` by `y`, coloured by
/// viridis, with a colour bar labelled `bar` (say there if the values are a logarithm or
/// a square root of what they show).
pub struct Heatmap<'a> {
    pub title: &'a str,
    pub xlabel: &'a str,
    pub ylabel: &'a str,
    pub bar: &'a str,
    pub x: (f64, f64),
    pub y: (f64, f64),
    /// `[ny, nx]`.
    pub grid: ndarray::ArrayView2<'a, f64>,
}

struct HeatmapFig<'a, 'b> {
    h: &'a Heatmap<'b>,
    lo: f64,
    hi: f64,
}

impl Figure for HeatmapFig<'_, '_> {
    fn size(&self) -> (u32, u32) {
        (680, 540)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let h = self.h;
        let (main, bar) = root.split_horizontally(560);
        let (ny, nx) = h.grid.dim();
        let mut chart = ChartBuilder::on(&main)
            .caption(h.title, (SANS, 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(h.x.0..h.x.1, h.y.0..h.y.1)
            .map_err(err)?;
        let (dx, dy) = ((h.x.1 - h.x.0) / nx as f64, (h.y.1 - h.y.0) / ny as f64);
        let span = self.hi - self.lo;
        let t = |v: f64| {
            if span > 0.0 {
                (v - self.lo) / span
            } else {
                0.5
            }
        };
        chart
            .draw_series((0..ny).flat_map(|iy| {
                (0..nx).map(move |ix| {
                    let (x0, y0) = (h.x.0 + ix as f64 * dx, h.y.0 + iy as f64 * dy);
                    Rectangle::new(
                        [(x0, y0), (x0 + dx, y0 + dy)],
                        rgb(viridis(t(h.grid[[iy, ix]]))).filled(),
                    )
                })
            }))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(h.xlabel)
            .y_desc(h.ylabel)
            .x_labels(7)
            .y_labels(7)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .label_style((SANS, 13))
            .axis_desc_style((SANS, 14))
            .disable_mesh()
            .draw()
            .map_err(err)?;
        // The colour bar: its own axis, values at round ticks, labelled.
        let (lo, hi) = if span > 0.0 {
            (self.lo, self.hi)
        } else {
            (self.lo - 0.5, self.lo + 0.5)
        };
        let mut cb = ChartBuilder::on(&bar)
            .margin_top(46)
            .margin_bottom(56)
            .margin_right(8)
            .y_label_area_size(0)
            .right_y_label_area_size(78)
            .build_cartesian_2d(0.0..1.0, lo..hi)
            .map_err(err)?;
        let steps = 200;
        cb.draw_series((0..steps).map(|k| {
            let (a, b) = (
                lo + (hi - lo) * k as f64 / steps as f64,
                lo + (hi - lo) * (k + 1) as f64 / steps as f64,
            );
            Rectangle::new(
                [(0.0, a), (1.0, b)],
                rgb(viridis((k as f64 + 0.5) / steps as f64)).filled(),
            )
        }))
        .map_err(err)?;
        cb.configure_mesh()
            .disable_x_axis()
            .disable_mesh()
            .y_labels(7)
            .y_label_formatter(&|v| tick_label(*v))
            .y_desc(h.bar)
            .label_style((SANS, 12))
            .axis_desc_style((SANS, 13))
            .draw()
            .map_err(err)?;
        Ok(())
    }
}

/// Draw `h` into `path` (PNG, or SVG for a `.svg` name).
pub fn heatmap(path: &Path, h: &Heatmap<'_>) -> Result<()> {
    let (ny, nx) = h.grid.dim();
    if nx < 2 || ny < 2 {
        return Err(Error::invalid(
            "heatmap",
            format!("grid {ny}x{nx} is too small"),
        ));
    }
    let vals: Vec<f64> = h.grid.iter().copied().collect();
    finite("heatmap", &vals)?;
    let (lo, hi) = min_max(&vals);
    save(path, &HeatmapFig { h, lo, hi })
}

/// Point clouds in one frame (translucent dots, so density shows).
pub struct Scatter<'a> {
    pub title: &'a str,
    pub xlabel: &'a str,
    pub ylabel: &'a str,
    pub series: &'a [(&'a [f64], &'a [f64], Rgb)],
    pub x: (f64, f64),
    pub y: (f64, f64),
}

impl Figure for Scatter<'_> {
    fn size(&self) -> (u32, u32) {
        (580, 560)
    }
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> std::result::Result<(), String> {
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(root)
            .caption(self.title, (SANS, 17))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(self.xlabel)
            .y_desc(self.ylabel)
            .x_labels(7)
            .y_labels(7)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .label_style((SANS, 13))
            .axis_desc_style((SANS, 14))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        let (x, y) = (self.x, self.y);
        for (xs, ys, c) in self.series {
            let alpha = (2000.0 / xs.len() as f64).clamp(0.03, 0.6);
            let col = rgb(*c).mix(alpha);
            chart
                .draw_series(
                    xs.iter()
                        .zip(ys.iter())
                        .filter(|(a, b)| (x.0..=x.1).contains(*a) && (y.0..=y.1).contains(*b))
                        .map(|(&a, &b)| Circle::new((a, b), 2, col.filled())),
                )
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Draw `s` into `path` (PNG, or SVG for a `.svg` name); the points must be finite.
pub fn scatter(path: &Path, s: &Scatter<'_>) -> Result<()> {
    for (xs, ys, _) in s.series {
        if xs.len() != ys.len() || xs.is_empty() {
            return Err(Error::invalid(
                "scatter",
                format!(
                    "{} x values for {} y values (need 1 or more)",
                    xs.len(),
                    ys.len()
                ),
            ));
        }
        finite("scatter x", xs)?;
        finite("scatter y", ys)?;
    }
    save(path, s)
}
