//! Figures as PNG files: line plots (1-D densities, curves, curves with error bars),
//! heatmaps (2-D densities) and scatter plots are drawn by [`crate::chart`] (plotters:
//! round ticks, log axes, SVG); grids of grayscale images (samples, RBM filters) and
//! panels of 2-D codes colored by label are drawn here directly, with round ticks too
//! ([`nice_ticks`]), text in DejaVu Sans (embedded; see `data/fonts/LICENSE-DejaVu.txt`).
//! `png` encodes, `ab_glyph` rasterizes the text.

// Index loops over color channels read best as they are.
#![allow(clippy::needless_range_loop)]

use crate::io::write_atomic;
use crate::{Error, Result};
use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use ndarray::{Array2, ArrayView2};
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
    /// Fill the rectangle `[x0, x0 + w) x [y0, y0 + h)` with `c` (clipped).
    fn fill(&mut self, x0: usize, y0: usize, w: usize, h: usize, c: Rgb) {
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                let i = (y * self.width + x) * 3;
                self.px[i..i + 3].copy_from_slice(&c);
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

/// Round tick values inside `[lo, hi]`: multiples of 1, 2 or 5 times a power of ten,
/// 2 to 8 of them, 4 to 6 typically (values within rounding of zero are exactly 0).
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = hi - lo;
    if span.is_nan() || span <= 0.0 || !span.is_finite() {
        return vec![lo];
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 7.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            if v.abs() < 1e-9 * span { 0.0 } else { v }
        })
        .collect()
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
        for xv in nice_ticks(self.x.0, self.x.1) {
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
        }
        for yv in nice_ticks(self.y.0, self.y.1) {
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
        c.text(l - 72.0, t - 12.0, 13.0, ylabel, BLACK);
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

/// A curve `y(x)` as a PNG (or SVG for a `.svg` path), drawn by [`crate::chart`]: round
/// ticks, light grid.
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
    let series = [Series {
        label: "",
        x: xs,
        y: ys,
        err: None,
        color: BLUE,
    }];
    crate::chart::curves(
        path,
        &crate::chart::Curves {
            title,
            xlabel,
            ylabel,
            series: &series,
            markers: false,
            log_y: false,
        },
    )
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

/// A heatmap of `grid[iy, ix]` over `[x0, x1] x [y0, y1]` (row 0 at the bottom), axes
/// `y1` and `y2`, with a colour bar labelled `bar` (which says what the colours are: a
/// density, an energy, a square root or a logarithm of one), drawn by [`crate::chart`].
pub fn heatmap(
    path: &Path,
    title: &str,
    bar: &str,
    x: (f64, f64),
    y: (f64, f64),
    grid: &Array2<f64>,
) -> Result<()> {
    crate::chart::heatmap(
        path,
        &crate::chart::Heatmap {
            title,
            xlabel: "y1",
            ylabel: "y2",
            bar,
            x,
            y,
            grid: grid.view(),
        },
    )
}

/// Orange, for a second series.
pub const ORANGE: Rgb = [255, 127, 14];

/// A scatter plot of the points `(xs[i], ys[i])` (translucent dots, so density shows),
/// e.g. MCMC draws of a 2-D target or model samples over data.
pub fn scatter(path: &Path, title: &str, xs: &[f64], ys: &[f64]) -> Result<()> {
    scatter_series(path, title, &[(xs, ys, BLUE)], None)
}

/// Several point series in one frame (e.g. data in blue, model samples in orange),
/// over `bounds` `([x0, y0], [x1, y1])` or the points' range, drawn by [`crate::chart`].
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
    let ((x0, x1), (y0, y1)) = match bounds {
        Some((lo, hi)) => ((lo[0], hi[0]), (lo[1], hi[1])),
        None => {
            let (x0, x1) = range(&all_x);
            let (y0, y1) = range(&all_y);
            let (px, py) = (0.05 * (x1 - x0), 0.05 * (y1 - y0));
            ((x0 - px, x1 + px), (y0 - py, y1 + py))
        }
    };
    crate::chart::scatter(
        path,
        &crate::chart::Scatter {
            title,
            xlabel: "y1",
            ylabel: "y2",
            series,
            x: (x0, x1),
            y: (y0, y1),
        },
    )
}

