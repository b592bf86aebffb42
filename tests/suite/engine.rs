//! Oracle tests of the engine: every module's input and weight gradients against
//! central finite differences, the output costs against their closed forms.
//!
//! Tolerance: the engine is f32. A central difference with step h has truncation error
//! O(h^2 f''') and round-off about u |C| / h (u = 6e-8). With h = 1e-2 and costs of
//! order 1-10 both are below 1e-4 relative to the gradient's scale, so we accept
//! |analytic - numeric| <= 2e-3 * max(1, |numeric|) per entry. A wrong sign, a missing
//! factor or a transposed index fails by orders of magnitude more.

use ebm::nn::init::Init;
use ebm::nn::{
    Activation, ActivationKind, BernoulliLogits, Cost, GaussianNll, Linear, Module, Parallelism,
    Parameters, Reduction, Sequential, SquaredError,
};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus as Rng64;

const H: f32 = 1e-2;
const TOL: f64 = 2e-3;

pub(crate) fn rng(seed: u64) -> Rng64 {
    Rng64::seed_from_u64(seed)
}

pub(crate) fn rand_array(r: &mut Rng64, rows: usize, cols: usize, scale: f32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |_| r.gen_range(-1.0..1.0f32) * scale)
}

/// Keep inputs away from the kinks of ReLU-like functions by more than the FD step.
pub(crate) fn away_from_zero(a: &mut Array2<f32>) {
    a.mapv_inplace(|v| {
        if v.abs() < 0.05 {
            v + 0.1f32.copysign(v)
        } else {
            v
        }
    });
}

fn close(analytic: f64, numeric: f64, what: &str) {
    let err = (analytic - numeric).abs();
    assert!(
        err <= TOL * numeric.abs().max(1.0),
        "{what}: analytic {analytic} vs finite difference {numeric}"
    );
}

/// C = sum r * out with a fixed random projection r: dC/dout = r.
fn projected(out: ArrayView2<f32>, r: &Array2<f32>) -> f64 {
    out.iter()
        .zip(r.iter())
        .map(|(&o, &p)| o as f64 * p as f64)
        .sum()
}

fn run_chain(m: &Sequential, x: &Array2<f32>) -> Array2<f32> {
    let mut ws = m.workspace(x.nrows());
    m.forward(x.view(), &mut ws, Parallelism::None).to_owned()
}

/// Finite-difference check of dC/dx and dC/dw for a chain and C = sum r * out.
pub(crate) fn check_chain(mut m: Sequential, x: Array2<f32>, name: &str) {
    let mut r = rng(99);
    let out = run_chain(&m, &x);
    let proj = rand_array(&mut r, out.nrows(), out.ncols(), 1.0);
    let mut ws = m.workspace(x.nrows());
    m.forward(x.view(), &mut ws, Parallelism::None);
    m.zero_grad();
    m.backward(proj.view(), &mut ws, true, Parallelism::None);
    let gx = ws.grad(0).to_owned();
    // Input gradient.
    for i in 0..x.nrows() {
        for j in 0..x.ncols() {
            let mut xp = x.clone();
            xp[[i, j]] += H;
            let mut xm = x.clone();
            xm[[i, j]] -= H;
            let fd = (projected(run_chain(&m, &xp).view(), &proj)
                - projected(run_chain(&m, &xm).view(), &proj))
                / (2.0 * H as f64);
            close(gx[[i, j]] as f64, fd, &format!("{name}: dC/dx[{i},{j}]"));
        }
    }
    // Weight gradients (every entry of every parameter).
    let mut grads = Vec::new();
    m.visit_named("", &mut |n, p| grads.push((n.to_string(), p.grad.clone())));
    for (pi, (pname, g)) in grads.iter().enumerate() {
        for (e, &ge) in g.iter().enumerate() {
            let eval = |delta: f32| {
                let mut mm = m.clone();
                let mut k = 0;
                mm.visit_mut(&mut |p| {
                    if k == pi {
                        p.value[e] += delta;
                    }
                    k += 1;
                });
                projected(run_chain(&mm, &x).view(), &proj)
            };
            let fd = (eval(H) - eval(-H)) / (2.0 * H as f64);
            close(ge as f64, fd, &format!("{name}: dC/d{pname}[{e}]"));
        }
    }
}

