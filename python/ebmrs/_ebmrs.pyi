"""Type stubs of the compiled module (see ebmrs/__init__.py for the package docs)."""

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

class EbmError(ValueError):
    """An error of the ebm library; its one-line message names the argument."""

Energy = (
    str | Callable[[npt.NDArray[np.float64]], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]
)

def sample(
    energy: Energy,
    kernel: str = "nuts",
    chains: int = 4,
    warmup: int = 1000,
    draws: int = 1000,
    thin: int = 1,
    step_size: float = 0.1,
    leapfrog: int = 10,
    beta: float = 1.0,
    init_scale: float = 1.0,
    target_accept: float = 0.8,
    seed: int = 0,
    dim: int | None = None,
) -> dict[str, Any]:
    """MCMC draws of ``exp(-beta E(y)) / Z`` in ArviZ's layout:
    ``result["posterior"]["y"]`` is float64 ``[chains, draws, dim]``;
    ``result["sample_stats"]`` holds per-draw ``[chains, draws]`` arrays ``lp``
    (``-beta E``), ``acceptance_rate``, ``diverging``, ``step_size``, ``n_steps`` (NUTS
    adds ``tree_depth``, ``energy``, ``energy_error``); ``result["attrs"]`` the sampler's
    name, the run's mean acceptance, divergences, gradient evaluations, adapted step size
    and seconds. ``energy`` is a built-in target (``t1``..``t5``, ``banana``, ...), a
    ``.safetensors`` MLP energy, or a callable ``f(y) -> (E, dE/dy)`` called once per
    gradient step with all the chains' positions ``y[chains, dim]`` (then ``dim`` is
    needed; NUTS calls it per chain, one row at a time)."""

def summary(draws: npt.NDArray[np.float64]) -> list[dict[str, Any]]:
    """Per coordinate of ``draws[chains, draws, dim]``: mean, sd, mcse_mean, mcse_sd,
    q05, q50, q95, ess_bulk, ess_tail, r_hat (ArviZ's definitions)."""

def log_z(
    energy: Energy,
    method: str = "quadrature",
    beta: float = 1.0,
    samples: int | None = None,
    temperatures: int = 200,
    seed: int = 0,
    dim: int | None = None,
    center: list[float] | None = None,
    scale: list[float] | None = None,
) -> dict[str, Any]:
    """``log Z_beta = log int exp(-beta E(y)) dy`` by ``method``: ``quadrature`` (1 to 3
    dimensions), ``is`` (importance sampling, ``samples`` draws, default 100,000) or
    ``ais`` (annealed importance sampling, ``samples`` runs, default 1,000, over
    ``temperatures`` steps; any dimension). Returns ``log_z``, ``std_err``, ``ess``,
    ``closed_form`` (where known), ``free_energy = -log Z / beta`` with its error, the
    quadrature's ``bounds`` and AIS's ``acceptance``. ``energy`` is a built-in
    (``double-well``, ``mixture``, ``banana``), a target name, a ``.safetensors`` MLP
    energy or a callable (with ``dim``); ``center`` and ``scale`` (default 0 and 1 per
    axis) place the box and the Gaussian the samplers start from."""

def train_toy(
    run: str,
    resume: bool = False,
    seed: int = 0,
    keep: int | None = None,
    minutes: float | None = None,
    sample_steps: int = 500,
    **options: Any,
) -> dict[str, Any]:
    """Train a contrastive EBM on a 2-D toy set as ``ebm train toy --run RUN`` does; the
    keyword options are that command's (its TOML keys: ``dataset``, ``negatives``,
    ``kernel``, ``updates``, ``eval_every``, ``hidden``, ...). Returns ``final`` (exact
    test NLL, KL, log Z in nats; ``None`` when Ctrl-C stopped the run), ``curve``,
    ``interrupted``, ``run`` and ``report``. ``resume=True`` continues the run in ``run``
    bit for bit."""

def toy_density(
    checkpoint: str, dataset: str = "8gaussians", grid: int = 200, beta: float = 1.0
) -> dict[str, Any]:
    """The exact density ``exp(-beta E) / Z`` of a saved 2-D energy on a grid over a toy
    set's box: ``x``, ``y``, ``density[grid, grid]`` (row i at y[i]) and ``log_z``."""

