//! Neural and closure energies: the f64 boundary around an f32 network keeps the
//! network's values, and the gradient written into the caller's buffer is dE/dy.

use ebm::energy::{Energy, FnEnergy, NeuralEnergy};
use ebm::nn::init::Init;
use ebm::nn::{ActivationKind, Parallelism, Sequential};
use ndarray::Array2;
use rand::SeedableRng;

#[test]
fn neural_energy_matches_its_network_and_finite_differences() {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
    let net = Sequential::mlp(
        2,
        &[32, 32],
        1,
        ActivationKind::Silu,
        Init::PyTorchDefault,
        &mut rng,
    );
    let y = Array2::from_shape_fn((300, 2), |(i, j)| (i as f64 * 0.37 + j as f64).sin() * 2.0);
    // The network itself, in f32.
    let mut ws = net.workspace(300);
    let want = net
        .forward(y.mapv(|v| v as f32).view(), &mut ws, Parallelism::None)
        .to_owned();
    let e = NeuralEnergy::new(net).unwrap();
    let mut out = vec![0.0; 300];
    let mut g = Array2::zeros((300, 2));
    e.energy_grad(y.view(), &mut out, g.view_mut());
    let mut out2 = vec![0.0; 300];
    e.energy(y.view(), &mut out2);
    for i in 0..300 {
        assert_eq!(out[i] as f32, want[[i, 0]]);
        assert!((out2[i] - out[i]).abs() <= 1e-6 * out[i].abs().max(1.0));
    }
    // Central differences in f32 precision: step 1e-2, tolerance 2e-3 relative.
    for i in [0usize, 7, 150, 299] {
        for j in 0..2 {
            let (mut p, mut m) = (y.clone(), y.clone());
            p[[i, j]] += 1e-2;
            m[[i, j]] -= 1e-2;
            let (mut ep, mut em) = (vec![0.0; 300], vec![0.0; 300]);
            e.energy(p.view(), &mut ep);
            e.energy(m.view(), &mut em);
            let fd = (ep[i] - em[i]) / 2e-2;
            assert!(
                (g[[i, j]] - fd).abs() <= 2e-3 * fd.abs().max(1.0),
                "[{i},{j}] {} vs {fd}",
                g[[i, j]]
            );
        }
    }
    // A network whose output is not a scalar is refused, naming both widths.
    let wide = Sequential::mlp(
        2,
        &[4],
        3,
        ActivationKind::Relu,
        Init::PyTorchDefault,
        &mut rng,
    );
    let err = NeuralEnergy::new(wide).err().unwrap().to_string();
    assert!(err.contains("[1]") && err.contains("[3]"), "{err}");
}

#[test]
fn closure_energy_with_an_exact_gradient_agrees_with_its_numerical_one() {
    let f = |y: &[f64]| 0.5 * y[0] * y[0] + (y[1] * y[0]).cos();
    let exact = FnEnergy::with_grad(2, f, |y: &[f64], g: &mut [f64]| {
        g[0] = y[0] - y[1] * (y[1] * y[0]).sin();
        g[1] = -y[0] * (y[1] * y[0]).sin();
    });
    let numeric = FnEnergy::new(2, f);
    let y = Array2::from_shape_fn((5, 2), |(i, j)| i as f64 * 0.3 - j as f64 * 0.7);
    let (mut e1, mut e2) = (vec![0.0; 5], vec![0.0; 5]);
    let (mut g1, mut g2) = (Array2::zeros((5, 2)), Array2::zeros((5, 2)));
    exact.energy_grad(y.view(), &mut e1, g1.view_mut());
    numeric.energy_grad(y.view(), &mut e2, g2.view_mut());
    assert_eq!(e1, e2);
    for (a, b) in g1.iter().zip(g2.iter()) {
        assert!((a - b).abs() < 1e-7, "{a} vs {b}");
    }
}
