"""The numbers of the training recipe and its data helpers (numpy only).

Read by :mod:`mdlstm.train` (the estimator, which re-exports them) and by
:mod:`mdlstm._training` (the loop) at call time, so that a change here, or a
test's ``monkeypatch`` of ``mdlstm._recipe``, reaches both.
"""

import warnings

import numpy as np

#: Windows per epoch aimed at by ``stride="auto"`` (``carry_state=False``).
AUTO_WINDOWS_PER_EPOCH = 8_000
#: Passes over the training data planned by ``epochs="auto"``...
AUTO_PASSES = 60
#: ... within this many optimizer updates (fewer passes on large data,
#: more on small data).
AUTO_UPDATES = (1_000, 5_000)
#: Held-out evaluations (rows of ``history``) per fit, about.
N_EVALUATIONS = 20
#: Fraction of the planned updates after which evaluations are candidates
#: (under the cosine, the learning rate is then below a quarter of its peak).
CANDIDATE_PHASE = 2 / 3
#: Chains and characters generated per candidate to choose the kept weights.
SELECTION_CHAINS = 64
SELECTION_CHARACTERS = 1_000_000
#: On a CPU, a batch is run forward and backward in chunks of at most this
#: many windows, their gradients summed: the same optimizer step (up to
#: rounding), faster, because oneDNN's LSTM slows down per character once a
#: batch's activations outgrow the caches (``docs/performance.md``). With
#: several torch threads the chunks of a batch run side by side.
CPU_CHUNK = 64
#: Calibration of the kept model's one-step transitions (``calibrate=True``,
#: :mod:`mdlstm._calibration`): iterations of the bias, each on
#: ``CALIBRATION_CHAINS`` chains of ``CALIBRATION_DATA_MULTIPLE`` times the
#: data's states, at most ``CALIBRATION_CHARACTERS``; each step moves the
#: bias by ``CALIBRATION_DAMPING`` times the log ratio of the data's and the
#: chains' counts (plus ``CALIBRATION_PSEUDOCOUNT`` each, against the noise of
#: rare moves); the mean of the last ``CALIBRATION_AVERAGED`` iterates is kept.
#: The rounds before those only approach the fixed point and generate
#: ``1 / CALIBRATION_APPROACH_DIVISOR`` of a round's states: their noise
#: reaches the kept mean damped (``docs/performance.md``).
CALIBRATION_ITERATIONS = 8
CALIBRATION_CHAINS = 512
CALIBRATION_DATA_MULTIPLE = 20
CALIBRATION_CHARACTERS = 4_000_000
CALIBRATION_DAMPING = 0.5
CALIBRATION_PSEUDOCOUNT = 2.0
CALIBRATION_AVERAGED = 4
CALIBRATION_APPROACH_DIVISOR = 4
#: How the kept weights are chosen among the candidates.
SELECTIONS = ("generated", "held_out", "last")
#: With ``selection="held_out"``, fewer state changes than this in the
#: held-out block draw a warning: its loss then chooses by noise
#: (``docs/benchmarks.md``).
MIN_HELD_OUT_CHANGES = 200
#: Batch size of the paper, the reference of ``lr_scaling``.
PAPER_BATCH = 64
#: Exponent of ``batch_size / PAPER_BATCH`` that scales the learning rate.
LR_SCALING = {None: 0.0, "sqrt": 0.5, "linear": 1.0}
#: Training arithmetic: ``precision`` (bfloat16: under torch.autocast).
PRECISIONS = ("float32", "bfloat16")


def pair_counts(trajs, n_states):
    """(n_states, n_states) counts of the one-step moves ``i -> j`` (``i == j`` included)."""
    codes = np.concatenate([np.asarray(t[:-1], dtype=np.int64) * n_states + t[1:]
                            for t in trajs])
    return np.bincount(codes, minlength=n_states ** 2).astype(float).reshape(n_states, n_states)


def frequencies(trajs, n_states):
    """State populations and one-step change frequencies ``i -> j`` (``i != j``) per step."""
    visits = np.bincount(np.concatenate(trajs), minlength=n_states).astype(float)
    pairs = pair_counts(trajs, n_states)
    np.fill_diagonal(pairs, 0.0)
    return visits / visits.sum(), pairs / sum(len(t) - 1 for t in trajs)


def frequency_errors(generated, data):
    """How far chains' :func:`frequencies` are from the data's.

    ``"population_error"``: total variation distance of the state
    populations; ``"transition_error"``: summed absolute difference of the
    change frequencies, relative to the data's.
    """
    (populations, changes), (data_populations, data_changes) = generated, data
    total = data_changes.sum()
    return {"population_error": 0.5 * float(np.abs(populations - data_populations).sum()),
            "transition_error": float(np.abs(changes - data_changes).sum() / total)
            if total else 0.0}


def split_held_out(trajs, fraction):
    """Training part and held-out tail (``fraction`` of each trajectory).

    A held-out tail shorter than 2 states cannot be scored and stays in the
    training part.
    """
    train, val = [], []
    for traj in trajs:
        n_val = int(round(fraction * len(traj)))
        if n_val >= 2:
            train.append(traj[:-n_val])
            val.append(traj[-n_val:])
        else:
            train.append(traj)
    return train, val


def window_starts(trajs, length, stride):
    """Start indices (into the concatenated trajectories) of all windows."""
    starts, offset = [], 0
    for traj in trajs:
        if len(traj) >= length:
            starts.append(offset + np.arange(0, len(traj) - length + 1, stride))
        offset += len(traj)
    return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def warn_if_few_changes(val, fraction):
    """Warn when the held-out block has too few state changes to choose weights by."""
    changes = sum(int(np.count_nonzero(np.diff(v))) for v in val)
    if changes < MIN_HELD_OUT_CHANGES:
        warnings.warn(
            f"the held-out block (validation_fraction={fraction}) holds only {changes} "
            f"state changes (fewer than {MIN_HELD_OUT_CHANGES}): its loss, which picks the "
            "weights that are kept with selection='held_out', may be too noisy to tell one "
            "candidate from the next; the default selection='generated' compares the "
            "candidates' generated chains with all of the data instead.",
            UserWarning, stacklevel=3)
