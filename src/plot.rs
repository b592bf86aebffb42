//! Figures as PNG files, drawn directly: line plots (1-D densities, curves) and heatmaps
//! (2-D densities), with axes, tick labels and a title in DejaVu Sans (embedded; see
//! `data/fonts/LICENSE-DejaVu.txt`). `png` encodes, `ab_glyph` rasterizes the text.

// Index loops over color channels read best as they are.
#![allow(clippy::needless_range_loop)]

use crate::nn::checkpoint::write_atomic;
use crate::{Error, Result};
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use ndarray::Array2;
use std::path::Path;

static FONT: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");

/// An RGB raster.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    px: Vec<u8>,
}

/// An RGB color.
pub type Rgb = [u8; 3];
pub const BLACK: Rgb = [0, 0, 0];
pub const BLUE: Rgb = [31, 119, 180];
const GREY: Rgb = [200, 200, 200];

impl Canvas {
    /// A white canvas.
    pub fn new(width: usize, height: usize) -> Self {
        Canvas {
            width,
            height,
            px: vec![255; width * height * 3],
        }
    }
    /// Blend `c` over pixel `(x, y)` with opacity `a` in [0, 1] (outside: ignored).
    pub fn blend(&mut self, x: i64, y: i64, c: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        let a = a.clamp(0.0, 1.0);
        for k in 0..3 {
            self.px[i + k] = (self.px[i + k] as f32 * (1.0 - a) + c[k] as f32 * a).round() as u8;
        }
    }
    /// The color at `(x, y)`.
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let i = (y * self.width + x) * 3;
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
    /// A line of width `w` pixels (round caps), anti-aliased at its edges.
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb, w: f64) {
        let len = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt();
        let steps = (len * 2.0).ceil().max(1.0) as usize;
        let r = w / 2.0;
        for s in 0..=steps {
            let t = s as f64 / steps as f64;
            let (cx, cy) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
            for yy in (cy - r - 1.0).floor() as i64..=(cy + r + 1.0).ceil() as i64 {
                for xx in (cx - r - 1.0).floor() as i64..=(cx + r + 1.0).ceil() as i64 {
                    let d = ((xx as f64 - cx).powi(2) + (yy as f64 - cy).powi(2)).sqrt();
                    let a = (r + 0.5 - d).clamp(0.0, 1.0) as f32;
                    if a > 0.0 {
                        let i = (yy.max(0) as usize * self.width + xx.max(0) as usize) * 3;
                        // Do not lighten pixels already drawn by this line.
                        if i + 2 < self.px.len() && self.get_i(i) != c {
                            self.blend(xx, yy, c, a);
                        }
                    }
                }
            }
        }
    }
    fn get_i(&self, i: usize) -> Rgb {
        [self.px[i], self.px[i + 1], self.px[i + 2]]
    }
    /// Text with its left end of the baseline at `(x, y)`, `size` pixels high.
    pub fn text(&mut self, x: f64, y: f64, size: f32, s: &str, c: Rgb) {
        let font = FontRef::try_from_slice(FONT).expect("embedded font parses");
        let sf = font.as_scaled(PxScale::from(size));
        let mut caret = x as f32;
        for ch in s.chars() {
            let g = sf.scaled_glyph(ch);
            let adv = sf.h_advance(g.id);
            let mut g = g;
            g.position = point(caret, y as f32);
            if let Some(o) = font.outline_glyph(g) {
                let b = o.px_bounds();
                o.draw(|gx, gy, cov| {
                    self.blend(
                        b.min.x as i64 + gx as i64,
                        b.min.y as i64 + gy as i64,
                        c,
                        cov,
                    )
                });
            }
            caret += adv;
        }
    }
    /// Width of `s` in pixels at `size`.
    pub fn text_width(size: f32, s: &str) -> f64 {
        let font = FontRef::try_from_slice(FONT).expect("embedded font parses");
        let sf = font.as_scaled(PxScale::from(size));
        s.chars()
            .map(|ch| sf.h_advance(sf.scaled_glyph(ch).id))
            .sum::<f32>() as f64
    }
    /// Write a PNG (atomically).
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let mut buf = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut buf, self.width as u32, self.height as u32);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc
                .write_header()
                .map_err(|e| Error::format(path, format!("png: {e}")))?;
            w.write_image_data(&self.px)
                .map_err(|e| Error::format(path, format!("png: {e}")))?;
        }
        write_atomic(path, &buf)
    }
}

/// Tick label: fixed notation for moderate magnitudes, scientific otherwise.
fn fmt_tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if (1e-2..1e4).contains(&a) {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.1e}")
    }
}

