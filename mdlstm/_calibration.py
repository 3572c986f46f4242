"""Calibration of a trained model's one-step transitions to its training data.

A network trained by maximum likelihood gets the frequent moves right and the
rare ones roughly: where the data hold few visits (a barrier state seen 15
times), it spreads probability over moves the data never made and misjudges
the ones they did. Those few moves are the passages between basins, so the
generated MFPTs come out 10-25 % off while every loss looks good
(``docs/benchmarks.md``). An order-1 Markov chain reproduces the data's
one-step transition counts by construction; a calibrated model must too.

The calibration tilts the model's next-state distribution by a logit bias
``b[i, j]`` that depends on the current state ``i`` only, and fits it so that
the model's own chains make every move ``i -> j`` as often, per visit of
``i``, as the data do (iterative scaling on generated chains, damped, the
last iterates averaged against sampling noise). Moves the data never made are
forbidden (``mask="transitions"``): the bias is fitted with them absent. The
memory the network learned is untouched: the same bias applies whatever the
history, the minimal change (an exponential tilt) that restores the counts.
"""

import time

import numpy as np

from . import _recipe
from .model import LSTMModel, prompts


def pair_table(bias, allowed):
    """The JSON form of a bias: ``[i, j, b]`` for every allowed pair."""
    rows, cols = np.nonzero(allowed)
    return [[int(i), int(j), float(bias[i, j])] for i, j in zip(rows, cols)]


def calibrate(model, trajs, seed, prompt_length, progress=None):
    """The model with its one-step transitions fitted to ``trajs``.

    Parameters
    ----------
    model : mdlstm.LSTMModel
        Trained on ``trajs``; its metadata hold their ``state_counts`` and
        ``transitions`` (the moves the data made), which the mask uses.
    trajs : list of numpy.ndarray
        The training data (training part and held-out block).
    seed : int
        Seed of the calibration chains.
    prompt_length : int
        States of data read by each chain before it generates.
    progress : callable, optional
        Called with no argument after every generation.

    Returns
    -------
    mdlstm.LSTMModel
        The same network with ``metadata["calibration"]``: ``"bias"`` (the
        ``[i, j, b]`` table, logits added when the current state is ``i``),
        the chains' ``"population_error"`` and ``"transition_error"``
        before calibration, after each iteration and with the kept bias
        (as in ``history``), ``"n_characters"`` of each of these generations and
        ``"time_s"``, the wall time of the calibration.
    """
    start = time.perf_counter()
    n_states = model.n_states
    counts = _recipe.pair_counts(trajs, n_states)
    visits = counts.sum(axis=1, keepdims=True)
    target = np.divide(counts, visits, out=np.zeros_like(counts), where=visits > 0)
    mask = model._logit_mask("transitions")
    allowed = (np.ones((n_states, n_states), dtype=bool) if mask is None
               else np.isfinite(mask.cpu().numpy()))
    n_data = sum(len(t) for t in trajs)
    n_chars = int(min(_recipe.CALIBRATION_CHARACTERS, _recipe.CALIBRATION_DATA_MULTIPLE * n_data))
    n_steps = max(1, n_chars // _recipe.CALIBRATION_CHAINS)
    first_averaged = _recipe.CALIBRATION_ITERATIONS - _recipe.CALIBRATION_AVERAGED
    # the rounds before the averaged ones only approach the fixed point: fewer states
    round_steps = [max(1, n_steps // _recipe.CALIBRATION_APPROACH_DIVISOR)
                   if iteration < first_averaged else n_steps
                   for iteration in range(_recipe.CALIBRATION_ITERATIONS + 1)]
    starts = prompts(trajs, _recipe.CALIBRATION_CHAINS, prompt_length)
    data_frequencies = _recipe.frequencies(trajs, n_states)
    record = {"population_error": [], "transition_error": []}

    def chains_with(bias, iteration):
        tilted = LSTMModel(model.network, {**model.metadata, "calibration": {
            "bias": pair_table(bias, allowed)}}, device=model.device)
        chains = list(tilted.generate(round_steps[iteration], _recipe.CALIBRATION_CHAINS,
                                      prompt=starts, seed=seed + iteration, mask="transitions")
                      .astype(np.int64))
        for name, value in _recipe.frequency_errors(
                _recipe.frequencies(chains, n_states), data_frequencies).items():
            record[name].append(value)
        if progress is not None:
            progress()
        return _recipe.pair_counts(chains, n_states)

    bias = np.zeros((n_states, n_states))
    iterates = []
    for iteration in range(_recipe.CALIBRATION_ITERATIONS):
        generated = chains_with(bias, iteration)
        expected = target * generated.sum(axis=1, keepdims=True)
        step = np.log((expected + _recipe.CALIBRATION_PSEUDOCOUNT)
                      / (generated + _recipe.CALIBRATION_PSEUDOCOUNT))
        bias[allowed] += _recipe.CALIBRATION_DAMPING * step[allowed]
        # a row's logits are defined up to a constant: keep its largest at 0
        top = np.where(allowed, bias, -np.inf).max(axis=1, keepdims=True)
        bias -= np.where(np.isfinite(top), top, 0.0)
        iterates.append(bias.copy())
    kept = np.mean(iterates[-_recipe.CALIBRATION_AVERAGED:], axis=0)
    chains_with(kept, _recipe.CALIBRATION_ITERATIONS)
    calibration = {"bias": pair_table(kept, allowed), "n_characters": [
                       steps * _recipe.CALIBRATION_CHAINS for steps in round_steps], **record,
                   "time_s": time.perf_counter() - start}
    return LSTMModel(model.network, {**model.metadata, "calibration": calibration},
                     device=model.device)
