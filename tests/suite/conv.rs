//! Oracle tests of the convolutional modules (`ebm::nn::conv`):
//!
//! 1. PyTorch's outputs and gradients on fixed weights and inputs
//!    (`tests/data/conv_torch.json`, written by `bench/peers/conv_torch_fixture.py`:
//!    PyTorch in float64 from float32 inputs, so the reference is exact for them); the
//!    engine (float32) must agree within 1e-5 of each tensor's largest magnitude.
//! 2. Central finite differences of every input and weight entry, on single modules and
//!    on a small conv energy (conv, LeakyReLU, pooling, a transposed conv, a linear head).
//! 3. The definition of the adjoint: `<conv(x) - b, y> = <x, convT(y) - b'>` for a
//!    convolution and the transposed convolution sharing its weight.
//! 4. A batch cut into parts on two threads gives what one thread gives.

use super::engine::{check_chain, rand_array, rng};
use ebm::nn::conv::{AvgPool2d, Conv2d, ConvGeom, ConvTranspose2d};
use ebm::nn::init::Init;
use ebm::nn::{
    Activation, ActivationKind, Linear, Module, Parallelism, Parameters, Sequential, SpectralNorm,
};
use ndarray::Array2;
use serde_json::Value;

fn floats(v: &Value, key: &str) -> Vec<f32> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("fixture field {key}"))
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}
fn floats64(v: &Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
fn dims(v: &Value, key: &str) -> Vec<usize> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}
fn num(v: &Value, key: &str) -> usize {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("fixture field {key}")) as usize
}

/// max |got - want| <= 1e-5 max |want|.
fn agree(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs())).max(1e-30);
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (&g, &w)| m.max((g as f64 - w).abs()));
    assert!(
        err <= 1e-5 * scale,
        "{what}: max error {err:.3e} against PyTorch, scale {scale:.3e}"
    );
}

fn module_for(case: &Value) -> Box<dyn Module> {
    let kind = case["kind"].as_str().unwrap();
    let s = dims(case, "in_shape");
    let mut r = rng(0);
    let mut m: Box<dyn Module> = match kind {
        "conv2d" => {
            let g = ConvGeom::new(
                "fixture",
                (s[0], s[1], s[2]),
                num(case, "c_out"),
                (num(case, "k"), num(case, "k")),
                num(case, "stride"),
                num(case, "pad"),
            )
            .unwrap();
            Box::new(Conv2d::new(g, Init::Zeros, &mut r))
        }
        "conv_transpose2d" => Box::new(
            ConvTranspose2d::new(
                "fixture",
                (s[0], s[1], s[2]),
                num(case, "c_out"),
                (num(case, "k"), num(case, "k")),
                num(case, "stride"),
                num(case, "pad"),
                num(case, "out_pad"),
                Init::Zeros,
                &mut r,
            )
            .unwrap(),
        ),
        "spectral_conv2d" => {
            let g = ConvGeom::new(
                "fixture",
                (s[0], s[1], s[2]),
                num(case, "c_out"),
                (num(case, "k"), num(case, "k")),
                num(case, "stride"),
                num(case, "pad"),
            )
            .unwrap();
            let conv = Box::new(Conv2d::new(g, Init::Zeros, &mut r));
            Box::new(SpectralNorm::new(conv, &mut r).unwrap())
        }
        "avg_pool2d" => {
            Box::new(AvgPool2d::new("fixture", (s[0], s[1], s[2]), num(case, "k")).unwrap())
        }
        "leaky_relu" => Box::new(Activation(ActivationKind::LeakyRelu {
            slope: case["slope"].as_f64().unwrap() as f32,
        })),
        k => panic!("unknown fixture kind {k}"),
    };
    if case.get("weight").is_some() {
        let (w, b) = (floats(case, "weight"), floats(case, "bias"));
        let ws = dims(case, "weight_shape");
        m.visit_named_mut("", &mut |n, p| match n {
            "weight" | "weight_orig" => {
                assert_eq!(p.shape, ws, "weight shape as PyTorch's");
                p.value.copy_from_slice(&w)
            }
            "bias" => p.value.copy_from_slice(&b),
            other => panic!("unexpected parameter {other}"),
        });
    }
    if kind == "spectral_conv2d" {
        // PyTorch's training forward: one power iteration from the stored u, then
        // W = W_orig / sigma.
        let (u0, v0) = (floats(case, "u0"), floats(case, "v0"));
        m.visit_buffers_mut("", &mut |n, p| match n {
            "weight_u" => p.value.copy_from_slice(&u0),
            "weight_v" => p.value.copy_from_slice(&v0),
            other => panic!("unexpected buffer {other}"),
        });
        m.refresh(1);
        // The updated vectors are PyTorch's (y, checked by the caller, holds sigma).
        let (u1, v1) = (floats64(case, "u1"), floats64(case, "v1"));
        m.visit_buffers("", &mut |n, p| match n {
            "weight_u" => agree(&p.value, &u1, "spectral norm u after one power iteration"),
            _ => agree(&p.value, &v1, "spectral norm v after one power iteration"),
        });
    }
    m
}

