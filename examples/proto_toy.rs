use ebm::contrastive::{ContrastiveConfig, Negatives};
use ebm::energy::MlpSpec;
use ebm::nn::ActivationKind;
use ebm::nn::optim::OptimConfig;
use ebm::toy::ToyData;
use ebm::toy_ebm::{ToyRunConfig, train};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let name = a.get(1).cloned().unwrap_or("8gaussians".into());
    let updates: usize = a.get(2).map(|s| s.parse().unwrap()).unwrap_or(4000);
    let steps: usize = a.get(3).map(|s| s.parse().unwrap()).unwrap_or(20);
    let eps: f64 = a.get(4).map(|s| s.parse().unwrap()).unwrap_or(0.02);
    let l2: f64 = a.get(5).map(|s| s.parse().unwrap()).unwrap_or(0.001);
    let lr: f32 = a.get(6).map(|s| s.parse().unwrap()).unwrap_or(1e-3);
    let batch: usize = a.get(7).map(|s| s.parse().unwrap()).unwrap_or(256);
    let neg = a.get(8).cloned().unwrap_or("pcd".into());
    let data = ToyData::from_name(&name).unwrap();
    let cfg = ContrastiveConfig { mcmc_steps: steps, step_size: eps, energy_l2: l2, batch, optim: OptimConfig::adam(lr), negatives: Negatives::from_name(&neg).unwrap(), ..Default::default() };
    let spec = MlpSpec { in_dim: 2, hidden: vec![128, 128], activation: ActivationKind::Silu };
    let run = ToyRunConfig { updates, eval_every: updates / 8, ..Default::default() };
    let r = train(&data, spec, cfg, &run, 0, |p| println!("{:5} {:6.1}s gap {:7.3} acc {:.2} E_d {:7.3} NLL {:.4} KL {:?} out {:?} logZ {:.3} depth {:.2} ok {}", p.step, p.seconds, p.gap, p.acceptance, p.e_data, p.test_nll, p.kl, p.mass_outside, p.log_z, p.well_depth, p.box_holds_mass)).unwrap();
    println!("final NLL {:.4} KL {:?} entropy {:?} in {:.1}s", r.final_eval.test_nll, r.final_eval.kl, r.final_eval.data_entropy, r.seconds);
}