/// How [`image_grid`] maps pixel values to gray levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileScale {
    /// Values in [0, 1] (others clamped): 0 is black, 1 is white (images, probabilities).
    Unit,
    /// Each tile's own minimum..maximum to black..white (RBM filters, weights); a
    /// constant tile is mid-gray.
    PerTile,
}

/// Gray between tiles.
const SEPARATOR: Rgb = [128, 128, 128];

/// Each row of `images` (`[n, height * width]`, row-major pixels) as a grayscale tile in a
/// grid of `cols` columns (fewer when `n < cols`), 2 px gray separators, each tile scaled
/// up by the integer factor that makes the grid about 840 px wide (3x for ten 28x28
/// tiles, 10x for ten 8x8), `title` above.
///
/// Errors: `images.ncols() != height * width` (a shape error), no images, a zero
/// `height`, `width` or `cols`, non-finite values.
pub fn image_grid(
    path: &Path,
    title: &str,
    images: ArrayView2<f32>,
    height: usize,
    width: usize,
    cols: usize,
    normalize: TileScale,
) -> Result<()> {
    if height == 0 || width == 0 {
        return Err(Error::invalid(
            "image_grid height/width",
            format!("tiles of {height}x{width} pixels are empty"),
        ));
    }
    if images.ncols() != height * width {
        return Err(Error::Shape {
            what: format!("image_grid images ({height}x{width} pixels per row)"),
            expected: vec![images.nrows(), height * width],
            found: vec![images.nrows(), images.ncols()],
        });
    }
    let n = images.nrows();
    if n == 0 {
        return Err(Error::invalid(
            "image_grid images",
            "no rows (need 1 or more images)",
        ));
    }
    if cols == 0 {
        return Err(Error::invalid("image_grid cols", "must be at least 1"));
    }
    if let Some(((r, k), v)) = images.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::invalid(
            "image_grid images",
            format!("value at row {r}, pixel {k} is {v}, cannot be drawn"),
        ));
    }
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    const SEP: usize = 2;
    let scale = 840usize.div_ceil(cols * width).clamp(1, 32);
    let (tw, th) = (width * scale, height * scale);
    let grid_w = cols * (tw + SEP) + SEP;
    let grid_h = rows * (th + SEP) + SEP;
    let (margin, top) = (10usize, 40usize);
    let text_w = Canvas::text_width(16.0, title).ceil() as usize;
    let canvas_w = (grid_w + 2 * margin).max(text_w + 2 * margin);
    let mut c = Canvas::new(canvas_w, top + grid_h + margin);
    let gx = (canvas_w - grid_w) / 2;
    c.fill(gx, top, grid_w, grid_h, SEPARATOR);
    for (i, img) in images.rows().into_iter().enumerate() {
        let (lo, hi) = match normalize {
            TileScale::Unit => (0.0f32, 1.0f32),
            TileScale::PerTile => img
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                    (lo.min(v), hi.max(v))
                }),
        };
        let (x0, y0) = (
            gx + SEP + (i % cols) * (tw + SEP),
            top + SEP + (i / cols) * (th + SEP),
        );
        for (k, &v) in img.iter().enumerate() {
            let t = if hi > lo {
                ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                0.5
            };
            let g = (t * 255.0).round() as u8;
            let (py, px) = (k / width, k % width);
            c.fill(x0 + px * scale, y0 + py * scale, scale, scale, [g, g, g]);
        }
    }
    c.text(
        (canvas_w as f64 - Canvas::text_width(16.0, title)) / 2.0,
        26.0,
        16.0,
        title,
        BLACK,
    );
    c.save_png(path)
}

/// Matplotlib's `tab10` categorical palette (label `k` gets `TAB10[k]`).
pub const TAB10: [Rgb; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// One panel of [`code_scatter`]: 2-D codes (e.g. a VAE's `q(z | y)` means and standard
/// deviations) with the digit label of each.
#[derive(Clone, Copy, Debug)]
pub struct CodePanel<'a> {
    pub title: &'a str,
    /// Centres, one per point.
    pub mu: &'a [[f64; 2]],
    /// Standard deviations per axis (one per point, >= 0): each point becomes the
    /// one-sd ellipse around its centre. `None`: dots.
    pub sd: Option<&'a [[f64; 2]]>,
    /// Labels 0..=9 (colors of [`TAB10`]).
    pub labels: &'a [u8],
}