#[test]
fn conv_modules_match_pytorch_outputs_and_gradients() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/conv_torch.json"),
    )
    .unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for (i, case) in cases.iter().enumerate() {
        let what = format!("case {i} ({})", case["kind"]);
        let mut m = module_for(case);
        let batch = num(case, "batch");
        let in_len: usize = dims(case, "in_shape").iter().product();
        let out_len: usize = dims(case, "out_shape").iter().product();
        assert_eq!(m.out_dim(in_len).unwrap(), out_len, "{what}: output shape");
        let x = Array2::from_shape_vec((batch, in_len), floats(case, "x")).unwrap();
        let r = Array2::from_shape_vec((batch, out_len), floats(case, "r")).unwrap();
        for par in [Parallelism::None, Parallelism::Rayon(2)] {
            let mut y = Array2::zeros((batch, out_len));
            m.fprop(x.view(), y.view_mut(), par);
            agree(
                y.as_slice().unwrap(),
                &floats64(case, "y"),
                &format!("{what}: y"),
            );
            let mut gx = Array2::zeros((batch, in_len));
            m.zero_grad();
            m.bprop(x.view(), y.view(), r.view(), Some(gx.view_mut()), par);
            let gx_want = floats64(case, "grad_x");
            agree(gx.as_slice().unwrap(), &gx_want, &format!("{what}: dC/dx"));
            if case.get("weight").is_some() {
                let (gw, gb) = (floats64(case, "grad_weight"), floats64(case, "grad_bias"));
                m.visit_named("", &mut |n, p| match n {
                    "weight" | "weight_orig" => {
                        agree(&p.grad, &gw, &format!("{what}: dC/dweight {par:?}"))
                    }
                    _ => agree(&p.grad, &gb, &format!("{what}: dC/dbias {par:?}")),
                });
            }
        }
    }
}

fn geom(c_in: usize, hw: (usize, usize), c_out: usize, k: usize, s: usize, p: usize) -> ConvGeom {
    ConvGeom::new("test", (c_in, hw.0, hw.1), c_out, (k, k), s, p).unwrap()
}

#[test]
fn conv_modules_match_finite_differences() {
    let mut r = rng(3);
    let conv = |g: ConvGeom, r: &mut _| -> Box<dyn Module> {
        Box::new(Conv2d::new(g, Init::PyTorchDefault, r))
    };
    let cases: Vec<(&str, usize, Box<dyn Module>)> = vec![
        (
            "conv k3 s1 p1",
            2 * 5 * 5,
            conv(geom(2, (5, 5), 3, 3, 1, 1), &mut r),
        ),
        (
            "conv k4 s2 p1",
            2 * 7 * 6,
            conv(geom(2, (7, 6), 2, 4, 2, 1), &mut r),
        ),
        (
            "conv k1",
            3 * 4 * 4,
            conv(geom(3, (4, 4), 2, 1, 1, 0), &mut r),
        ),
        (
            "conv transpose k3 s2 p1 op1",
            2 * 3 * 4,
            Box::new(
                ConvTranspose2d::new(
                    "t",
                    (2, 3, 4),
                    2,
                    (3, 3),
                    2,
                    1,
                    1,
                    Init::PyTorchDefault,
                    &mut r,
                )
                .unwrap(),
            ),
        ),
        (
            "avg pool 2 (odd sizes)",
            2 * 5 * 7,
            Box::new(AvgPool2d::new("p", (2, 5, 7), 2).unwrap()),
        ),
    ];
    for (name, in_len, m) in cases {
        let chain = Sequential::new(in_len, vec![m]).unwrap();
        let x = rand_array(&mut r, 2, in_len, 1.0);
        check_chain(chain, x, name);
    }
}

