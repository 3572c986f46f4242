"""Training the state-sequence language model: :class:`LSTMEstimator`.

The estimator follows the deeptime/scikit-learn pattern: parameters are set in
``__init__`` and stored verbatim, ``fit`` validates its input and trains, and
``fetch_model()`` returns the trained :class:`~mdlstm.model.LSTMModel`::

    model = LSTMEstimator(seed=0).fit(dtrajs).fetch_model()

:class:`TransformerEstimator` trains a decoder-only transformer instead
(:class:`~mdlstm.model.CharTransformer`) with the same loop, on shuffled
windows of ``context_length`` (step 2 with ``carry_state=False``: a
transformer carries no state), and returns the same
:class:`~mdlstm.model.LSTMModel`.

What happens in ``fit``
-----------------------
1. The last ``validation_fraction`` of every trajectory is held out as one
   contiguous block (the paper validated on a prefix of its training data; a
   held-out block in time is the honest test of a dynamical model).
2. Every trajectory's training part is cut into consecutive windows of
   ``seq_length`` predicted states (at an offset drawn afresh every epoch),
   and the windows, trajectory after trajectory, into ``batch_size``
   streams. Update ``t`` trains on window ``t`` of every stream, starting
   from the LSTM state that window ``t - 1`` left (truncated backpropagation
   through time, as the paper's stateful Keras model did); the state starts
   from zeros at the first window of a stream and of a trajectory. With
   ``carry_state=False`` windows start every ``stride`` states in a fresh
   random order, each from a zero state.
3. Adam minimises the mean cross-entropy in nats per character; the
   learning rate decays along a cosine from ``learning_rate`` to zero over
   all planned updates. ``epochs="auto"`` plans :data:`AUTO_PASSES` passes
   over the training data, within :data:`AUTO_UPDATES` optimizer updates.
4. About :data:`N_EVALUATIONS` times during training the held-out block is
   scored with the LSTM state carried through it (as the model runs when it
   generates) and recorded in ``history``. In the last third of training
   (learning rate below a quarter of its peak) every evaluation is also a
   *candidate*: the model generates :data:`SELECTION_CHAINS` chains
   (:data:`SELECTION_CHARACTERS` states in all, at most four times the data
   and chains no longer than its longest trajectory), and their state
   populations and one-step transition frequencies are compared with those
   of the data. The candidate whose chains are closest is kept
   (``selection="generated"``), or the one with the lowest held-out loss
   (``"held_out"``), or the last (``"last"``).
5. With ``calibrate=True`` the kept model's one-step moves are fitted to
   the data (``mdlstm._calibration``): a logit bias by current state,
   with which the model's own chains make every move ``i -> j`` as often per
   visit of ``i`` as the data do, and never one the data never made.

Why this recipe
---------------
Measured on systems the defaults were not tuned on (``docs/benchmarks.md``):
windows from a zero state never show the model what its state looks like
after thousands of steps, which is where generation runs; early stopping on
the held-out loss kept weights from the high-learning-rate phase of the
cosine; and held-out likelihood alone did not pick the models whose chains
had the right equilibrium. Carrying the state, annealing to the end of a
budget sized by the data and choosing among annealed candidates by what
their chains do removed the failures seen with the old recipe. Even then the
rare moves (a barrier crossed from states seen a few times) came out 10-25 %
off in MFPTs, with moves the data never made among them; the calibration
brought the worst model of each system tried to within 10 % of its data.
"""

from __future__ import annotations

import concurrent.futures
import copy
import math
import os
import warnings

import numpy as np

from ._checks import as_dtraj_list, integer_at_least, positive_float, positive_int, seed_value
from ._params import Parameters
from ._recipe import (AUTO_PASSES, AUTO_UPDATES, AUTO_WINDOWS_PER_EPOCH, CANDIDATE_PHASE,
                      CPU_CHUNK, LR_SCALING, MIN_HELD_OUT_CHANGES, N_EVALUATIONS, PAPER_BATCH,
                      PRECISIONS, SELECTION_CHAINS, SELECTION_CHARACTERS, SELECTIONS,
                      split_held_out, window_starts)