/// Side length of one [`code_scatter`] panel in pixels.
const PANEL: usize = 460;
/// Width of the legend column of [`code_scatter`].
const LEGEND_W: usize = 70;

/// The panels side by side in one PNG (each 460x460 px with its own axes and bounds,
/// equal scale on both axes), every point colored by its label ([`TAB10`]): with `sd`, a
/// translucent axis-aligned ellipse of radii `sd` (one standard deviation) centred at
/// `mu` (the "fuzzy balls" of `q(z | y)`); without, a dot. The unit circle (one-sd
/// contour of the prior `N(0, I)`) is dashed gray; a legend of the labels 0..9 is on the
/// right. Each panel's bounds include all its ellipses and the unit circle.
///
/// Errors: no panels, `mu`/`sd`/`labels` of different lengths, non-finite or negative
/// values, labels above 9.
pub fn code_scatter(path: &Path, title_panels: &[CodePanel<'_>]) -> Result<()> {
    if title_panels.is_empty() {
        return Err(Error::invalid(
            "code_scatter panels",
            "none given (need 1 or more)",
        ));
    }
    for (p, panel) in title_panels.iter().enumerate() {
        let n = panel.mu.len();
        if panel.labels.len() != n {
            return Err(Error::Shape {
                what: format!("code_scatter panel {p} labels (one per mu)"),
                expected: vec![n],
                found: vec![panel.labels.len()],
            });
        }
        if let Some(sd) = panel.sd {
            if sd.len() != n {
                return Err(Error::Shape {
                    what: format!("code_scatter panel {p} sd (one per mu)"),
                    expected: vec![n, 2],
                    found: vec![sd.len(), 2],
                });
            }
            check_finite(
                &format!("code_scatter panel {p} sd"),
                &sd.iter().flatten().copied().collect::<Vec<_>>(),
            )?;
            if let Some(i) = sd.iter().position(|s| s[0] < 0.0 || s[1] < 0.0) {
                return Err(Error::invalid(
                    format!("code_scatter panel {p} sd"),
                    format!("point {i} has a negative standard deviation {:?}", sd[i]),
                ));
            }
        }
        check_finite(
            &format!("code_scatter panel {p} mu"),
            &panel.mu.iter().flatten().copied().collect::<Vec<_>>(),
        )?;
        if let Some(i) = panel.labels.iter().position(|&l| l > 9) {
            return Err(Error::invalid(
                format!("code_scatter panel {p} labels"),
                format!("label {} of point {i} is not a digit 0..9", panel.labels[i]),
            ));
        }
    }
    let k = title_panels.len();
    let mut c = Canvas::new(k * PANEL + LEGEND_W, PANEL);
    for (p, panel) in title_panels.iter().enumerate() {
        draw_code_panel(&mut c, (p * PANEL) as f64, panel);
    }
    // Legend: a swatch and the digit, per label.
    let lx = (k * PANEL) as f64 + 10.0;
    c.text(lx, 40.0, 13.0, "label", BLACK);
    for (d, &color) in TAB10.iter().enumerate() {
        let y = 52 + 24 * d;
        c.fill(lx as usize, y, 14, 14, color);
        c.text(lx + 22.0, y as f64 + 12.0, 13.0, &d.to_string(), BLACK);
    }
    c.save_png(path)
}

fn draw_code_panel(c: &mut Canvas, ox: f64, panel: &CodePanel<'_>) {
    let zero = [0.0, 0.0];
    let sd_of = |i: usize| panel.sd.map_or(zero, |s| s[i]);
    // Bounds: every ellipse and the unit circle, made square around their centre.
    let (mut x0, mut x1, mut y0, mut y1) = (-1.0f64, 1.0f64, -1.0f64, 1.0f64);
    for (i, m) in panel.mu.iter().enumerate() {
        let s = sd_of(i);
        x0 = x0.min(m[0] - s[0]);
        x1 = x1.max(m[0] + s[0]);
        y0 = y0.min(m[1] - s[1]);
        y1 = y1.max(m[1] + s[1]);
    }
    let half = 0.525 * (x1 - x0).max(y1 - y0);
    let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    let f = Frame {
        l: ox + 80.0,
        t: 40.0,
        r: ox + 440.0,
        b: 400.0,
        x: (cx - half, cx + half),
        y: (cy - half, cy + half),
    };
    let unit = (f.r - f.l) / (2.0 * half); // pixels per unit of z
    let n = panel.mu.len().max(1) as f32;
    let inside =
        |x: i64, y: i64| x as f64 > f.l && (x as f64) < f.r && y as f64 > f.t && (y as f64) < f.b;
    for (i, (m, &label)) in panel.mu.iter().zip(panel.labels).enumerate() {
        let color = TAB10[label as usize];
        let (u, v) = f.px(m[0], m[1]);
        match panel.sd {
            Some(_) => {
                let s = sd_of(i);
                // At least a 1.5 px radius, so that tiny balls still show.
                let (rx, ry) = ((s[0] * unit).max(1.5), (s[1] * unit).max(1.5));
                // Tiny balls barely overlap: draw them opaque enough to see.
                let alpha = if rx * ry <= 9.0 {
                    0.75
                } else {
                    (40.0 / n).clamp(0.04, 0.35)
                };
                for y in (v - ry).floor() as i64..=(v + ry).ceil() as i64 {
                    for x in (u - rx).floor() as i64..=(u + rx).ceil() as i64 {
                        let (dx, dy) = ((x as f64 + 0.5 - u) / rx, (y as f64 + 0.5 - v) / ry);
                        if dx * dx + dy * dy <= 1.0 && inside(x, y) {
                            c.blend(x, y, color, alpha);
                        }
                    }
                }
            }
            None => {
                let alpha = (2000.0 / n).clamp(0.15, 0.8);
                for y in (v - 2.0).floor() as i64..=(v + 2.0).ceil() as i64 {
                    for x in (u - 2.0).floor() as i64..=(u + 2.0).ceil() as i64 {
                        let (dx, dy) = (x as f64 + 0.5 - u, y as f64 + 0.5 - v);
                        if dx * dx + dy * dy <= 4.0 && inside(x, y) {
                            c.blend(x, y, color, alpha);
                        }
                    }
                }
            }
        }
    }
    // The prior's one-sd contour, dashed: every other one of 72 arcs.
    let dark_grey: Rgb = [90, 90, 90];
    for s in (0..72).step_by(2) {
        let (a0, a1) = (
            s as f64 / 72.0 * std::f64::consts::TAU,
            (s + 1) as f64 / 72.0 * std::f64::consts::TAU,
        );
        c.line(
            f.px(a0.cos(), a0.sin()),
            f.px(a1.cos(), a1.sin()),
            dark_grey,
            1.5,
        );
    }
    f.axes(c, panel.title, "z1", "z2");
}

/// One curve of [`errorbar_plot`]: points `(x[i], y[i])` joined by lines, with vertical
/// bars from `err.0[i]` to `err.1[i]` when given.
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    pub x: &'a [f64],
    pub y: &'a [f64],
    /// Lower and upper ends of the bars.
    pub err: Option<(&'a [f64], &'a [f64])>,
    pub color: Rgb,
}

/// Curves with markers and optional error bars in one frame (e.g. a log-likelihood over
/// training with its AIS interval), a legend in the lower right. One point per series is
/// allowed.
///
/// Errors: no series, lengths that differ or are 0, non-finite values.
pub fn errorbar_plot(
    path: &Path,
    title: &str,
    xlabel: &str,
    ylabel: &str,
    series: &[Series<'_>],
) -> Result<()> {
    // Series lengths, emptiness and finiteness are checked by `chart::curves`.
    crate::chart::curves(
        path,
        &crate::chart::Curves {
            title,
            xlabel,
            ylabel,
            series,
            markers: true,
            log_y: false,
        },
    )
}
