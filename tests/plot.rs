//! Figures: the PNG files decode, have the stated size, and show what was drawn (the
//! curve's color where the curve is, a colormap that spans the data's range).

use ebm::plot::{heatmap, line_plot, viridis};
use ndarray::Array2;

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
    heatmap(&p, "i j", (0.0, 1.0), (0.0, 1.0), &g).unwrap();
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
