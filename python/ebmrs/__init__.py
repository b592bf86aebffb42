"""ebmrs: energy-based models and variational methods (the ebm Rust toolkit) from Python.

Imported as ``ebmrs`` (PyPI name ``ebmrs``), not ``ebm``: the PyPI project ``ebmkit``
already imports as ``ebm``, and the two can be installed side by side.

Energies become probabilities through the Gibbs distribution
``P_beta(y) = exp(-beta E(y)) / Z_beta`` with ``Z_beta = int exp(-beta E(y)) dy``:

- :func:`sample` draws from ``P_beta`` by MCMC (NUTS, HMC, generalized HMC, MALA,
  ULA, random-walk MH) for a built-in target, a saved MLP energy, or a Python callable
  ``f(y[batch, dim]) -> (E[batch], dE/dy[batch, dim])``;
- :func:`summary` gives ArviZ's rank-normalized R-hat, bulk and tail ESS and MCSE;
- :func:`kl` and :func:`entropy` in closed form (nats or bits) for Gaussians (full or
  diagonal) and categoricals;
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

Long work shows its progress (:func:`progress`): tqdm bars when tqdm is installed (a
widget in Jupyter), else the library's own bar on a terminal. Errors are
:class:`EbmError` (a ``ValueError``) with one-line messages naming the argument.
"""

from ._ebmrs import set_progress as _set_progress
from ._ebmrs import set_quiet as _set_quiet
from ._ebmrs import (
    EbmError,
    Rbm,
    Vae,
    energy,
    entropy,
    kl,
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
    "entropy",
    "kl",
    "load_images",
    "log_z",
    "progress",
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


def _tqdm_callback():
    """A progress callback drawing tqdm bars (``tqdm.auto``: a widget in Jupyter, a text
    bar on a terminal), or None when tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bars = {}

    def report(kind, id, label, total, done, message):
        if kind == "start":
            bars[id] = tqdm(total=total, desc=label, leave=False)
        elif kind == "update" and id in bars:
            bar = bars[id]
            bar.update(done - bar.n)
            if message:
                bar.set_postfix_str(message, refresh=False)
        elif kind == "finish" and id in bars:
            bars.pop(id).close()

    return report


def progress(enabled=True, callback=None):
    """Progress of long work (sampling, training, AIS). ``enabled=False`` silences it;
    ``callback(kind, id, label, total, done, message)`` (``kind`` "start", "update" or
    "finish") receives it; by default tqdm draws it (a widget in Jupyter, a bar on a
    terminal) when tqdm is installed, else the library draws its own bar on a terminal
    and a log line every 10 s elsewhere. Called with the defaults at import."""
    _set_quiet(not enabled)
    if not enabled:
        _set_progress(None)
    else:
        _set_progress(callback if callback is not None else _tqdm_callback())


progress()