__all__ = ["LSTMEstimator", "TransformerEstimator", "fit_many", "split_held_out", "window_starts",
           # the numbers of the recipe, documented with the estimator
           "AUTO_PASSES", "AUTO_UPDATES", "AUTO_WINDOWS_PER_EPOCH", "CANDIDATE_PHASE", "CPU_CHUNK",
           "LR_SCALING", "MIN_HELD_OUT_CHANGES", "N_EVALUATIONS", "PAPER_BATCH", "PRECISIONS",
           "SELECTION_CHAINS", "SELECTION_CHARACTERS", "SELECTIONS"]


class LSTMEstimator(Parameters):
    """Fit an Embedding -> LSTM -> Linear model to discrete state sequences.

    Parameters
    ----------
    embedding_dim : int
        Embedding length per state (paper: 8).
    hidden_size : int
        LSTM units per layer (paper: 64).
    n_layers : int
        Stacked LSTM layers (paper: 1).
    seq_length : int
        Characters per training window, the length of backpropagation
        through time (paper: 100).
    batch_size : int
        Windows per optimizer update (paper: 64); with ``carry_state``, the
        number of streams.
    epochs : int or "auto"
        Epochs of training windows: with ``carry_state``, passes over the
        training data; without, each epoch takes every window, and so
        passes over each state about ``seq_length / stride`` times.
        ``"auto"``: as many epochs as make :data:`AUTO_PASSES` passes, but
        at least ``AUTO_UPDATES[0]`` and at most ``AUTO_UPDATES[1]``
        optimizer updates (the paper's 20 epochs on its 1.6e6 characters
        are 5,000 updates).
    learning_rate : float
        Peak Adam learning rate (with ``lr_scaling``: the rate of a batch of
        64).
    lr_schedule : {"cosine", "constant"}
        Learning-rate schedule over all planned optimizer updates.
    carry_state : bool
        Carry the LSTM state from each window to the next window of the
        same trajectory (truncated backpropagation through time), so that
        training sees the long contexts generation runs into. False: windows
        every ``stride`` states, shuffled, each from a zero state.
    stride : int or "auto"
        With ``carry_state=False``: offset between the starts of consecutive
        training windows (``seq_length`` gives the paper's non-overlapping
        windows); ``"auto"`` aims at :data:`AUTO_WINDOWS_PER_EPOCH` windows
        an epoch.
    validation_fraction : float
        Fraction (0 <= f < 1) of every trajectory, taken from its end, held
        out and scored during training; 0 trains on everything.
    selection : {"generated", "held_out", "last"}
        Which candidate's weights are kept (see the module docstring).
    calibrate : bool
        Fit the kept model's one-step transitions to the data
        (``mdlstm._calibration``): a logit bias by current state, with
        which generated chains (``mask="transitions"``) make every move
        ``i -> j`` as often per visit of ``i`` as the data do. Stored in the
        model (``metadata["calibration"]``) and used whenever it generates.
    lr_scaling : {None, "sqrt", "linear"}
        Scale the peak learning rate with the batch: ``learning_rate *
        (batch / 64) ** p`` with p = 1/2 (``"sqrt"``, the usual rule for
        Adam) or 1 (``"linear"``), where ``batch`` is ``batch_size`` (or the
        number of windows, when there are fewer); None keeps
        ``learning_rate`` whatever the batch.
    precision : {"float32", "bfloat16"}
        Arithmetic of the training passes. ``"bfloat16"`` runs the forward
        and backward passes under :class:`torch.autocast` (the LSTM and the
        matrix products in bfloat16, the loss in float32) on float32 master
        weights updated in float32: meant for GPUs and CPUs with bfloat16
        units (AVX512-BF16, AMX; measured on the latter only, see
        ``docs/performance.md``). Validation, the saved model and generation
        stay float32.
    n_states : int, optional
        Alphabet size; default ``1 + max(state)`` over the data.
    device : str
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``, ...
    seed : int, optional
        Seeds weight initialisation, window offsets and order, and the
        selection chains; the same seed gives the same model on CPU.
    verbose : bool
        Show a progress bar with the losses.

    Attributes
    ----------
    history : dict
        One entry per evaluation: ``"epoch"``, ``"update"`` (optimizer
        updates so far), ``"train_loss"`` (mean since the last evaluation)
        and ``"val_loss"`` (nats per character; None without a held-out
        block), ``"learning_rate"`` (at the last update), ``"time_s"``,
        ``"candidate"`` (bool) and, for candidates, ``"population_error"``
        (total variation distance between the state populations of the
        selection chains and of the data) and ``"transition_error"``
        (summed absolute difference of the one-step transition frequencies
        ``i -> j``, ``i != j``, relative to the data's); None otherwise, and
        always with another ``selection`` than ``"generated"``. Set
        by :meth:`fit`. ``"kept"`` (bool) marks the evaluation whose weights
        were kept. With ``calibrate``, ``"calibration"`` holds the same two
        errors of the calibration's chains (a dict of lists): before it,
        after each of its rounds, and with the bias kept.
    best_epoch : int
        Epoch whose weights were kept.
    """

    def __init__(self, embedding_dim=8, hidden_size=64, n_layers=1, seq_length=100,
                 batch_size=64, epochs="auto", learning_rate=3e-3, lr_schedule="cosine",
                 carry_state=True, stride="auto", validation_fraction=0.1,
                 selection="generated", calibrate=True, n_states=None, device="auto",
                 seed=None, verbose=False, lr_scaling=None, precision="float32"):
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.seq_length = seq_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.carry_state = carry_state
        self.stride = stride
        self.validation_fraction = validation_fraction
        self.selection = selection
        self.calibrate = calibrate
        self.n_states = n_states
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.lr_scaling = lr_scaling
        self.precision = precision
        self._model = None

    #: The parameter that sets the training windows' length (error messages).
    _window_name = "seq_length"

    # ------------------------------------------------------------------ checks
    def _check_network(self):
        for name in ("embedding_dim", "hidden_size", "n_layers", "seq_length"):
            positive_int(getattr(self, name), name)

    def _network(self, n_states):
        """A new network for ``n_states`` states (torch: called from fit only)."""
        from .model import CharLSTM

        return CharLSTM(n_states, self.embedding_dim, self.hidden_size, self.n_layers)

    def _check_params(self):
        self._check_network()
        positive_int(self.batch_size, "batch_size")
        if not (isinstance(self.epochs, str) and self.epochs == "auto"):
            positive_int(self.epochs, "epochs")
        positive_float(self.learning_rate, "learning_rate")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', "
                             f"got {self.lr_schedule!r}")
        # type first: an array or list would fail the dictionary lookups unnamed
        if not (self.lr_scaling is None or isinstance(self.lr_scaling, str)) or \
                self.lr_scaling not in LR_SCALING:
            raise ValueError(f"lr_scaling must be None, 'sqrt' or 'linear', "
                             f"got {self.lr_scaling!r}")
        if not isinstance(self.precision, str) or self.precision not in PRECISIONS:
            raise ValueError(f"precision must be 'float32' or 'bfloat16', "
                             f"got {self.precision!r}")
        if not isinstance(self.selection, str) or self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(map(repr, SELECTIONS))}, "
                             f"got {self.selection!r}")
        for name in ("carry_state", "calibrate"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.stride != "auto":
            positive_int(self.stride, "stride")
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
            raise ValueError(f"validation_fraction must be a number in [0, 1), got {f!r}")
        if self.n_states is not None:
            integer_at_least(self.n_states, "n_states", 2)
        seed_value(0 if self.seed is None else self.seed)
        from .model import resolve_device   # torch: see fit

        return resolve_device(self.device)

    # ------------------------------------------------------------------ fit
    def fit(self, dtrajs, metadata=None, checkpoint_dir=None, resume=False):
        """Train on one or several state sequences.

        Parameters
        ----------
        dtrajs : array_like of int, or list of them
            State sequences, one per independent trajectory.
        metadata : dict, optional
            JSON-serialisable facts stored with the model (discretizer, CV
            description, ``dt``, ``time_unit``, ...).
        checkpoint_dir : str or os.PathLike, optional
            Directory where the complete training state is written after every
            evaluation (atomically: temporary file, fsync, rename), so an
            interrupted run loses at most the updates since the last one.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` (start afresh if
            there is none). The data and settings must be those of the
            interrupted run; on CPU the result is then bit-identical to an
            uninterrupted run.

        Returns
        -------
        self
        """
        # torch, imported here: unpickling an estimator (a dask worker reading
        # an LSTMDynamics) imports this module, which must not import torch
        from ._training import fit

        return fit(self, dtrajs, metadata, checkpoint_dir, resume)

    def _settings(self, n_states):
        """Every parameter that determines the trained weights (checkpoints, metadata)."""
        settings = self.get_params()
        for name in ("device", "verbose"):   # where it runs and what it shows
            del settings[name]
        return {**settings, "n_states": n_states}

    def fetch_model(self):
        """The trained :class:`~mdlstm.model.LSTMModel` (None before :meth:`fit`)."""
        return self._model

    # ------------------------------------------------------------------ internals
    def _epochs(self, updates_per_epoch, passes_per_epoch):
        if self.epochs != "auto":
            return int(self.epochs)
        low, high = AUTO_UPDATES
        return int(np.clip(max(1, round(AUTO_PASSES / passes_per_epoch)),
                           math.ceil(low / updates_per_epoch),
                           max(1, high // updates_per_epoch)))


class TransformerEstimator(LSTMEstimator):
    """Fit an Embedding -> decoder-only transformer -> Linear model to state sequences.

    The network is :class:`~mdlstm.model.CharTransformer`: pre-norm blocks
    of causal multi-head attention
    (:func:`torch.nn.functional.scaled_dot_product_attention`) and an MLP,
    rotary positions, each prediction made from the ``context_length``
    states up to it. Everything else is :class:`LSTMEstimator`'s: the
    training loop, ``epochs="auto"``, the learning-rate schedule, held-out
    scoring, candidate selection by generated chains, checkpoints; and the
    trained model is an :class:`~mdlstm.model.LSTMModel` (generate, score,
    save, load), whose file names its architecture. A transformer carries
    no state from window to window: it trains on windows of
    ``context_length`` predicted states that start every ``stride`` states,
    shuffled every epoch (``carry_state=False`` of the LSTM). It is a
    subclass so that whatever takes an :class:`LSTMEstimator`
    (:func:`fit_many`, :func:`mdlstm.pipeline.learn`,
    ``LSTMDynamics(estimator=...)``) takes it.

    Parameters
    ----------
    d_model : int
        Width of the residual stream and of the state embeddings.
    n_layers : int
        Transformer blocks.
    n_heads : int
        Attention heads per block; ``d_model / n_heads`` must be an even
        integer.
    context_length : int
        States each prediction sees (at least 2), and the predicted states
        of a training window. Generation keeps the keys and values of this
        many states per layer, so its cost per character does not grow with
        the chains.
    batch_size, epochs, learning_rate, lr_schedule, stride, validation_fraction, \
selection, calibrate, n_states, device, seed, verbose, lr_scaling, precision
        As in :class:`LSTMEstimator` (``stride`` as with ``carry_state=False``).

    Attributes
    ----------
    history : dict
        As in :class:`LSTMEstimator`.
    best_epoch : int
        Epoch whose weights were kept.

    Notes
    -----
    The network's defaults (d_model 64, 1 layer, 4 heads, Adam at 1e-3)
    were measured at context 64 on the 3-state Markov chain of the tests (30,000 steps,
    entropy rate 0.4072 nats per character), 4,900 updates (what
    ``epochs="auto"`` planned before it counted the passes of overlapping
    windows; it now plans 1,120 on these data), one CPU thread, judged by
    64 generated chains of 4,000 steps:
    with 1 layer, seeds 0 and 1 gave held-out losses of 0.4010 and 0.4038
    nats per character, populations within 0.0039 and 0.0094 and transition
    probabilities within 4.6 % and 5.4 % of the exact ones; with 2 layers
    (seed 0; the second seed was not run) 0.4184 nats per character, 0.038
    and 16 %. Whether the second layer overfits these small data or suffers
    from the band (a second layer's keys read states up to ``2 *
    context_length`` back in generation, but never more than the window in
    training) was not measured. Each fit took about 20 minutes on a
    2-core machine shared with other jobs (load average 5-6); one epoch of
    2 layers trained 3.7e4 (context 128) and 5.1e4 (context 64) characters
    per second at a load of 2-4. The context's default is set by fidelity,
    below.
    Generation is measured in ``benchmarks/perf.py`` (``docs/performance.md``).

    A transformer overfits small data sooner than the LSTM. Before
    ``epochs="auto"`` counted passes it trained on the 7.2e4 states of
    alanine dipeptide's phi (20 bins; ``benchmarks/fidelity.py``) for 4,960
    updates, 280 passes, and the held-out cross-entropy ended 0.070 nats
    per character above order-1 Markov's (psi: 0.22, the worst of a
    benchmark seed's three models); with the 1,120 updates of 60 passes,
    0.0018 above (psi: 0.0013 below; one fit each, seed 0, without
    calibration). On these data the held-out loss is lowest at the first or
    second evaluation (124-248 updates), so the 1,000-update minimum of
    ``"auto"`` still overfits the 40 states of (phi, psi), as it does the
    LSTM's: 0.0135 above Markov's at worst for three transformers, 0.0117
    for three LSTMs (one benchmark seed, ``docs/benchmarks.md``).

    The calibration (``calibrate=True``) samples the same number of states
    as for an LSTM, up to 2.4e7 in 9 rounds, but a transformer samples about
    8 times slower on a CPU (context 64: 8.9e4 against 7.0e5 states per
    second with 1,000 chains on one thread, idle machine). Three fits on 3e5
    states (the hidden-dwell chain of ``benchmarks/fidelity.py``),
    calibration included, took 1,376 s in two processes of one thread,
    against 255 s for the LSTM: about 11 minutes per fit (4,960 updates;
    3,968 since ``"auto"`` counts passes: one fit without calibration 210 s
    instead of 251 s). ``calibrate=False`` skips the calibration; a GPU
    samples much faster.

    Nothing is carried past the context, so it is the memory the model can
    have. On the grid walker of ``benchmarks/fidelity.py`` (exact MFPTs of
    976 and 1,867 frames, a lag-1 MSM 0.7 off them) a context of 64 gave
    MFPTs 0.19, 0.24 and 0.21 off the exact ones on three seeds, the LSTM's
    0.07, 0.13 and 0.07, and on two of them a rate of passages between the
    two halves off its training data by more than the benchmark's 0.20 (0.21
    and 0.23). A context of 128, the default since, gave 0.12 and 0.17 and
    rates 0.11 and 0.16 off on those two seeds, at 1.8-1.9 times the training
    time. On the hidden-dwell chain and the Prinz four wells (seed 0) the two
    contexts' MFPTs were level; so were they on alanine dipeptide's small
    data (seed 0), but there 128 predicted held-out states worse (0.004-0.036
    nats per character above order-1 Markov's, 64: 0.001 below to 0.014
    above): a longer context overfits small data sooner. Not run at 128: the
    Langevin systems and the grid walker's seed 1 (``docs/benchmarks.md``).
    Prefer the LSTM on labels with long memory.
    """

    _window_name = "context_length"
    #: a transformer carries no state between windows
    carry_state = False

    def __init__(self, d_model=64, n_layers=1, n_heads=4, context_length=128, batch_size=64,
                 epochs="auto", learning_rate=1e-3, lr_schedule="cosine", stride="auto",
                 validation_fraction=0.1, selection="generated", calibrate=True,
                 n_states=None, device="auto", seed=None, verbose=False, lr_scaling=None,
                 precision="float32"):
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.context_length = context_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.stride = stride
        self.validation_fraction = validation_fraction
        self.selection = selection
        self.calibrate = calibrate
        self.n_states = n_states
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.lr_scaling = lr_scaling
        self.precision = precision
        self._model = None

    @property
    def seq_length(self):
        """Predicted states per training window: ``context_length``."""
        return self.context_length

    def _check_network(self):
        from ._transformer import TransformerConfig   # torch: see fit

        TransformerConfig(2, self.d_model, self.n_layers, self.n_heads, self.context_length)

    def _network(self, n_states):
        from .model import CharTransformer

        return CharTransformer(n_states, self.d_model, self.n_layers, self.n_heads,
                               self.context_length)


def fit_many(estimators, datasets, n_workers=None, threads_per_worker=1, metadata=None):
    """Fit several estimators at once, each in a process of its own.

    Independent models (seeds, hyperparameters, replicas of the data) are the
    unit of parallelism that pays on a CPU: one small LSTM does not use more
    than a core or two well, so ``n`` fits on ``n`` cores take about the time
    of one. The processes are started with ``torch.multiprocessing``'s
    ``spawn`` method, which costs each worker a Python start and the import of
    torch (1-5 s); it pays when one fit takes longer than that. Give
    estimators different ``device="cuda:N"`` to spread fits over GPUs.

    Parameters
    ----------
    estimators : sequence of LSTMEstimator
        Unfitted or fitted estimators; each is refitted on its dataset.
    datasets : sequence
        One entry per estimator, each what :meth:`LSTMEstimator.fit` takes as
        ``dtrajs`` (one state sequence or a list of them).
    n_workers : int, optional
        Processes; default: as many as there are estimators, at most
        ``os.cpu_count() // threads_per_worker``. With 1, the fits run one
        after the other in this process (no process is started, and
        `threads_per_worker` does not apply).
    threads_per_worker : int
        torch threads in each process.
    metadata : dict, optional
        Passed to every :meth:`LSTMEstimator.fit`.

    Returns
    -------
    list of LSTMEstimator
        The fitted estimators, in the order given (copies: the objects passed
        in are left as they were). With a seed and the same number of
        threads, each equals the fit of the same estimator in this process.

    Raises
    ------
    TypeError, ValueError
        Naming the offending argument, before any process starts.

    Warns
    -----
    UserWarning
        A warning of a worker's fit, raised again here with the index of its
        estimator.
    """
    estimators, datasets = list(estimators), list(datasets)
    if not estimators:
        raise ValueError("estimators is empty: nothing to fit")
    for k, est in enumerate(estimators):
        if not isinstance(est, LSTMEstimator):
            raise TypeError(f"estimators[{k}] must be an LSTMEstimator, "
                            f"got {type(est).__name__}")
        est._check_params()
    if len(datasets) != len(estimators):
        raise ValueError(f"datasets must hold one entry per estimator: {len(estimators)} "
                         f"estimators, {len(datasets)} datasets")
    datasets = [as_dtraj_list(data, f"datasets[{k}]", est.n_states)
                for k, (est, data) in enumerate(zip(estimators, datasets))]
    threads = positive_int(threads_per_worker, "threads_per_worker")
    if n_workers is None:
        n_workers = min(len(estimators), max(1, (os.cpu_count() or 1) // threads))
    n_workers = positive_int(n_workers, "n_workers")
    if n_workers == 1:  # no process to start: fit here, on copies, with this process's threads
        results = [_fit(copy.deepcopy(est), data, metadata)
                   for est, data in zip(estimators, datasets)]
        return _raise_caught(results)
    import torch   # see fit

    context = torch.multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(n_workers, mp_context=context,
                                                initializer=torch.set_num_threads,
                                                initargs=(threads,)) as pool:
        results = list(pool.map(_fit, estimators, datasets,
                                [metadata] * len(estimators)))
    return _raise_caught(results)


def _raise_caught(results):
    """The fitted estimators; their fits' warnings raised again, naming the estimator."""
    # a worker's warnings reach the caller's filters only when raised here
    for k, (_, caught) in enumerate(results):
        for message, category in caught:
            warnings.warn(f"estimators[{k}]: {message}", category, stacklevel=3)
    return [fitted for fitted, _ in results]


def _fit(estimator, dtrajs, metadata=None):
    """One fit of :func:`fit_many`: the fitted estimator and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = estimator.fit(dtrajs, metadata=metadata)
    return fitted, [(str(w.message), w.category) for w in caught]
