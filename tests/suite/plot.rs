//! Figures: the PNG files decode, have the stated size, and show what was drawn (the
//! curve's color where the curve is, a colormap that spans the data's range).

use ebm::plot::{
    BLUE, CodePanel, Series, TAB10, TileScale, code_scatter, errorbar_plot, heatmap, image_grid,
    line_plot, viridis,
};
use ndarray::{Array2, s};

fn decode(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut r = dec.read_info().unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn line_plot_and_heatmap_write_non_blank_pngs() {
    let dir = std::env::temp_dir().join(format!("ebm-plot-{}", std::process::id()));
    let xs: Vec<f64> = (0..200).map(|i| i as f64 / 20.0 - 5.0).collect();
    let ys: Vec<f64> = xs.iter().map(|x| (-x * x / 2.0).exp()).collect();
    let p = dir.join("curve.png");
    line_plot(&p, "a Gaussian", "y", "p(y)", &xs, &ys).unwrap();
    let (w, h, px) = decode(&p);
    assert_eq!((w, h), (640, 480));
    let blue = px.chunks(3).filter(|c| c == &[31, 119, 180]).count();
    let white = px.chunks(3).filter(|c| c == &[255, 255, 255]).count();
    assert!(blue > 300 && white > 100_000, "blue {blue}, white {white}");
    // Heatmap: both ends of the colormap appear.
    let g = Array2::from_shape_fn((50, 60), |(i, j)| (i * j) as f64);
    let p = dir.join("heat.png");
    heatmap(&p, "i j", "i + j", (0.0, 1.0), (0.0, 1.0), &g).unwrap();
    let (_, _, px) = decode(&p);
    for end in [viridis(0.0), viridis(1.0)] {
        assert!(px.chunks(3).any(|c| c == end), "{end:?} missing");
    }
    // Bad input is an error, not a picture of NaN.
    let err = line_plot(
        &dir.join("bad.png"),
        "",
        "",
        "",
        &[0.0, 1.0],
        &[0.0, f64::NAN],
    )
    .unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("ebm-plot-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Gray level of pixel `(x, y)` (asserting it is gray).
fn gray_at(w: u32, px: &[u8], x: usize, y: usize) -> u8 {
    let i = (y * w as usize + x) * 3;
    assert!(
        px[i] == px[i + 1] && px[i + 1] == px[i + 2],
        "({x}, {y}) is not gray: {:?}",
        &px[i..i + 3]
    );
    px[i]
}

fn distinct_colors(px: &[u8]) -> usize {
    let mut c: Vec<&[u8]> = px.chunks(3).collect();
    c.sort();
    c.dedup();
    c.len()
}

#[test]
fn image_grid_unit_tiles_follow_their_values() {
    let dir = tmp("grid");
    // Three 28x28 tiles: all 0, all 1, a left-to-right ramp; 2 columns.
    let mut x = Array2::<f32>::zeros((3, 28 * 28));
    x.row_mut(1).fill(1.0);
    for k in 0..28 * 28 {
        x[[2, k]] = (k % 28) as f32 / 27.0;
    }
    let p = dir.join("grid.png");
    image_grid(&p, "tiles", x.view(), 28, 28, 2, TileScale::Unit).unwrap();
    let (w, h, px) = decode(&p);
    // At least 3x upscaled: 2 tiles of >= 84 px, 2 rows.
    assert!(w >= 2 * 84 && h >= 2 * 84 + 30, "{w}x{h}");
    assert!(distinct_colors(&px) > 10, "blank picture");
    // Find the tiles along a row through the first tile row: the first black run and
    // the first white run that follows, each at least 84 px long.
    let runs = |y: usize, level: u8| -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for x in 0..w as usize {
            let i = (y * w as usize + x) * 3;
            let hit = px[i..i + 3] == [level; 3];
            match (hit, start) {
                (true, None) => start = Some(x),
                (false, Some(s)) => {
                    out.push((s, x));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, w as usize));
        }
        out.into_iter().filter(|(a, b)| b - a >= 84).collect()
    };
    // The row through the middle of the first grid row: scan for a long black run.
    let y_mid = (0..h as usize)
        .find(|&y| !runs(y, 0).is_empty())
        .expect("a black tile")
        + 40;
    let black = runs(y_mid, 0);
    let white = runs(y_mid, 255);
    assert_eq!(black.len(), 1, "black runs {black:?}");
    assert_eq!(white.len(), 1, "white runs {white:?}");
    assert!(white[0].0 > black[0].1, "white tile right of the black one");
    // The ramp tile sits below the black one: dark on its left, light on its right.
    let (x0, x1) = black[0];
    let sep = (y_mid..h as usize)
        .find(|&y| gray_at(w, &px, x0 + 1, y) == 128)
        .expect("separator below the black tile");
    let y = sep + 22;
    let (left, right) = (gray_at(w, &px, x0 + 1, y), gray_at(w, &px, x1 - 2, y));
    assert!(left < 20 && right > 235, "ramp {left}..{right}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn image_grid_per_tile_maps_min_to_black_and_max_to_white() {
    let dir = tmp("pertile");
    // One 8x8 tile of values in [-3, 5]: the minimum at pixel 0, the maximum at 63.
    let x = Array2::from_shape_fn((1, 64), |(_, k)| -3.0 + 8.0 * k as f32 / 63.0);
    let p = dir.join("filters.png");
    image_grid(&p, "", x.view(), 8, 8, 10, TileScale::PerTile).unwrap();
    let (w, h, px) = decode(&p);
    // Walk the middle column of the picture down to the tile's top-left pixel: the first
    // pixel that is neither white (background) nor the gray separator.
    let mut first = None;
    'outer: for y in 0..h as usize {
        for x in 0..w as usize {
            let g = gray_at(w, &px, x, y);
            if g == 0 {
                first = Some((x, y));
                break 'outer;
            }
        }
    }
    let (x0, y0) = first.expect("a black pixel (the tile minimum)");
    // The tile is 8 * scale pixels wide; its last pixel (max) is white.
    let scale = (x0..w as usize)
        .take_while(|&x| gray_at(w, &px, x, y0) == 0)
        .count();
    assert!(scale >= 3, "scale {scale}");
    assert_eq!(gray_at(w, &px, x0 + 8 * scale - 1, y0 + 8 * scale - 1), 255);
    // A constant tile does not divide by zero.
    let c = Array2::from_elem((2, 64), 7.0f32);
    image_grid(&p, "flat", c.view(), 8, 8, 2, TileScale::PerTile).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn image_grid_bad_input_is_an_error() {
    let p = std::env::temp_dir().join("ebm-plot-never.png");
    let x = Array2::<f32>::zeros((4, 63));
    let e = image_grid(&p, "", x.view(), 8, 8, 2, TileScale::Unit).unwrap_err();
    assert!(e.to_string().contains("images"), "{e}");
    let x = Array2::<f32>::zeros((4, 64));
    assert!(image_grid(&p, "", x.slice(s![..0, ..]), 8, 8, 2, TileScale::Unit).is_err());
    let e = image_grid(&p, "", x.view(), 8, 8, 0, TileScale::Unit).unwrap_err();
    assert!(e.to_string().contains("cols"), "{e}");
    let mut y = x.clone();
    y[[2, 5]] = f32::NAN;
    let e = image_grid(&p, "", y.view(), 8, 8, 2, TileScale::PerTile).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    assert!(!p.exists());
}

#[test]
fn code_scatter_draws_balls_where_they_are() {
    let dir = tmp("codes");
    // Panel 1: one red ball (label 3) far right of the unit circle; panel 2: 500 dots on
    // a very different scale.
    let mu = [[3.0, 0.0]];
    let sd = [[0.5, 0.5]];
    let mu2: Vec<[f64; 2]> = (0..500)
        .map(|i| {
            let a = i as f64 * 0.1;
            [100.0 * a.cos(), 40.0 * a.sin()]
        })
        .collect();
    let labels2: Vec<u8> = (0..500).map(|i| (i % 10) as u8).collect();
    let p = dir.join("codes.png");
    code_scatter(
        &p,
        &[
            CodePanel {
                title: "q(z|y)",
                mu: &mu,
                sd: Some(&sd),
                labels: &[3],
            },
            CodePanel {
                title: "dots",
                mu: &mu2,
                sd: None,
                labels: &labels2,
            },
        ],
    )
    .unwrap();
    let (w, h, px) = decode(&p);
    assert!(
        (900..=1100).contains(&w) && (440..=480).contains(&h),
        "{w}x{h}"
    );
    assert!(distinct_colors(&px) > 20, "blank picture");
    // Reddish pixels (white blended with TAB10[3]) in the first panel, away from the
    // legend: their centre is right of the panel's middle (the ball is at z1 = 3, the
    // circle spans -1..1) and near its vertical middle (z2 = 0).
    let red = TAB10[3];
    let reddish =
        |c: &[u8]| c[0] > c[1].saturating_add(30) && c[1].abs_diff(c[2]) < 8 && c[0] >= red[0];
    let (mut n, mut sx, mut sy) = (0usize, 0usize, 0usize);
    for y in 0..h as usize {
        for x in 0..460 {
            let i = (y * w as usize + x) * 3;
            if reddish(&px[i..i + 3]) {
                n += 1;
                sx += x;
                sy += y;
            }
        }
    }
    assert!(n > 100, "{n} ball pixels");
    let (cx, cy) = (sx as f64 / n as f64, sy as f64 / n as f64);
    assert!(
        cx > 300.0 && (150.0..300.0).contains(&cy),
        "ball at ({cx}, {cy})"
    );
    // The second panel has dots of every label color (blended over white).
    let mut bluish = 0;
    for y in 0..h as usize {
        for x in 460..920 {
            let c = &px[(y * w as usize + x) * 3..][..3];
            if c[2] > c[0].saturating_add(40) && c[2] > c[1] {
                bluish += 1;
            }
        }
    }
    assert!(bluish > 50, "{bluish}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn code_scatter_and_errorbar_bad_input_is_an_error() {
    let p = std::env::temp_dir().join("ebm-plot-never2.png");
    fn panel<'a>(sd: Option<&'a [[f64; 2]]>, labels: &'a [u8]) -> CodePanel<'a> {
        CodePanel {
            title: "",
            mu: &[[0.0, 0.0], [1.0, 1.0]],
            sd,
            labels,
        }
    }
    assert!(code_scatter(&p, &[]).is_err());
    assert!(code_scatter(&p, &[panel(None, &[1])]).is_err());
    assert!(code_scatter(&p, &[panel(Some(&[[1.0, 1.0]]), &[1, 2])]).is_err());
    assert!(code_scatter(&p, &[panel(None, &[1, 12])]).is_err());
    let e = code_scatter(&p, &[panel(Some(&[[1.0, 1.0], [f64::NAN, 1.0]]), &[1, 2])]).unwrap_err();
    assert!(e.to_string().contains("NaN"), "{e}");
    let bad = [[0.0, f64::INFINITY]];
    assert!(
        code_scatter(
            &p,
            &[CodePanel {
                title: "",
                mu: &bad,
                sd: None,
                labels: &[0]
            }]
        )
        .is_err()
    );
    fn series<'a>(x: &'a [f64], y: &'a [f64]) -> Series<'a> {
        Series {
            label: "s",
            x,
            y,
            err: None,
            color: BLUE,
        }
    }
    assert!(errorbar_plot(&p, "", "", "", &[series(&[1.0, 2.0], &[1.0])]).is_err());
    assert!(errorbar_plot(&p, "", "", "", &[series(&[1.0], &[f64::NAN])]).is_err());
    assert!(!p.exists());
}

#[test]
fn errorbar_plot_draws_bars_and_single_points() {
    let dir = tmp("errbar");
    let (x, y, lo, hi) = (
        [1.0, 2.0, 3.0],
        [-120.0, -100.0, -95.0],
        [-125.0, -104.0, -97.0],
        [-115.0, -96.0, -93.0],
    );
    let p = dir.join("curve.png");
    errorbar_plot(
        &p,
        "log p",
        "epoch",
        "nats",
        &[Series {
            label: "test",
            x: &x,
            y: &y,
            err: Some((&lo, &hi)),
            color: BLUE,
        }],
    )
    .unwrap();
    let (w, h, px) = decode(&p);
    assert_eq!((w, h), (640, 480));
    let blue = px.chunks(3).filter(|c| c == &BLUE).count();
    assert!(blue > 300, "{blue}");
    errorbar_plot(
        &p,
        "one point",
        "epoch",
        "nats",
        &[Series {
            label: "test",
            x: &[2.0],
            y: &[-90.0],
            err: Some((&[-91.0], &[-89.0])),
            color: BLUE,
        }],
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The numbers an SVG figure prints as text (tick labels among them).
fn svg_numbers(svg: &str) -> Vec<f64> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = t.split_once('>')?.1.split_once("</text>")?.0;
            body.trim().parse::<f64>().ok()
        })
        .collect()
}

/// Whether `v` is k * (1, 2 or 5) * 10^e for an integer k: a round tick.
fn round_tick(v: f64) -> bool {
    if v == 0.0 {
        return true;
    }
    (-6..7).any(|e| {
        [1.0, 2.0, 5.0].iter().any(|m| {
            let step = m * 10f64.powi(e);
            let k = v / step;
            (k - k.round()).abs() < 1e-6 && k.round().abs() <= 10.0
        })
    })
}

#[test]
fn svg_figures_have_round_ticks_and_a_log_axis_says_so() {
    let xs: Vec<f64> = (0..50).map(|i| 0.137 + i as f64 * 0.1613).collect();
    let ys: Vec<f64> = xs.iter().map(|x| 3.3 + (x * 1.7).sin() * 0.41).collect();
    let p = tmp("ticks").join("f.svg");
    line_plot(&p, "ticks", "x", "y", &xs, &ys).unwrap();
    let svg = std::fs::read_to_string(&p).unwrap();
    assert!(
        svg.starts_with("<svg") || svg.contains("<svg"),
        "not an SVG"
    );
    let nums = svg_numbers(&svg);
    assert!(nums.len() >= 6, "tick labels: {nums:?}");
    for v in &nums {
        assert!(round_tick(*v), "tick {v} is not round ({nums:?})");
    }
    // The same check sees a tick at the data's raw end points (what the old axes drew).
    assert!(!round_tick(0.137 + 49.0 * 0.1613));
    // A log axis: its label says so; zero or negative values are refused.
    let series = [Series {
        label: "loss",
        x: &xs,
        y: &ys,
        err: None,
        color: BLUE,
    }];
    let c = ebm::chart::Curves {
        title: "log",
        xlabel: "x",
        ylabel: "nats",
        series: &series,
        markers: true,
        log_y: true,
    };
    let q = tmp("log").join("f.svg");
    ebm::chart::curves(&q, &c).unwrap();
    assert!(
        std::fs::read_to_string(&q)
            .unwrap()
            .contains("nats (log scale)")
    );
    let neg: Vec<f64> = ys.iter().map(|y| y - 4.0).collect();
    let series = [Series {
        y: &neg,
        ..series[0]
    }];
    let e = ebm::chart::curves(
        &q,
        &ebm::chart::Curves {
            series: &series,
            ..c
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("logarithmic"), "{e}");
    // A heatmap's colour bar carries its label.
    let g = ndarray::Array2::from_shape_fn((8, 8), |(i, j)| (i * j) as f64 + 0.5);
    let h = tmp("heat").join("f.svg");
    heatmap(&h, "heat", "sqrt(density)", (-1.3, 2.9), (0.0, 1.0), &g).unwrap();
    let svg = std::fs::read_to_string(&h).unwrap();
    assert!(svg.contains("sqrt(density)"));
    for v in svg_numbers(&svg) {
        assert!(round_tick(v), "heatmap tick {v}");
    }
}

#[test]
fn nice_ticks_are_round_inside_and_few() {
    let mut rng = 12345u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..2000 {
        let scale = 10f64.powf(next() * 12.0 - 6.0);
        let lo = (next() - 0.5) * 10.0 * scale;
        let hi = lo + (0.01 + next()) * scale;
        let t = ebm::plot::nice_ticks(lo, hi);
        assert!((2..=8).contains(&t.len()), "{lo} {hi}: {t:?}");
        for v in &t {
            assert!(
                *v >= lo - 1e-12 * scale && *v <= hi + 1e-12 * scale,
                "{v} outside"
            );
        }
        let step = t[1] - t[0];
        let m = step / 10f64.powf(step.log10().floor());
        assert!(
            [1.0, 2.0, 5.0, 10.0].iter().any(|r| (m - r).abs() < 1e-6),
            "{lo} {hi}: step {step}"
        );
    }
}

/// `(attributes, text)` of every `<text>` element of an SVG.
fn svg_texts(svg: &str) -> Vec<(String, String)> {
    svg.split("<text ")
        .skip(1)
        .filter_map(|t| {
            let (attrs, rest) = t.split_once('>')?;
            let body = rest.split_once("</text>")?.0.trim();
            Some((attrs.to_string(), body.to_string()))
        })
        .collect()
}

fn attr(attrs: &str, name: &str) -> f64 {
    attrs
        .split(&format!("{name}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

#[test]
fn a_curve_lands_where_its_tick_labels_say() {
    // y = x^2 / 10 on x in [0, 10]: the drawn polyline is an affine image of the data,
    // and every tick label sits where that same map puts its value.
    let xs: Vec<f64> = (0..=40).map(|i| i as f64 * 0.25).collect();
    let ys: Vec<f64> = xs.iter().map(|x| x * x / 10.0).collect();
    let p = tmp("pixels").join("f.svg");
    line_plot(&p, "parabola", "x", "y", &xs, &ys).unwrap();
    let svg = std::fs::read_to_string(&p).unwrap();
    let pts: Vec<(f64, f64)> = svg
        .split("<polyline ")
        .skip(1)
        .find(|p| p.contains("stroke=\"#1F77B4\""))
        .expect("the blue curve")
        .split("points=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|xy| {
            let (a, b) = xy.split_once(',').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert_eq!(pts.len(), xs.len());
    let n = xs.len() - 1;
    let ax = (pts[n].0 - pts[0].0) / (xs[n] - xs[0]);
    let bx = pts[0].0 - ax * xs[0];
    let ay = (pts[n].1 - pts[0].1) / (ys[n] - ys[0]);
    let by = pts[0].1 - ay * ys[0];
    assert!(ax > 40.0 && ay < -30.0, "x right, y up: {ax} {ay}");
    for (i, (u, v)) in pts.iter().enumerate() {
        assert!((u - (ax * xs[i] + bx)).abs() <= 1.0, "point {i}: u {u}");
        assert!((v - (ay * ys[i] + by)).abs() <= 1.0, "point {i}: v {v}");
    }
    let (mut nx, mut ny) = (0, 0);
    for (attrs, body) in svg_texts(&svg) {
        let Ok(val) = body.parse::<f64>() else {
            continue;
        };
        if attrs.contains("text-anchor=\"end\"") {
            // A y tick label: its centre line.
            let y = attr(&attrs, "y");
            assert!((y - (ay * val + by)).abs() <= 1.5, "y tick {val} at {y}");
            ny += 1;
        } else {
            let x = attr(&attrs, "x");
            assert!((x - (ax * val + bx)).abs() <= 1.5, "x tick {val} at {x}");
            nx += 1;
        }
    }
    assert!(nx >= 4 && ny >= 4, "{nx} x ticks, {ny} y ticks");
}