fn all_activations() -> Vec<ActivationKind> {
    vec![
        ActivationKind::Relu,
        ActivationKind::LeakyRelu { slope: 0.1 },
        ActivationKind::Silu,
        ActivationKind::Tanh,
        ActivationKind::Sigmoid,
        ActivationKind::Softplus,
        ActivationKind::Elu { alpha: 0.7 },
    ]
}

#[test]
fn every_activation_input_gradient_matches_finite_differences() {
    for k in all_activations() {
        let mut x = rand_array(&mut rng(1), 4, 6, 3.0);
        away_from_zero(&mut x);
        let m = Sequential::new(6, vec![Box::new(Activation(k))]).unwrap();
        check_chain(m, x, &format!("{k:?}"));
    }
}

#[test]
fn activations_match_their_definitions() {
    let xs = [-3.0f32, -0.5, 0.25, 2.0];
    for x in xs {
        let xd = x as f64;
        let sig = 1.0 / (1.0 + (-xd).exp());
        let want = [
            xd.max(0.0),
            if xd > 0.0 { xd } else { 0.1 * xd },
            xd * sig,
            xd.tanh(),
            sig,
            (1.0 + xd.exp()).ln(),
            if xd > 0.0 { xd } else { 0.7 * (xd.exp() - 1.0) },
        ];
        for (k, w) in all_activations().into_iter().zip(want) {
            assert!((k.f(x) as f64 - w).abs() < 1e-6, "{k:?}({x})");
        }
    }
}

#[test]
fn linear_input_and_weight_gradients_match_finite_differences() {
    let mut r = rng(2);
    let lin = Linear::new(5, 3, Init::PyTorchDefault, &mut r);
    let m = Sequential::new(5, vec![Box::new(lin)]).unwrap();
    check_chain(m, rand_array(&mut r, 4, 5, 1.0), "linear");
}

#[test]
fn mlp_with_every_activation_matches_finite_differences() {
    let mut r = rng(3);
    let mut b = Sequential::build(3);
    for k in all_activations() {
        b = b.linear(4, Init::XavierUniform, &mut r).act(k);
    }
    let m = b.linear(2, Init::XavierUniform, &mut r).finish();
    check_chain(m, rand_array(&mut r, 3, 3, 1.0), "mlp");
}

#[test]
fn mismatched_layer_shapes_are_reported_at_build_time() {
    let mut r = rng(4);
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(Linear::new(3, 8, Init::PyTorchDefault, &mut r)),
        Box::new(Activation(ActivationKind::Relu)),
        Box::new(Linear::new(7, 2, Init::PyTorchDefault, &mut r)),
    ];
    let err = Sequential::new(3, layers)
        .err()
        .expect("shapes do not chain")
        .to_string();
    assert!(
        err.contains("layer 2") && err.contains("[7]") && err.contains("[8]"),
        "{err}"
    );
    assert!(!err.contains('\n'));
}

fn check_cost(c: &dyn Cost, out: Array2<f32>, target: Array2<f32>, name: &str) {
    let mut g = Array2::zeros(out.dim());
    c.cost_grad(out.view(), target.view(), g.view_mut());
    for i in 0..out.nrows() {
        for j in 0..out.ncols() {
            let mut op = out.clone();
            op[[i, j]] += H;
            let mut om = out.clone();
            om[[i, j]] -= H;
            let fd = (c.cost(op.view(), target.view()) - c.cost(om.view(), target.view()))
                / (2.0 * H as f64);
            close(g[[i, j]] as f64, fd, &format!("{name}[{i},{j}]"));
        }
    }
}

#[test]
fn cost_gradients_match_finite_differences() {
    let mut r = rng(5);
    let out = rand_array(&mut r, 3, 4, 2.0);
    let t01 = Array2::from_shape_fn((3, 4), |_| r.gen_range(0.0..1.0f32));
    for red in [Reduction::Sum, Reduction::Mean] {
        check_cost(
            &SquaredError(red),
            out.clone(),
            t01.clone(),
            "squared error",
        );
        check_cost(&BernoulliLogits(red), out.clone(), t01.clone(), "bce");
        let gout = rand_array(&mut r, 3, 8, 1.0);
        check_cost(&GaussianNll(red), gout, t01.clone(), "gaussian nll");
    }
}

