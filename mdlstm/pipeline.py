r"""The pipeline on state sequences: learn, generate, evaluate --- :mod:`mdlstm.pipeline`
=====================================================================================

Plain numpy in, plain numpy out: no MDAnalysis. :class:`~mdlstm.LSTMDynamics`
runs these two steps after its frame loop, and so do the benchmarks; call
them yourself to re-train on ``run.results.dtraj`` with other settings
without reading the trajectory again::

    from mdlstm import LSTMEstimator
    from mdlstm.pipeline import evaluate, learn

    learned = learn(run.results.dtraj, LSTMEstimator(hidden_size=128), seed=0)
    cmp = evaluate(run.results.dtraj, learned, dt=run.results.dt)
    print(cmp.format_summary())

:func:`learn` trains ``n_models`` copies of an estimator with independent
seeds (in parallel processes on a CPU) and lets every model generate its
share of the chains, each chain prompted with a window of the data
(:func:`mdlstm.model.prompts`). :func:`evaluate` compares the chains with
the data and a Markov state model (:func:`mdlstm.validate.compare`), with
the held-out cross-entropies of the LSTMs next to Markov models of order
1-3, the LSTM's error bars holding the spread between its models.
:func:`correct` is the maximum-caliber correction of trained models
(:mod:`mdlstm.maxcal`): generate, weigh toward a target, retrain, generate
again, and judge the corrected chains.

.. autofunction:: learn
.. autofunction:: evaluate
.. autofunction:: correct
.. autoclass:: Learned
.. autodata:: MARKOV_ORDERS
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import threading
import time

import numpy as np

from ._checks import as_dtraj_list, positive_int, seed_value

__all__ = ["learn", "evaluate", "correct", "Learned", "MARKOV_ORDERS"]

#: Orders of the Markov (n-gram) models the LSTM's held-out cross-entropy is compared with.
MARKOV_ORDERS = (1, 2, 3)


@dataclasses.dataclass(frozen=True)
class Learned:
    """What :func:`~mdlstm.pipeline.learn` returns.

    Attributes
    ----------
    estimators : list of mdlstm.LSTMEstimator
        The fitted estimators, one per model (``history``, ``best_epoch``).
    models : list of mdlstm.LSTMModel
        Their models.
    generated : numpy.ndarray, shape (n_chains, n_steps)
        Generated states of all models, model after model.
    generated_models : numpy.ndarray of int, shape (n_chains,)
        The model that generated each chain.
    seeds : list of int
        The training seed of every model.
    fit_seconds : float
        Wall time of training all the models (s), their calibration included.
    generation_seconds : float
        Wall time of generating all the chains (s).
    """

    estimators: list
    models: list
    generated: np.ndarray
    generated_models: np.ndarray
    seeds: list
    fit_seconds: float
    generation_seconds: float


def model_seeds(seed, n_models):
    """Training seeds of ``n_models`` models: `seed` itself, then seeds drawn from it."""
    drawn = np.random.SeedSequence(seed).generate_state(n_models - 1)
    return [seed, *map(int, drawn)]


def learn(dtrajs, estimator=None, *, n_models=3, n_chains=16, n_steps=None, temperature=1.0,
          mask="transitions", metadata=None, seed=None, n_workers=None, progress=False):
    """Train ``n_models`` LSTMs on state sequences and generate chains from all of them.

    Parameters
    ----------
    dtrajs : array_like of int, or list of them
        State sequences, one per independent trajectory.
    estimator : mdlstm.LSTMEstimator, optional
        The settings; it is copied, never fitted itself (default: the
        library defaults). Its ``seed`` is replaced by the models' seeds.
    n_models : int
        Independently trained models.
    n_chains : int
        Generated chains, shared as evenly as possible among the models; at
        least `n_models`.
    n_steps : int, optional
        States per chain; default: as many as the longest trajectory.
    temperature : float
        Sampling temperature.
    mask : {"transitions", "states", None}
        See :meth:`mdlstm.LSTMModel.generate`.
    metadata : dict, optional
        Stored with every model (:meth:`mdlstm.LSTMEstimator.fit`).
    seed : int, optional
        Seed of the first model (the others' are drawn from it, see
        ``Learned.seeds``) and of the sampling; drawn at random when None.
    n_workers : int, optional
        Training processes (:func:`mdlstm.train.fit_many`); default: one per
        model up to the number of CPU cores on a CPU, one (this process) on
        a GPU.
    progress : bool
        Progress bars (training bars only when the models train here).

    Returns
    -------
    Learned
    """
    from .model import generate_together, prompts, resolve_device
    from .train import LSTMEstimator, fit_many

    trajs = as_dtraj_list(dtrajs, "dtrajs")
    n_models = positive_int(n_models, "n_models")
    n_chains = positive_int(n_chains, "n_chains")
    if n_chains < n_models:
        raise ValueError(f"n_chains ({n_chains}) must be at least n_models ({n_models}): "
                         "every model generates chains")
    if estimator is None:
        estimator = LSTMEstimator()
    elif not isinstance(estimator, LSTMEstimator):
        raise TypeError(f"estimator must be an mdlstm.LSTMEstimator, "
                        f"got {type(estimator).__name__}")
    n_steps = max(map(len, trajs)) if n_steps is None else positive_int(n_steps, "n_steps")
    seed = seed_value(seed)
    device = resolve_device(estimator.device)
    if n_workers is None:
        n_workers = min(n_models, os.cpu_count() or 1) if device.type == "cpu" else 1
    seeds = model_seeds(seed, n_models)
    estimators = []
    for model_seed in seeds:
        est = copy.deepcopy(estimator)
        est.seed = model_seed
        # progress bars of several processes would garble each other
        est.verbose = bool(progress and n_workers == 1)
        estimators.append(est)
    warm = None
    if n_workers > 1:
        # while the workers train, this process only waits: import what the
        # comparison needs meanwhile (deeptime takes seconds to import)
        warm = threading.Thread(target=importlib.import_module, args=("mdlstm.validate",),
                                daemon=True)
        warm.start()
    start = time.perf_counter()
    fitted = fit_many(estimators, [trajs] * n_models, n_workers=n_workers, metadata=metadata)
    fit_seconds = time.perf_counter() - start
    if warm is not None:
        warm.join()
    models = [est.fetch_model() for est in fitted]
    starts = prompts(trajs, n_chains, fitted[0].seq_length)
    shares = np.array_split(np.arange(n_chains), n_models)
    start = time.perf_counter()
    generated = np.concatenate(generate_together(
        models, n_steps, [starts[rows] for rows in shares], temperature=temperature,
        seed=seed, progress=progress, mask=mask))
    owners = np.concatenate([np.full(len(rows), k) for k, rows in enumerate(shares)])
    return Learned(estimators=fitted, models=models, generated=generated,
                   generated_models=owners, seeds=seeds, fit_seconds=fit_seconds,
                   generation_seconds=time.perf_counter() - start)


def evaluate(dtrajs, learned, *, dt=1.0, time_unit="ps", lagtimes=None, state_values=None,
             metastable_sets=None, seed=0):
    """Compare the chains of :func:`~mdlstm.pipeline.learn` with the data it learned from.

    The held-out block of the estimators (the last ``validation_fraction``
    of every trajectory) gives the held-out cross-entropies: the mean of
    the models' (:meth:`mdlstm.LSTMModel.score`) and those of Markov models
    of order :data:`MARKOV_ORDERS` fitted on the training part, all on the
    same characters.

    Parameters
    ----------
    dtrajs : array_like of int, or list of them
        The state sequences given to :func:`~mdlstm.pipeline.learn`.
    learned : Learned
    dt : float
        Time of one step, in `time_unit`.
    time_unit : str
    lagtimes, state_values, metastable_sets, seed
        See :func:`mdlstm.validate.compare`.

    Returns
    -------
    mdlstm.validate.Comparison
    """
    from .train import split_held_out
    from .validate import compare

    if not isinstance(learned, Learned):
        raise TypeError(f"learned must be what mdlstm.pipeline.learn returns, "
                        f"got {type(learned).__name__}")
    trajs = as_dtraj_list(dtrajs, "dtrajs")
    n_states = learned.models[0].n_states
    train, held_out = split_held_out(trajs, learned.estimators[0].validation_fraction)
    skip = max(MARKOV_ORDERS)
    held_out = [h for h in held_out if len(h) > skip]
    # the LSTMs are scored on the characters the order-k Markov models predict
    lstm_ce = float(np.mean([m.score([h[skip - 1:] for h in held_out])
                             for m in learned.models])) if held_out else None
    return compare(trajs, learned.generated, n_states=n_states, dt=dt, time_unit=time_unit,
                   lagtimes=lagtimes, state_values=state_values,
                   metastable_sets=metastable_sets, seed=seed,
                   train=train if held_out else None, held_out=held_out or None,
                   lstm_cross_entropy=lstm_ce, markov_orders=MARKOV_ORDERS,
                   generated_models=learned.generated_models)


def correct(dtrajs, models, estimator, statistic, target, *, sets=None, n_chains=256,
            n_steps=None, n_select=None, replace=True, temperature=1.0, mask="transitions",
            metadata=None, reference="data", dt=1.0, time_unit="ps", lagtimes=None,
            metastable_sets=None, seed=None, progress=False):
    """Maximum-caliber correction of trained models toward a target statistic.

    1. the models generate `n_chains` chains (shared among them as evenly as
       possible, each prompted with a window of `dtrajs`, :func:`mdlstm.model.prompts`);
    2. :class:`mdlstm.maxcal.MaxCalCorrection` weighs them toward `target`,
       draws `n_select` of them and trains a clone of `estimator` on them;
    3. the corrected model generates `n_chains` new chains with the same
       prompts;
    4. :meth:`~mdlstm.maxcal.MaxCalCorrection.verdict` judges both sets of
       chains against the target and `reference`.

    Parameters
    ----------
    dtrajs : array_like of int, or list of them
        The data the models learned from (prompts, and the default reference).
    models : list of mdlstm.LSTMModel
        The trained models, of one configuration.
    estimator : mdlstm.LSTMEstimator
        Training settings of the corrected model (cloned, never fitted itself).
    statistic, target, sets
        See :class:`mdlstm.maxcal.MaxCalCorrection`.
    n_chains : int
        Chains generated before and after the correction. The weights rest
        on few of them when the target is far in the tail (a warning says
        so): generate more.
    n_steps : int, optional
        Steps per chain; default: as many as the longest trajectory of `dtrajs`.
    n_select, replace
        See :class:`mdlstm.maxcal.MaxCalCorrection`; ``n_select`` defaults to
        `n_chains`.
    temperature, mask
        See :meth:`mdlstm.LSTMModel.generate`.
    metadata : dict, optional
        Stored with the corrected model.
    reference : "data", None, or array_like of int, or list of them
        What the verdict compares with: `dtrajs` (default), nothing (the
        corrected chains against the uncorrected ones), or other state
        sequences (a longer run).
    dt : float
        Time of one step, in `time_unit`.
    time_unit : str
    lagtimes, metastable_sets
        See :meth:`mdlstm.maxcal.MaxCalCorrection.verdict`.
    seed : int, optional
        Seeds the first sampling and the selection (``seed + 1`` the second
        sampling); drawn at random when None.
    progress : bool
        Progress bars of sampling and training.

    Returns
    -------
    mdlstm.maxcal.MaxCalVerdict
        With the fitted correction (``.correction.fetch_model()``) and both
        comparisons (the corrected chains: ``.comparisons["after"].trajectories["LSTM"]``).

    Raises
    ------
    TypeError, ValueError
        Naming the argument, before any sampling: an unknown statistic,
        missing or bad sets, a target that is not a number.
    """
    from .maxcal import STATISTICS, MaxCalCorrection, _check_target, _two_sets
    from .model import LSTMModel, generate_together, prompts
    from .train import LSTMEstimator

    trajs = as_dtraj_list(dtrajs, "dtrajs")
    models = list(models) if isinstance(models, (list, tuple)) else [models]
    if not models or not all(isinstance(m, LSTMModel) for m in models):
        raise TypeError("models must be an mdlstm.LSTMModel or a list of them")
    n_states = models[0].n_states
    as_dtraj_list(trajs, "dtrajs", n_states)
    if not isinstance(estimator, LSTMEstimator):
        raise TypeError(f"estimator must be an mdlstm.LSTMEstimator, "
                        f"got {type(estimator).__name__}")
    if not callable(statistic) and statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS} or a callable, "
                         f"got {statistic!r}")
    _check_target(target)
    if statistic in ("population_ratio", "transition_count"):
        for k, states in enumerate(_two_sets(sets, statistic)):
            if states.min() < 0 or states.max() >= n_states:
                raise ValueError(f"sets[{k}] holds states outside 0..{n_states - 1}: "
                                 f"{states.tolist()}")
    n_chains = positive_int(n_chains, "n_chains")
    if n_chains < len(models):
        raise ValueError(f"n_chains ({n_chains}) must be at least the number of models "
                         f"({len(models)}): every model generates chains")
    n_steps = max(map(len, trajs)) if n_steps is None else positive_int(n_steps, "n_steps")
    if n_select is not None:
        positive_int(n_select, "n_select")
    if not (isinstance(reference, str) and reference == "data") and reference is not None:
        reference = as_dtraj_list(reference, "reference", n_states)
    elif reference is not None:
        reference = trajs
    seed = seed_value(seed)

    starts = prompts(trajs, n_chains, estimator.seq_length)
    shares = np.array_split(np.arange(n_chains), len(models))
    before = np.concatenate(generate_together(
        models, n_steps, [starts[rows] for rows in shares], temperature=temperature,
        seed=seed, progress=progress, mask=mask))
    fix = MaxCalCorrection(statistic, target, sets=sets, n_select=n_select, replace=replace,
                           seed=seed)
    fix.fit(before, estimator.clone(n_states=n_states, verbose=progress), metadata=metadata)
    after = fix.fetch_model().generate(n_steps, n_chains, prompt=starts,
                                       temperature=temperature, seed=seed + 1,
                                       progress=progress, mask=mask)
    return fix.verdict(before, after, reference, n_states=n_states, dt=dt,
                       time_unit=time_unit, lagtimes=lagtimes,
                       metastable_sets=metastable_sets, seed=seed)