/// A conv energy of the image-EBM kind on 6x6 images: conv, SiLU, pool, transposed conv
/// back up, conv down, a linear head to one energy. (SiLU, not LeakyReLU: a finite
/// difference of a weight moves many pre-activations at once, and one crossing a kink
/// spoils it; LeakyReLU is checked against PyTorch above.)
fn small_energy(r: &mut rand_xoshiro::Xoshiro256PlusPlus) -> Sequential {
    let act = || -> Box<dyn Module> { Box::new(Activation(ActivationKind::Silu)) };
    let layers: Vec<Box<dyn Module>> = vec![
        Box::new(Conv2d::new(
            geom(1, (6, 6), 3, 3, 1, 1),
            Init::PyTorchDefault,
            r,
        )),
        act(),
        Box::new(AvgPool2d::new("pool", (3, 6, 6), 2).unwrap()),
        Box::new(
            ConvTranspose2d::new("up", (3, 3, 3), 2, (4, 4), 2, 1, 0, Init::PyTorchDefault, r)
                .unwrap(),
        ),
        act(),
        Box::new(Conv2d::new(
            geom(2, (6, 6), 2, 3, 2, 1),
            Init::PyTorchDefault,
            r,
        )),
        act(),
        Box::new(Linear::new(2 * 3 * 3, 1, Init::PyTorchDefault, r)),
    ];
    Sequential::new(36, layers).unwrap()
}

#[test]
fn a_conv_energy_matches_finite_differences() {
    let mut r = rng(5);
    let net = small_energy(&mut r);
    assert_eq!(net.dims(), &[36, 108, 108, 27, 72, 72, 18, 18, 1]);
    let mut x = rand_array(&mut r, 2, 36, 1.0);
    super::engine::away_from_zero(&mut x);
    check_chain(net, x, "conv energy");
}

#[test]
fn the_transposed_convolution_is_the_adjoint_of_the_convolution() {
    let mut r = rng(7);
    for (c_in, hw, c_out, k, s, p) in [
        (2, (7, 7), 3, 3, 2, 1),
        (3, (8, 6), 2, 4, 2, 1),
        (1, (6, 6), 4, 3, 1, 1),
        (2, (10, 10), 2, 3, 3, 0),
    ] {
        let g = geom(c_in, hw, c_out, k, s, p);
        let mut conv = Conv2d::new(g, Init::PyTorchDefault, &mut r);
        conv.bias.value.fill(0.0);
        let (ho, wo) = (g.h_out(), g.w_out());
        // The transposed layer maps [c_out, ho, wo] back to [c_in, h, w], its output
        // padding covering the rows and columns the stride skipped.
        let op = hw.0 + 2 * p - ((ho - 1) * s + k);
        assert_eq!(op, hw.1 + 2 * p - ((wo - 1) * s + k), "same output padding");
        let mut t = ConvTranspose2d::new(
            "t",
            (c_out, ho, wo),
            c_in,
            (k, k),
            s,
            p,
            op,
            Init::Zeros,
            &mut r,
        )
        .unwrap();
        t.weight.value.copy_from_slice(&conv.weight.value);
        assert_eq!(t.out_dim(g.out_len()).unwrap(), g.in_len());
        let x = rand_array(&mut r, 3, g.in_len(), 1.0);
        let y = rand_array(&mut r, 3, g.out_len(), 1.0);
        let mut cx = Array2::zeros((3, g.out_len()));
        conv.fprop(x.view(), cx.view_mut(), Parallelism::None);
        let mut ty = Array2::zeros((3, g.in_len()));
        t.fprop(y.view(), ty.view_mut(), Parallelism::None);
        let lhs: f64 = cx.iter().zip(&y).map(|(&a, &b)| a as f64 * b as f64).sum();
        let rhs: f64 = x.iter().zip(&ty).map(|(&a, &b)| a as f64 * b as f64).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-5 * lhs.abs().max(1.0),
            "<conv x, y> = {lhs} but <x, convT y> = {rhs} for {g:?}"
        );
    }
}