#[test]
fn costs_match_closed_forms() {
    let out = Array2::from_shape_vec((1, 3), vec![0.3f32, -1.2, 2.0]).unwrap();
    let t = Array2::from_shape_vec((1, 3), vec![1.0f32, 0.0, 0.25]).unwrap();
    // Bernoulli: -[t ln p + (1-t) ln(1-p)], p = sigmoid(l).
    let want: f64 = out
        .iter()
        .zip(t.iter())
        .map(|(&l, &t)| {
            let p = 1.0 / (1.0 + (-(l as f64)).exp());
            -(t as f64 * p.ln() + (1.0 - t as f64) * (1.0 - p).ln())
        })
        .sum();
    let got = BernoulliLogits(Reduction::Sum).cost(out.view(), t.view());
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let got_mean = BernoulliLogits(Reduction::Mean).cost(out.view(), t.view());
    assert!((got_mean - want / 3.0).abs() < 1e-6);
    // Squared error.
    let se: f64 = out
        .iter()
        .zip(t.iter())
        .map(|(&a, &b)| ((a - b) as f64).powi(2))
        .sum();
    assert!((SquaredError(Reduction::Sum).cost(out.view(), t.view()) - se).abs() < 1e-5);
    // Gaussian NLL of y = 0.5 under N(1, e^{0.4}): -ln N(y; m, s^2).
    let go = Array2::from_shape_vec((1, 2), vec![1.0f32, 0.4]).unwrap();
    let gt = Array2::from_shape_vec((1, 1), vec![0.5f32]).unwrap();
    let var = 0.4f64.exp();
    let want = 0.5 * (2.0 * std::f64::consts::PI * var).ln() + 0.25 / (2.0 * var);
    let got = GaussianNll(Reduction::Sum).cost(go.view(), gt.view());
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn tiled_parallel_energy_gradient_equals_the_plain_pass() {
    let mut r = rng(6);
    let m = Sequential::mlp(
        2,
        &[32, 32],
        1,
        ActivationKind::Silu,
        Init::PyTorchDefault,
        &mut r,
    );
    let y = rand_array(&mut r, 1000, 2, 2.0);
    let mut ws = m.workspace(1000);
    let e_plain = m
        .forward(y.view(), &mut ws, Parallelism::None)
        .column(0)
        .to_owned();
    let ones = Array2::from_elem((1000, 1), 1.0f32);
    m.backward_input(ones.view(), &mut ws, Parallelism::None);
    let g_plain = ws.grad(0).to_owned();
    for tile in [1, 7, 128, 5000] {
        let mut e = vec![0.0f32; 1000];
        let mut g = Array2::zeros((1000, 2));
        let mut pool = Vec::new();
        m.energy_and_grad(y.view(), &mut e, g.view_mut(), &mut pool, tile);
        for (a, b) in e.iter().zip(e_plain.iter()) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "tile {tile}: {a} vs {b}"
            );
        }
        for (a, b) in g.iter().zip(g_plain.iter()) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "tile {tile}: {a} vs {b}"
            );
        }
    }
}

#[test]
fn fused_linear_activation_equals_the_two_modules_and_its_gradients_hold() {
    // Sequential fuses Linear (in > 4) + activation; compare with the modules one by one.
    for k in all_activations() {
        let mut r = rng(8);
        let lin = Linear::new(6, 5, Init::XavierUniform, &mut r);
        let act = Activation(k);
        let mut x = rand_array(&mut r, 7, 6, 1.5);
        away_from_zero(&mut x);
        let mut a = Array2::zeros((7, 5));
        lin.fprop(x.view(), a.view_mut(), Parallelism::None);
        let mut want = Array2::zeros((7, 5));
        act.fprop(a.view(), want.view_mut(), Parallelism::None);
        let chain = Sequential::new(6, vec![Box::new(lin), Box::new(act)]).unwrap();
        let got = run_chain(&chain, &x);
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1.0),
                "{k:?}: {g} vs {w}"
            );
        }
        let mut x2 = rand_array(&mut rng(9), 3, 6, 1.0);
        away_from_zero(&mut x2);
        check_chain(chain, x2, &format!("fused linear+{k:?}"));
    }
}
