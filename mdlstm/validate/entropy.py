"""Held-out path entropy of Markov (n-gram) models, the baseline of the LSTM's loss."""

import numpy as np

from .._checks import as_dtraj_list, integer_at_least, positive_float, positive_int


def markov_cross_entropy(train, held_out, order, n_states, alpha=0.5, skip=None):
    """Held-out cross-entropy of an order-`order` Markov (n-gram) model.

    The model predicts each state from the `order` states before it:
    ``p(x | c) = (N(c, x) + alpha) / (N(c) + alpha * n_states)``, with
    ``N`` the counts of context ``c`` followed by ``x`` in `train` (additive,
    or Lidstone, smoothing; ``alpha = 0.5`` is the Krichevsky-Trofimov
    estimator). A context never seen in training predicts uniformly. No
    n-gram spans two trajectories.

    Parameters
    ----------
    train : array_like of int, or list of them
        State sequences the model is fitted on.
    held_out : array_like of int, or list of them
        State sequences it is evaluated on.
    order : int
        Number of preceding states the prediction depends on; 0 gives the
        population (unigram) model.
    n_states : int
        Number of states (the alphabet).
    alpha : float
        Pseudo-count added to every (context, state) count.
    skip : int, optional
        Number of states at the start of each held-out trajectory that are
        not scored; default `order` (the first states have no full context).
        To compare several orders, or the LSTM, over the *same* characters,
        give all of them the same ``skip`` (the largest order), see Notes.

    Returns
    -------
    float
        Mean negative log-likelihood per scored state, nats per character.

    Raises
    ------
    TypeError, ValueError
        Invalid arguments; `skip` smaller than `order`; no held-out state
        to score; no n-gram in `train`.

    Notes
    -----
    The characters scored are ``held_out[k][skip:]`` for every trajectory
    ``k``. :meth:`mdlstm.LSTMModel.score` scores every character after the
    first, so the LSTM's loss over the same characters is
    ``model.score([h[skip - 1:] for h in held_out])`` (it then sees ``skip -
    1`` fewer states of context at each trajectory start, which is
    negligible on long trajectories).

    Additive smoothing spreads ``alpha * n_states`` pseudo-counts over every
    context, so with few training counts per context (there are
    ``n_states**order`` of them) a high order scores worse than the process
    merits: on 1e5 steps of a 20-state first-order chain, orders 2 and 3
    come out 0.003 and 0.013 nats above order 1. Compare orders only where
    the contexts are well sampled.
    """
    n_states = positive_int(n_states, "n_states")
    train = as_dtraj_list(train, "train", n_states)
    held_out = as_dtraj_list(held_out, "held_out", n_states)
    order = integer_at_least(order, "order", 0)
    if n_states ** (order + 1) >= 2**62:
        raise ValueError(f"order={order} is too large for n_states={n_states}: the n-gram "
                         "codes n_states**(order + 1) overflow 64-bit integers")
    alpha = positive_float(alpha, "alpha")
    skip = order if skip is None else integer_at_least(skip, "skip", 0)
    if skip < order:
        raise ValueError(f"skip must be at least order={order} (an order-{order} model "
                         f"needs {order} states of context), got {skip}")
    grams = np.concatenate([_ngram_codes(t, order, n_states) for t in train])
    if grams.size == 0:
        raise ValueError(f"train has no trajectory longer than order={order} states: "
                         "nothing to fit")
    scored = np.concatenate([_ngram_codes(t, order, n_states)[skip - order:] for t in held_out])
    if scored.size == 0:
        raise ValueError(f"held_out has no state to score: every trajectory has at most "
                         f"skip={skip} states")
    gram_codes, gram_counts = np.unique(grams, return_counts=True)
    context_codes, inverse = np.unique(gram_codes // n_states, return_inverse=True)
    context_counts = np.bincount(inverse, weights=gram_counts)
    joint = _lookup(scored, gram_codes, gram_counts)
    context = _lookup(scored // n_states, context_codes, context_counts)
    probability = (joint + alpha) / (context + alpha * n_states)
    return float(-np.mean(np.log(probability)))


def _path_entropies(held_out, train, lstm_cross_entropy, markov_orders, n_states):
    """Held-out path entropies of the LSTM and the Markov baselines, and the skip.

    ``(None, None)`` when neither `held_out` nor `train` is given.
    """
    if held_out is None and train is None:
        if lstm_cross_entropy is not None:
            raise ValueError("lstm_cross_entropy needs held_out and train, so that it is "
                             "compared with Markov baselines on the same data")
        return None, None
    if held_out is None or train is None:
        missing = "held_out" if held_out is None else "train"
        raise ValueError(f"{missing} must be given as well: the Markov baselines are "
                         "fitted on train and evaluated on held_out")
    orders = np.atleast_1d(np.asarray(markov_orders))
    if (orders.ndim != 1 or orders.size == 0 or not np.issubdtype(orders.dtype, np.integer)
            or orders.min() < 0):
        raise ValueError("markov_orders must be a non-empty sequence of non-negative "
                         f"integers, got {markov_orders!r}")
    entropy = {}
    if lstm_cross_entropy is not None:
        value = positive_float(lstm_cross_entropy, "lstm_cross_entropy")
        entropy["LSTM"] = value
    skip = int(orders.max())
    train = as_dtraj_list(train, "train", n_states)
    held_out = as_dtraj_list(held_out, "held_out", n_states)
    for order in orders.tolist():
        entropy[f"Markov order {order}"] = markov_cross_entropy(train, held_out, order,
                                                                n_states, skip=skip)
    return entropy, skip


def _ngram_codes(traj, order, n_states):
    """Code ``sum_m traj[t - order + m] * n_states**(order - m)`` of every (order+1)-gram.

    ``code // n_states`` is the context, ``code % n_states`` the predicted state.
    """
    length = len(traj) - order
    if length <= 0:
        return np.zeros(0, dtype=np.int64)
    codes = np.zeros(length, dtype=np.int64)
    for shift in range(order + 1):
        codes = codes * n_states + traj[shift:shift + length]
    return codes


def _lookup(keys, table, values):
    """``values`` at the position of each key in the sorted `table`, 0 if absent."""
    index = np.minimum(np.searchsorted(table, keys), len(table) - 1)
    return np.where(table[index] == keys, values[index], 0)