def energy(checkpoint: str, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``E(y)`` of a saved MLP energy at the rows of ``points[n, dim]``."""

def load_images(data: str | None = None, seed: int = 0) -> dict[str, Any]:
    """MNIST from ``data`` (a folder of IDX files), else the embedded UCI digits split
    with ``seed`` as the trainers split them: ``train``, ``test`` (float32 ``[n,
    pixels]`` in [0, 1]), ``train_labels``, ``test_labels`` (uint8), ``what``."""

def train_vae(
    run: str,
    resume: bool = False,
    seed: int = 0,
    keep: int | None = None,
    minutes: float | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train a VAE as ``ebm train vae --run RUN`` does; the keyword options are that
    command's (``data``, ``epochs``, ``batch``, ``latent``, ``hidden``, ``arch``, ``lr``,
    ...). Returns ``curve`` (one dict per epoch: train/test loss, test KL, ...),
    ``interrupted``, ``run`` and ``report``. ``resume=True`` continues bit for bit."""

class Vae:
    """A saved VAE: ``q(z|y) = N(mu(y), diag exp(log_var(y)))``, a decoder energy
    ``E(y, z)``, trained on ``F(y) = E_q[E(y, z)] + KL(q(z|y) || N(0, I)) >= -log p(y)``."""

    input_dim: int
    latent: int
    config: dict[str, Any]

    def __init__(self, checkpoint: str, seed: int = 0) -> None: ...
    def encode(
        self, x: npt.NDArray[np.floating[Any]]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Means and log-variances of ``q(z|y)`` for the rows of ``x``."""
    def decode(self, z: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
        """The decoder's mean (pixel probabilities for a Bernoulli decoder)."""
    def sample(self, n: int) -> npt.NDArray[np.float32]:
        """``n`` images: ``z ~ N(0, I)`` decoded."""
    def loss(self, x: npt.NDArray[np.floating[Any]]) -> dict[str, float]:
        """``F`` per image in nats (``loss``, ``reconstruction``, ``kl``, ``images``)."""
    def nll(
        self, x: npt.NDArray[np.floating[Any]], k: int = 5000, seed: int = 0
    ) -> tuple[float, float]:
        """``-L_k`` (Burda et al. 2016) per image in nats and its standard error."""

def train_rbm(
    run: str,
    resume: bool = False,
    seed: int = 0,
    keep: int | None = None,
    minutes: float | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train a Bernoulli-Bernoulli RBM as ``ebm train rbm --run RUN`` does; the keyword
    options are that command's (``data``, ``hidden``, ``epochs``, ``sampler``, ``k``,
    ``lr``, ``ais_every``, ...). Returns ``curve`` (one dict per epoch: reconstruction
    error, exact train/test log-likelihood for at most 20 hidden units), ``interrupted``,
    ``run`` and ``report``."""

class Rbm:
    """A saved RBM: ``E(v, h) = -b.v - c.h - v^T W h`` over binary ``v``, ``h``; free
    energy ``F(v) = -log sum_h exp(-E(v, h))``, ``log p(v) = -F(v) - log Z``."""

    visible: int
    hidden: int
    config: dict[str, Any]
    params: dict[str, npt.NDArray[np.float32]]

    def __init__(self, checkpoint: str) -> None: ...
    def free_energy(self, v: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """``F(v)`` of each row (zeros and ones)."""
    def log_z(
        self,
        method: str = "exact",
        data: npt.NDArray[np.floating[Any]] | None = None,
        runs: int = 100,
        betas: int = 14_500,
        seed: int = 0,
    ) -> dict[str, Any]:
        """``log Z`` exactly (at most 24 units in the smaller layer) or by AIS from the
        base-rate RBM of ``data``: ``log_z``, ``std_err``, ``method``."""
    def log_prob(
        self, v: npt.NDArray[np.floating[Any]], log_z: float
    ) -> npt.NDArray[np.float64]:
        """``-F(v) - log Z`` of each row."""
    def sample(
        self,
        n: int = 16,
        sweeps: int = 1000,
        seed: int = 0,
        start: npt.NDArray[np.floating[Any]] | None = None,
    ) -> npt.NDArray[np.float32]:
        """``p(v = 1 | h)`` after ``sweeps`` block-Gibbs sweeps of ``n`` chains."""

def set_progress(
    callback: Callable[[str, int, str, int, int, str], Any] | None = None,
) -> None:
    """Send progress reports to ``callback(kind, id, label, total, done, message)``
    (use ``ebmrs.progress``)."""

def set_quiet(quiet: bool) -> None:
    """Silence progress reports (use ``ebmrs.progress``)."""

Distribution = dict[str, Any] | npt.ArrayLike

def kl(p: Distribution, q: Distribution, bits: bool = False) -> float:
    """``KL(p || q)`` in closed form, nats (or bits): two Gaussians (``{"mean", "cov"}``
    or ``{"mean", "var"}``) or two categoricals (arrays of probabilities)."""

def entropy(p: Distribution, bits: bool = False) -> float:
    """The (differential) entropy of a Gaussian or a categorical, nats (or bits)."""