/// The plotting area of a figure and its data ranges.
struct Frame {
    l: f64,
    t: f64,
    r: f64,
    b: f64,
    x: (f64, f64),
    y: (f64, f64),
}

impl Frame {
    fn px(&self, x: f64, y: f64) -> (f64, f64) {
        let fx = (x - self.x.0) / (self.x.1 - self.x.0);
        let fy = (y - self.y.0) / (self.y.1 - self.y.0);
        (
            self.l + fx * (self.r - self.l),
            self.b - fy * (self.b - self.t),
        )
    }
    fn axes(&self, c: &mut Canvas, title: &str, xlabel: &str, ylabel: &str) {
        let (l, t, r, b) = (self.l, self.t, self.r, self.b);
        for k in 0..=4 {
            let f = k as f64 / 4.0;
            // Values within rounding of zero print as 0.
            let snap = |v: f64, span: f64| if v.abs() < 1e-9 * span.abs() { 0.0 } else { v };
            let xv = snap(self.x.0 + f * (self.x.1 - self.x.0), self.x.1 - self.x.0);
            let (px, _) = self.px(xv, self.y.0);
            c.line((px, b), (px, b + 5.0), BLACK, 1.0);
            let s = fmt_tick(xv);
            c.text(
                px - Canvas::text_width(12.0, &s) / 2.0,
                b + 19.0,
                12.0,
                &s,
                BLACK,
            );
            let yv = snap(self.y.0 + f * (self.y.1 - self.y.0), self.y.1 - self.y.0);
            let (_, py) = self.px(self.x.0, yv);
            c.line((l - 5.0, py), (l, py), BLACK, 1.0);
            let s = fmt_tick(yv);
            c.text(
                l - 8.0 - Canvas::text_width(12.0, &s),
                py + 4.0,
                12.0,
                &s,
                BLACK,
            );
        }
        for (a, z) in [
            ((l, t), (r, t)),
            ((r, t), (r, b)),
            ((r, b), (l, b)),
            ((l, b), (l, t)),
        ] {
            c.line(a, z, BLACK, 1.0);
        }
        c.text(
            (l + r) / 2.0 - Canvas::text_width(16.0, title) / 2.0,
            t - 12.0,
            16.0,
            title,
            BLACK,
        );
        c.text(
            (l + r) / 2.0 - Canvas::text_width(13.0, xlabel) / 2.0,
            b + 40.0,
            13.0,
            xlabel,
            BLACK,
        );
        c.text(8.0, t - 12.0, 13.0, ylabel, BLACK);
    }
}

fn check_finite(what: &str, v: &[f64]) -> Result<()> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(Error::invalid(
            what,
            format!("value {i} is {}, cannot be plotted", v[i]),
        )),
        None => Ok(()),
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, lo + 0.5)
    }
}

/// A curve `y(x)` as a PNG.
pub fn line_plot(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    xs: &[f64],
    ys: &[f64],
) -> Result<()> {
    if xs.len() != ys.len() || xs.len() < 2 {
        return Err(Error::invalid(
            "plot",
            format!(
                "{} x values for {} y values (need 2 or more)",
                xs.len(),
                ys.len()
            ),
        ));
    }
    check_finite("plot x", xs)?;
    check_finite("plot y", ys)?;
    let mut c = Canvas::new(640, 480);
    let (y0, y1) = range(ys);
    let pad = 0.05 * (y1 - y0);
    let f = Frame {
        l: 80.0,
        t: 40.0,
        r: 620.0,
        b: 420.0,
        x: range(xs),
        y: (y0.min(0.0).min(y0 - pad), y1 + pad),
    };
    for k in 1..4 {
        let (_, py) = f.px(f.x.0, f.y.0 + k as f64 / 4.0 * (f.y.1 - f.y.0));
        c.line((f.l, py), (f.r, py), GREY, 1.0);
    }
    for w in xs.windows(2).zip(ys.windows(2)) {
        let (a, b) = (f.px(w.0[0], w.1[0]), f.px(w.0[1], w.1[1]));
        c.line(a, b, BLUE, 2.0);
    }
    f.axes(&mut c, title, xlabel, ylabel);
    c.save_png(path)
}

/// The viridis colormap (5 anchors, linear in between), `t` in [0, 1].
pub fn viridis(t: f64) -> Rgb {
    const A: [[f64; 3]; 5] = [
        [68., 1., 84.],
        [59., 82., 139.],
        [33., 145., 140.],
        [94., 201., 98.],
        [253., 231., 37.],
    ];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let mut c = [0u8; 3];
    for k in 0..3 {
        c[k] = (A[i][k] * (1.0 - f) + A[i + 1][k] * f).round() as u8;
    }
    c
}

