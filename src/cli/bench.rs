//! `ebm bench`: the engine's core workloads ([`ebm::bench::workloads`]), one JSON line
//! per run.

use clap::Subcommand;
use ebm::bench::workloads::{
    AisWorkload, ContrastiveWorkload, ConvWorkload, HmcWorkload, LangevinWorkload, MalaWorkload,
    VaeWorkload, Workload,
};

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// The PyTorch examples VAE on MNIST: seconds per epoch (median after the first) and
    /// test loss per image after each epoch (expected: about 127 nats after epoch 1).
    Vae(VaeWorkload),
    /// 200 Langevin steps of 4,096 2-D chains through an MLP 2-128-128-1 (SiLU).
    Langevin(LangevinWorkload),
    /// AIS log Z of the 100-d ill-conditioned quadratic energy (1,000 temperatures, 256
    /// runs, MALA), with the closed form and the error.
    Ais(AisWorkload),
    /// T5: 500 MALA steps (step 0.01) of 4,096 chains on the 8-Gaussian ring; the mode
    /// fractions should each be 9-16% with > 95% of chains within 0.3 of a mode.
    Mala(MalaWorkload),
    /// Batched HMC on T1 (100-d Gaussian, stds 0.1..10): 4 chains, 10 leapfrog steps,
    /// 1,000 warm-up + 1,000 draws; bulk ESS and ESS per gradient.
    Hmc(HmcWorkload),
    /// Contrastive EBM training throughput: MLP 2-128-128-1 (SiLU), batch 256, 20
    /// Langevin steps per update on persistent chains, 200 updates.
    Contrastive(ContrastiveWorkload),
    /// The image EBM on 28x28 images: one update (60 SGLD steps of 128 chains through the
    /// conv energy, then the weight step) and one conv forward+backward; the PyTorch peer
    /// is bench/peers/conv_torch.py.
    Conv(ConvWorkload),
}

/// `ebm bench NAME`: the workload's JSON lines on stdout.
pub fn run(cmd: BenchCmd, seed: u64) -> ebm::Result<()> {
    let w: &dyn Workload = match &cmd {
        BenchCmd::Vae(w) => w,
        BenchCmd::Langevin(w) => w,
        BenchCmd::Ais(w) => w,
        BenchCmd::Mala(w) => w,
        BenchCmd::Hmc(w) => w,
        BenchCmd::Contrastive(w) => w,
        BenchCmd::Conv(w) => w,
    };
    w.run(seed, &mut |line| println!("{line}"))
}