#[test]
fn two_threads_give_what_one_thread_gives() {
    let mut r = rng(11);
    let mut a = small_energy(&mut r);
    let mut b = a.clone();
    let x = rand_array(&mut r, 7, 36, 1.0);
    let (mut wa, mut wb) = (a.workspace(7), b.workspace(7));
    let ya = a.forward(x.view(), &mut wa, Parallelism::None).to_owned();
    let yb = b
        .forward(x.view(), &mut wb, Parallelism::Rayon(2))
        .to_owned();
    assert_eq!(ya, yb, "forward");
    let ones = Array2::ones((7, 1));
    a.zero_grad();
    b.zero_grad();
    a.backward(ones.view(), &mut wa, true, Parallelism::None);
    b.backward(ones.view(), &mut wb, true, Parallelism::Rayon(2));
    assert_eq!(wa.grad(0), wb.grad(0), "input gradient");
    let mut ga = Vec::new();
    a.visit_named("", &mut |n, p| ga.push((n.to_string(), p.grad.clone())));
    let mut i = 0;
    b.visit_named("", &mut |n, p| {
        for (u, v) in ga[i].1.iter().zip(&p.grad) {
            assert!((u - v).abs() <= 1e-5 * u.abs().max(1.0), "{n}: {u} vs {v}");
        }
        i += 1;
    });
}

#[test]
fn impossible_shapes_are_errors_naming_the_layer() {
    let msg = |e: ebm::Error| e.to_string();
    let e = ConvGeom::new("conv 1", (1, 4, 4), 2, (7, 7), 1, 1).unwrap_err();
    assert!(msg(e).contains("conv 1"), "kernel larger than the image");
    let e = ConvGeom::new("conv 2", (1, 4, 4), 0, (3, 3), 1, 1).unwrap_err();
    assert!(msg(e).contains("conv 2"), "zero channels");
    let e = ConvGeom::new("conv 3", (1, 4, 4), 2, (3, 3), 0, 1).unwrap_err();
    assert!(msg(e).contains("conv 3"), "zero stride");
    let mut r = rng(1);
    let e =
        ConvTranspose2d::new("up", (1, 4, 4), 1, (3, 3), 2, 1, 2, Init::Zeros, &mut r).unwrap_err();
    assert!(msg(e).contains("up"), "output padding >= stride");
    assert!(AvgPool2d::new("pool", (1, 3, 3), 4).is_err());
    // A chain whose widths do not meet names the layer and both widths.
    let c = Conv2d::new(geom(1, (4, 4), 2, 3, 1, 1), Init::Zeros, &mut r);
    let e = Sequential::new(15, vec![Box::new(c)]).err().unwrap();
    let m = msg(e);
    assert!(
        m.contains("layer 0") && m.contains("16") && m.contains("15"),
        "{m}"
    );
}