/// A heatmap of `grid[iy, ix]` over `[x0, x1] x [y0, y1]` (row 0 at the bottom), with a
/// color bar.
pub fn heatmap(
    path: &Path,
    title: &str,
    x: (f64, f64),
    y: (f64, f64),
    grid: &Array2<f64>,
) -> Result<()> {
    let (ny, nx) = grid.dim();
    if nx < 2 || ny < 2 {
        return Err(Error::invalid(
            "heatmap",
            format!("grid {ny}x{nx} is too small"),
        ));
    }
    check_finite(
        "heatmap",
        grid.as_slice()
            .unwrap_or(&grid.iter().cloned().collect::<Vec<_>>()),
    )?;
    let vals: Vec<f64> = grid.iter().cloned().collect();
    let (lo, hi) = range(&vals);
    let mut c = Canvas::new(640, 520);
    let f = Frame {
        l: 80.0,
        t: 40.0,
        r: 520.0,
        b: 460.0,
        x,
        y,
    };
    for py in f.t as usize..f.b as usize {
        for px in f.l as usize..f.r as usize {
            let fx = (px as f64 + 0.5 - f.l) / (f.r - f.l);
            let fy = (f.b - py as f64 - 0.5) / (f.b - f.t);
            let ix = ((fx * nx as f64) as usize).min(nx - 1);
            let iy = ((fy * ny as f64) as usize).min(ny - 1);
            c.blend(
                px as i64,
                py as i64,
                viridis((grid[[iy, ix]] - lo) / (hi - lo)),
                1.0,
            );
        }
    }
    // Color bar.
    for py in f.t as usize..f.b as usize {
        let t = (f.b - py as f64) / (f.b - f.t);
        for px in 545..565 {
            c.blend(px, py as i64, viridis(t), 1.0);
        }
    }
    for (v, py) in [(hi, f.t + 4.0), (lo, f.b)] {
        c.text(570.0, py, 12.0, &fmt_tick(v), BLACK);
    }
    f.axes(&mut c, title, "y1", "y2");
    c.save_png(path)
}

/// Orange, for a second series.
pub const ORANGE: Rgb = [255, 127, 14];

/// A scatter plot of the points `(xs[i], ys[i])` (translucent dots, so density shows),
/// e.g. MCMC draws of a 2-D target or model samples over data.
pub fn scatter(path: &Path, title: &str, xs: &[f64], ys: &[f64]) -> Result<()> {
    scatter_series(path, title, &[(xs, ys, BLUE)], None)
}

/// Several point series in one frame (e.g. data in blue, model samples in orange),
/// over `bounds` `([x0, y0], [x1, y1])` or the points' range.
pub fn scatter_series(
    path: &Path,
    title: &str,
    series: &[(&[f64], &[f64], Rgb)],
    bounds: Option<([f64; 2], [f64; 2])>,
) -> Result<()> {
    let mut all_x = Vec::new();
    let mut all_y = Vec::new();
    for (xs, ys, _) in series {
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
        check_finite("scatter x", xs)?;
        check_finite("scatter y", ys)?;
        all_x.extend_from_slice(xs);
        all_y.extend_from_slice(ys);
    }
    let mut c = Canvas::new(560, 560);
    let ((x0, x1), (y0, y1)) = match bounds {
        Some((lo, hi)) => ((lo[0], hi[0]), (lo[1], hi[1])),
        None => {
            let (x0, x1) = range(&all_x);
            let (y0, y1) = range(&all_y);
            let (px, py) = (0.05 * (x1 - x0), 0.05 * (y1 - y0));
            ((x0 - px, x1 + px), (y0 - py, y1 + py))
        }
    };
    let f = Frame {
        l: 80.0,
        t: 40.0,
        r: 540.0,
        b: 500.0,
        x: (x0, x1),
        y: (y0, y1),
    };
    for (xs, ys, color) in series {
        let alpha = (2000.0 / xs.len() as f32).clamp(0.03, 0.6);
        for (&x, &y) in xs.iter().zip(ys.iter()) {
            if x < x0 || x > x1 || y < y0 || y > y1 {
                continue;
            }
            let (u, v) = f.px(x, y);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                c.blend(u as i64 + dx, v as i64 + dy, *color, alpha);
            }
        }
    }
    f.axes(&mut c, title, "y1", "y2");
    c.save_png(path)
}
