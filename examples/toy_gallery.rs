//! Every toy data set ([`ebm::toy`]) drawn as a scatter plot, to compare by eye with
//! FFJORD's figures: `runs/toy_gallery/<name>.png`, 20,000 points each.
//!
//! `cargo run --release --example toy_gallery [seed]`

use ebm::toy::ToyData;
use std::path::Path;

fn main() -> ebm::Result<()> {
    let seed = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("seed: an integer"))
        .unwrap_or(0u64);
    let dir = Path::new("runs/toy_gallery");
    std::fs::create_dir_all(dir).map_err(|e| ebm::Error::io(dir, e))?;
    for data in ToyData::all() {
        let x = data.sample(20_000, seed); // [20000, 2]
        let (xs, ys): (Vec<f64>, Vec<f64>) = x.rows().into_iter().map(|r| (r[0], r[1])).unzip();
        let path = dir.join(format!("{}.png", data.name()));
        ebm::plot::scatter(&path, data.name(), &xs, &ys)?;
        println!("{}", path.display());
    }
    Ok(())
}