#[test]
fn default_initialization_is_pytorchs() {
    // nn.Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = c_in kh kw, for weight and
    // bias; nn.ConvTranspose2d's weight [c_in, c_out, kh, kw] has fan_in = c_out kh kw.
    let mut r = rng(2);
    let var = |v: &[f32]| {
        let m = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let c = Conv2d::new(geom(16, (8, 8), 32, 3, 1, 1), Init::PyTorchDefault, &mut r);
    let fan_in = 16.0 * 9.0;
    assert!((var(&c.weight.value) * 3.0 * fan_in - 1.0).abs() < 0.05);
    let bound = c.bias.value.iter().fold(0.0f32, |m, b| m.max(b.abs()));
    assert!(bound <= 1.0 / fan_in.sqrt() as f32 && bound > 0.5 / fan_in.sqrt() as f32);
    let t = ConvTranspose2d::new(
        "t",
        (32, 4, 4),
        8,
        (4, 4),
        2,
        1,
        0,
        Init::PyTorchDefault,
        &mut r,
    )
    .unwrap();
    let fan_in = 8.0 * 16.0;
    assert!((var(&t.weight.value) * 3.0 * fan_in - 1.0).abs() < 0.05);
    assert_eq!(t.weight.shape, vec![32, 8, 4, 4]);
}

#[test]
fn spectral_norm_divides_by_the_largest_singular_value_and_its_gradient_holds() {
    let mut r = rng(13);
    // A Linear weight [3, 4] with known singular values: rows are orthogonal with norms
    // 3, 2, 0.5, so sigma = 3 (power iteration from a random start converges to it).
    let mut lin = Linear::new(4, 3, Init::Zeros, &mut r);
    lin.weight.value.copy_from_slice(&[
        3.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, 2.0, 0.0, //
        0.0, 0.5, 0.0, 0.0,
    ]);
    let mut sn = SpectralNorm::new(Box::new(lin), &mut r).unwrap();
    sn.refresh(50);
    assert!((sn.sigma - 3.0).abs() < 1e-4, "sigma {}", sn.sigma);
    // The effective weight is W_orig / 3: the input [1, 0, 0, 0] maps to [1, 0, 0].
    let x = Array2::from_shape_vec((1, 4), vec![1.0, 0.0, 0.0, 0.0]).unwrap();
    let mut y = Array2::zeros((1, 3));
    sn.fprop(x.view(), y.view_mut(), Parallelism::None);
    assert!((y[[0, 0]] - 1.0).abs() < 1e-5 && y[[0, 1]].abs() < 1e-6);
    // A conv with spectral norm inside an energy: the gradient of W_orig (u, v fixed,
    // as PyTorch treats them) against finite differences. The chain is rebuilt after
    // every perturbation through `refresh(0)`, which recomputes sigma = u^T W_orig v.
    let conv = Conv2d::new(geom(1, (5, 5), 2, 3, 1, 1), Init::PyTorchDefault, &mut r);
    let mut net = Sequential::new(
        25,
        vec![
            Box::new(SpectralNorm::new(Box::new(conv), &mut r).unwrap()),
            Box::new(Activation(ActivationKind::Silu)),
            Box::new(Linear::new(50, 1, Init::PyTorchDefault, &mut r)),
        ],
    )
    .unwrap();
    let x = rand_array(&mut r, 2, 25, 1.0);
    let energy = |net: &Sequential| -> f64 {
        let mut ws = net.workspace(2);
        net.forward(x.view(), &mut ws, Parallelism::None)
            .iter()
            .map(|&e| e as f64)
            .sum()
    };
    let mut ws = net.workspace(2);
    net.forward(x.view(), &mut ws, Parallelism::None);
    net.zero_grad();
    net.backward(
        Array2::ones((2, 1)).view(),
        &mut ws,
        false,
        Parallelism::None,
    );
    let mut grad = Vec::new();
    net.visit_named("", &mut |n, p| {
        if n == "0.weight_orig" {
            grad = p.grad.clone();
        }
    });
    assert_eq!(grad.len(), 18);
    for (e, &ge) in grad.iter().enumerate() {
        let at = |d: f32| {
            let mut m = net.clone();
            m.visit_named_mut("", &mut |n, p| {
                if n == "0.weight_orig" {
                    p.value[e] += d;
                }
            });
            m.refresh(0);
            energy(&m)
        };
        let fd = (at(1e-2) - at(-1e-2)) / 2e-2;
        let g = ge as f64;
        assert!(
            (g - fd).abs() <= 2e-3 * fd.abs().max(1.0),
            "dE/dW_orig[{e}]: {g} vs {fd}"
        );
    }
    // Checkpoints hold u and v beside the parameters (PyTorch's names).
    let mut names = Vec::new();
    net.visit_state("", &mut |n, _| names.push(n.to_string()));
    assert_eq!(
        names,
        [
            "0.weight_orig",
            "0.bias",
            "2.weight",
            "2.bias",
            "0.weight_u",
            "0.weight_v"
        ]
    );
    // A checkpoint round trip restores u and v, and a load with a missing buffer fails
    // naming it.
    let dir = super::common::tmpdir("conv_spectral_ckpt");
    let path = dir.join("net.safetensors");
    ebm::nn::checkpoint::save(&path, &net, &serde_json::json!({})).unwrap();
    let mut other = net.clone();
    other.visit_buffers_mut("", &mut |_, p| p.value.iter_mut().for_each(|v| *v = 0.5));
    ebm::nn::checkpoint::load(&path, &mut other).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    net.visit_state("", &mut |_, p| a.extend_from_slice(&p.value));
    other.visit_state("", &mut |_, p| b.extend_from_slice(&p.value));
    assert_eq!(a, b, "state after a checkpoint round trip");
    let plain =
        Sequential::new(25, vec![Box::new(Linear::new(25, 1, Init::Zeros, &mut r))]).unwrap();
    ebm::nn::checkpoint::save(&path, &plain, &serde_json::json!({})).unwrap();
    let e = ebm::nn::checkpoint::load(&path, &mut other)
        .unwrap_err()
        .to_string();
    assert!(e.contains("0.weight_orig"), "{e}");
}
