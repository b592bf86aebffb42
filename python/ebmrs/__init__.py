"""ebmrs: energy-based models and variational methods (the ebm Rust toolkit) from Python.

Imported as ``ebmrs`` (PyPI name ``ebmrs``), not ``ebm``: the PyPI project ``ebmkit``
already imports as ``ebm``, and the two can be installed side by side.

Energies become probabilities through the Gibbs distribution
``P_beta(y) = exp(-beta E(y)) / Z_beta`` with ``Z_beta = int exp(-beta E(y)) dy``:

- :func:`sample` draws from ``P_beta`` by MCMC (NUTS, HMC, generalized HMC, MALA,
  ULA, random-walk MH) for a built-in target, a saved MLP energy, or a Python callable
  ``f(y[batch, dim]) -> (E[batch], dE/dy[batch, dim])``;
- :func:`summary` gives ArviZ's rank-normalized R-hat, bulk and tail ESS and MCSE;
- :func:`log_z` computes ``log Z_beta`` and the free energy ``F = -log Z_beta / beta``
  by quadrature, importance sampling or annealed importance sampling, with its
  standard error;
- :func:`train_toy` trains a contrastive EBM on a 2-D toy set (maximum likelihood
  read as a contrastive method: push data energies down, MCMC negatives up) with the
  exact test NLL and ``KL(p_data || p_model)`` in nats, in a run folder with resume;
  :func:`toy_density` and :func:`energy` evaluate a saved energy;
- :func:`train_vae` trains the lecture's VAE on the variational free energy
  ``F(y) = E_q[E(y, z)] + KL(q(z|y) || N(0, I))`` (MNIST or the embedded digits from
  :func:`load_images`); :class:`Vae` loads a checkpoint and offers ``encode``,
  ``decode``, ``sample``, ``loss`` (``F`` per image) and ``nll`` (the
  importance-weighted bound ``-L_k``);
- :func:`train_rbm` trains a Bernoulli-Bernoulli RBM (``E(v, h) = -b.v - c.h - v^T W h``)
  by CD-k or PCD; :class:`Rbm` loads a checkpoint and offers ``free_energy``, ``log_z``
  (exact for a small layer, else AIS), ``log_prob``, Gibbs ``sample`` and ``params``;
- :func:`to_inference_data` turns a :func:`sample` result into ``arviz.InferenceData``
  when ArviZ is installed.

Errors are :class:`EbmError` (a ``ValueError``) with one-line messages naming the
argument.
"""

from ._ebmrs import (
    EbmError,
    Rbm,
    Vae,
    energy,
    load_images,
    log_z,
    sample,
    summary,
    toy_density,
    train_rbm,
    train_toy,
    train_vae,
)

__all__ = [
    "EbmError",
    "Rbm",
    "Vae",
    "energy",
    "load_images",
    "log_z",
    "sample",
    "summary",
    "to_inference_data",
    "toy_density",
    "train_rbm",
    "train_toy",
    "train_vae",
]


def to_inference_data(result):
    """``arviz.InferenceData`` of a :func:`sample` result: the ``posterior`` group
    (variable ``y`` with dimensions ``chain, draw, y_dim_0``), the ``sample_stats``
    group (per-draw ``lp``, ``acceptance_rate``, ``diverging``, ``step_size``,
    ``n_steps``, and NUTS's ``tree_depth``, ``energy``, ``energy_error``: what
    ``arviz.summary``, ``arviz.bfmi`` and ``arviz.plot_trace(divergences=...)`` read), the
    run's totals as attributes. Needs ArviZ (``pip install arviz``); without it the result
    itself is the same groups as plain dicts of NumPy arrays."""
    import arviz as az

    return az.from_dict(
        posterior=result["posterior"],
        sample_stats=result["sample_stats"],
        attrs=result["attrs"],
    )
