"""Training the state-sequence language model: :class:`LSTMEstimator`.

The estimator follows the deeptime/scikit-learn pattern: parameters are set in
``__init__`` and stored verbatim, ``fit`` validates its input and trains, and
``fetch_model()`` returns the trained :class:`~mdlstm.model.LSTMModel`::

    model = LSTMEstimator(epochs=20, seed=0).fit(dtrajs).fetch_model()

What happens in ``fit``
-----------------------
1. The last ``validation_fraction`` of every trajectory is held out as one
   contiguous block (the paper validated on a prefix of its training data; a
   held-out block in time is the honest test of a dynamical model).
2. Training windows of ``seq_length + 1`` states start every ``stride`` states
   inside each trajectory's training part; no window crosses a boundary between
   trajectories. Input is ``window[:-1]``, target ``window[1:]``.
3. Each epoch visits the windows in a fresh random order in batches of
   ``batch_size`` (incomplete batches dropped, as in the paper), the LSTM state
   starting from zeros in every batch. Adam minimises the mean cross-entropy in
   nats per character; the learning rate decays along a cosine from
   ``learning_rate`` to zero over all planned optimizer steps.
4. After each epoch the held-out block is scored with the LSTM state carried
   through it, exactly as the model runs when it generates. Training stops when
   that loss has not improved for ``patience`` epochs, and the best weights are
   restored (also with ``patience=None``). A block with fewer than
   ``MIN_HELD_OUT_CHANGES`` state changes draws a warning: its loss may be
   noise at the level that separates epochs.

Why overlapping windows
-----------------------
The paper cut 1.6e6 characters into non-overlapping windows, ~250 batches an
epoch. Users have 1e4-1e6 frames; non-overlapping windows then give a few
optimizer steps an epoch and the generated kinetics come out too fast. With the
default ``stride="auto"`` the stride is chosen so that an epoch holds about
8,000 windows (stride 1 up to ``seq_length``), i.e. a roughly constant
budget of optimizer steps whatever the data size.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ._checks import as_dtraj_list, integer_at_least, positive_float, positive_int, seed_value
from .model import (CharLSTM, LSTMModel, _state_dtype, atomic_write, resolve_device,
                    sequence_nll)

__all__ = ["LSTMEstimator", "fit_many"]

#: Windows per epoch aimed at by ``stride="auto"``.
AUTO_WINDOWS_PER_EPOCH = 8_000
#: On a CPU, a batch is run forward and backward in chunks of at most this
#: many windows, their gradients summed: the same optimizer step (up to
#: rounding), faster, because oneDNN's LSTM slows down per character once a
#: batch's activations outgrow the caches (benchmarks/perf.py, batch 256).
#: With several torch threads the chunks of a batch run side by side (see
#: :func:`_chunk_map`).
CPU_CHUNK = 64
#: Fewer state changes than this in the held-out block draw a warning when it
#: drives early stopping. In the fidelity benchmark (docs/benchmarks.md) blocks
#: with ~70 (4-state) and ~120 (triangular 3-state) changes picked epochs by
#: noise and kept undertrained models; ~1,200 (linear 3-state) and ~1,200-1,400
#: (alanine dipeptide) worked, and so did ~300 in the tests' 3-state chain.
MIN_HELD_OUT_CHANGES = 200
#: Batch size of the paper, the reference of ``lr_scaling``.
PAPER_BATCH = 64
#: Exponent of ``batch_size / PAPER_BATCH`` that scales the learning rate.
LR_SCALING = {None: 0.0, "sqrt": 0.5, "linear": 1.0}
#: Training arithmetic: ``precision`` -> autocast dtype (None: plain float32).
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


class LSTMEstimator:
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
        Characters per training window (paper: 100).
    batch_size : int
        Windows per optimizer step (paper: 64).
    epochs : int
        Maximum passes over the training windows (paper: 20).
    learning_rate : float
        Peak Adam learning rate (with ``lr_scaling``: the rate of a batch of
        64). The default 3e-3 with cosine decay converges on 1e4-1e6 frames
        where the paper's constant 1e-3 left populations and rates visibly
        off (see the design notes).
    lr_scaling : {None, "sqrt", "linear"}
        Scale the peak learning rate with the batch: ``learning_rate *
        (batch / 64) ** p`` with p = 1/2 (``"sqrt"``, the usual rule for
        Adam) or 1 (``"linear"``), where ``batch`` is ``batch_size`` (or the
        number of windows, when there are fewer); None keeps
        ``learning_rate`` whatever the batch. A larger batch makes fewer,
        better-averaged optimizer steps per epoch; scaling the rate keeps the
        distance travelled per epoch.
    lr_schedule : {"cosine", "constant"}
        Learning-rate schedule over all planned optimizer steps.
    stride : int or "auto"
        Offset between the starts of consecutive training windows; equal to
        ``seq_length`` reproduces the paper's non-overlapping windows.
    validation_fraction : float
        Fraction (0 <= f < 1) of every trajectory, taken from its end, held
        out for validation and early stopping; 0 disables both.
    patience : int or None
        Epochs without improvement of the held-out loss before stopping.
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
        Seeds weight initialisation and window shuffling; the same seed gives
        the same model on CPU.
    verbose : bool
        Show a progress bar with the losses.

    Attributes
    ----------
    history : dict
        Per epoch: ``"epoch"``, ``"train_loss"``, ``"val_loss"`` (nats per
        character; ``val_loss`` None without validation), ``"learning_rate"``,
        ``"time_s"``; set by :meth:`fit`.
    best_epoch : int
        Epoch whose weights were kept.
    """

    def __init__(self, embedding_dim=8, hidden_size=64, n_layers=1, seq_length=100,
                 batch_size=64, epochs=20, learning_rate=3e-3, lr_schedule="cosine",
                 stride="auto", validation_fraction=0.1, patience=5, n_states=None,
                 device="auto", seed=None, verbose=False, lr_scaling=None,
                 precision="float32"):
        self.embedding_dim = embedding_dim
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.seq_length = seq_length
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.stride = stride
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.n_states = n_states
        self.device = device
        self.seed = seed
        self.verbose = verbose
        self.lr_scaling = lr_scaling
        self.precision = precision
        self._model = None

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        for name in ("embedding_dim", "hidden_size", "n_layers", "seq_length",
                     "batch_size", "epochs"):
            positive_int(getattr(self, name), name)
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
        if self.stride != "auto":
            positive_int(self.stride, "stride")
        f = self.validation_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1:
            raise ValueError(f"validation_fraction must be a number in [0, 1), got {f!r}")
        if self.patience is not None:
            positive_int(self.patience, "patience")
        if self.n_states is not None:
            integer_at_least(self.n_states, "n_states", 2)
        seed_value(0 if self.seed is None else self.seed)
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
            epoch (atomically: temporary file, fsync, rename), so an
            interrupted run loses at most one epoch.
        resume : bool
            Continue from the checkpoint in ``checkpoint_dir`` (start afresh if
            there is none). The data and settings must be those of the
            interrupted run; on CPU the result is then bit-identical to an
            uninterrupted run.

        Returns
        -------
        self
        """
        device = self._check_params()
        if resume and checkpoint_dir is None:
            raise ValueError("resume=True needs checkpoint_dir, the directory of the "
                             "interrupted run's checkpoint")
        trajs = as_dtraj_list(dtrajs, "dtrajs", self.n_states)
        n_states = self.n_states or int(max(t.max() for t in trajs)) + 1
        if n_states < 2:
            raise ValueError("dtrajs contain a single state; at least 2 states are "
                             "needed to learn dynamics")
        train, val = split_held_out(trajs, self.validation_fraction)
        if val:
            _warn_if_few_changes(val, self.validation_fraction)
        stride = self._stride(train)
        starts = window_starts(train, self.seq_length + 1, stride)
        if starts.size == 0:
            longest = max(len(t) for t in train)
            raise ValueError(
                f"dtrajs are too short: the longest training part has {longest} states "
                f"but one window needs seq_length+1 = {self.seq_length + 1}; give longer "
                "trajectories or a smaller seq_length/validation_fraction")

        seed = seed_value(self.seed)
        torch.manual_seed(seed)
        net = CharLSTM(n_states, self.embedding_dim, self.hidden_size, self.n_layers).to(device)
        batch = min(self.batch_size, starts.size)
        n_batches = starts.size // batch
        peak_lr = self.learning_rate * (batch / PAPER_BATCH) ** LR_SCALING[self.lr_scaling]
        optimizer = torch.optim.Adam(net.parameters(), lr=peak_lr)
        run = _TrainingState(net, optimizer, self._scheduler(optimizer, self.epochs * n_batches),
                             np.random.default_rng(seed))
        checkpoint = None
        if checkpoint_dir is not None:
            checkpoint = _Checkpoint(checkpoint_dir, _fingerprint(trajs, self._settings(n_states)))
            if resume:
                checkpoint.restore(run)
            elif checkpoint.path.exists():
                raise FileExistsError(f"{checkpoint.path} exists; pass resume=True to continue "
                                      "that run or choose another checkpoint_dir")
        data = torch.as_tensor(np.concatenate(train).astype(_state_dtype(n_states)[0]),
                               device=device)
        passes = _ChunkPass(net, data, self.seq_length, batch, PRECISIONS[self.precision])
        bar = tqdm(total=self.epochs, initial=run.epoch, disable=not self.verbose,
                   desc="training", unit="epoch")
        with _chunk_map(passes.n_chunks) as chunk_map:
            while not run.finished:
                run.epoch += 1
                t0 = time.perf_counter()
                lr = optimizer.param_groups[0]["lr"]
                train_loss = self._epoch(run, passes, starts, chunk_map)
                run.net.eval()
                val_loss = _mean_nll(run.net, val, device) if val else None
                run.record(epoch=run.epoch, train_loss=train_loss, val_loss=val_loss,
                           learning_rate=lr, time_s=time.perf_counter() - t0)
                run.finished = run.epoch >= self.epochs or (
                    val_loss is not None and self.patience is not None
                    and run.epoch - run.best_epoch >= self.patience)
                if checkpoint is not None:
                    checkpoint.save(run)
                bar.update(1)
                bar.set_postfix(train=f"{train_loss:.4f}",
                                val="-" if val_loss is None else f"{val_loss:.4f}")
        bar.close()
        net.load_state_dict(run.best_state)
        self.history = run.history
        self.best_epoch = run.best_epoch
        counts = np.bincount(np.concatenate(trajs), minlength=n_states)
        meta = dict(metadata or {})
        meta.update(history=run.history, best_epoch=run.best_epoch,
                    state_counts=counts.tolist(),
                    training={"n_characters": int(sum(len(t) for t in trajs)),
                              "n_trajectories": len(trajs), "stride": stride,
                              "n_windows": int(starts.size), "batch_size": batch,
                              "seq_length": self.seq_length, "seed": seed,
                              "learning_rate": self.learning_rate,
                              "lr_scaling": self.lr_scaling, "peak_learning_rate": peak_lr,
                              "lr_schedule": self.lr_schedule,
                              "precision": self.precision,
                              "validation_fraction": self.validation_fraction})
        self._model = LSTMModel(net, meta, device=device)
        return self

    def _epoch(self, run, passes, starts, chunk_map):
        """One pass over the windows in a fresh random order; mean training loss."""
        net, optimizer, batch = run.net, run.optimizer, passes.batch
        device = passes.data.device
        net.train()
        n_batches = starts.size // batch
        order = torch.as_tensor(run.rng.permutation(starts)[:n_batches * batch],
                                device=device).view(n_batches, batch)
        total = torch.zeros((), device=device)
        for idx in order:
            # summed in chunk order as they arrive, whichever thread computed
            # each: the same step as one backward pass accumulating chunk
            # after chunk, holding one set of gradients
            grads = None
            for loss, chunk_grads in chunk_map(passes, idx.split(passes.chunk)):
                total += loss
                # out of place: a backend may return one tensor for two
                # parameters (e.g. the two LSTM biases)
                grads = chunk_grads if grads is None else [
                    grad + part for grad, part in zip(grads, chunk_grads, strict=True)]
            for param, grad in zip(passes.params, grads, strict=True):
                param.grad = grad
            optimizer.step()
            run.scheduler.step()
        return total.item() / n_batches

    def _settings(self, n_states):
        """Everything that determines the training run (for checkpoint matching)."""
        names = ("embedding_dim", "hidden_size", "n_layers", "seq_length", "batch_size",
                 "epochs", "learning_rate", "lr_scaling", "lr_schedule", "stride",
                 "validation_fraction", "patience", "precision", "seed")
        return {"n_states": n_states, **{k: getattr(self, k) for k in names}}

    def fetch_model(self):
        """The trained :class:`~mdlstm.model.LSTMModel` (None before :meth:`fit`)."""
        return self._model

    # ------------------------------------------------------------------ internals
    def _stride(self, train):
        if self.stride != "auto":
            return int(self.stride)
        n_chars = sum(len(t) for t in train)
        return int(np.clip(round(n_chars / AUTO_WINDOWS_PER_EPOCH), 1, self.seq_length))

    def _scheduler(self, optimizer, n_steps):
        if self.lr_schedule == "constant":
            return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, n_steps) / n_steps)))


def fit_many(estimators, datasets, n_workers=None, threads_per_worker=1):
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
        ``os.cpu_count() // threads_per_worker``.
    threads_per_worker : int
        torch threads in each process.

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
    context = torch.multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(n_workers, mp_context=context,
                                                initializer=torch.set_num_threads,
                                                initargs=(threads,)) as pool:
        results = list(pool.map(_fit, estimators, datasets))
    # a worker's warnings reach the caller's filters only when raised here
    for k, (_, caught) in enumerate(results):
        for message, category in caught:
            warnings.warn(f"estimators[{k}]: {message}", category, stacklevel=2)
    return [fitted for fitted, _ in results]


def _fit(estimator, dtrajs):
    """One fit in a worker of :func:`fit_many`: the fitted estimator and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted = estimator.fit(dtrajs)
    return fitted, [(str(w.message), w.category) for w in caught]


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


def _warn_if_few_changes(val, fraction):
    """Warn when the held-out block has too few state changes to choose epochs by."""
    changes = sum(int(np.count_nonzero(np.diff(v))) for v in val)
    if changes < MIN_HELD_OUT_CHANGES:
        warnings.warn(
            f"the held-out block (validation_fraction={fraction}) holds only {changes} "
            f"state changes (fewer than {MIN_HELD_OUT_CHANGES}): its loss, which picks the "
            "epoch whose weights are kept and drives early stopping, may be too noisy to "
            "tell one epoch from the next, and an undertrained model may be kept. With "
            "rare transitions, train on all the data for a fixed number of epochs "
            "(validation_fraction=0; mdlstm: --validation-fraction 0) and score the model "
            "on independent data; see the user guide, 'Rare transitions'.",
            UserWarning, stacklevel=3)


class _ChunkPass:
    """Forward and backward pass of one chunk of a batch of training windows.

    A batch is cut into chunks of ``chunk`` windows: :data:`CPU_CHUNK` on a
    CPU, the whole batch elsewhere. Called with the start indices of one
    chunk's windows, it returns the chunk's share of the batch's mean
    cross-entropy (detached) and that share's gradient for every parameter,
    leaving ``.grad`` untouched, so that chunks can run in any thread and be
    summed in a fixed order.
    """

    def __init__(self, net, data, seq_length, batch, autocast_dtype):
        self.net, self.data, self.batch = net, data, batch
        self.chunk = CPU_CHUNK if data.device.type == "cpu" else batch
        self.n_chunks = -(-batch // self.chunk)
        self.params = list(net.parameters())
        self.offsets = torch.arange(seq_length + 1, device=data.device)
        self.autocast_dtype = autocast_dtype

    def __call__(self, starts):
        windows = self.data[starts[:, None] + self.offsets].long()
        # grad mode and autocast are thread-local: set here, in the thread
        # that runs the chunk, whatever the caller's
        with torch.enable_grad():
            with torch.autocast(self.data.device.type, dtype=self.autocast_dtype,
                                enabled=self.autocast_dtype is not None):
                logits, _ = self.net(windows[:, :-1])
                loss = nn.functional.cross_entropy(logits.flatten(0, 1),
                                                   windows[:, 1:].flatten())
            loss = loss * (len(starts) / self.batch)
            return loss.detach(), torch.autograd.grad(loss, self.params)


@contextlib.contextmanager
def _chunk_map(n_chunks):
    """A ``map`` that runs the chunks of a batch side by side on a CPU.

    With ``t`` torch threads and ``n_chunks > 1``, ``w = min(t, n_chunks)``
    worker threads each run whole chunks with ``t // w`` intra-op threads:
    oneDNN's LSTM splits each small per-step product poorly over threads, so
    independent chunks use the cores better (``docs/performance.md``). With
    one intra-op thread per worker (``t <= n_chunks``) the chunk kernels are
    those of a one-thread run, so the fit gives the same weights as with one
    thread. Otherwise (one thread, one chunk: also every GPU batch) the
    builtin ``map``.

    While the workers exist, the calling thread runs with one intra-op thread
    (the held-out scoring and the optimizer step too), and so does any thread
    that first uses torch in the meantime: :func:`torch.set_num_threads` also
    sets the default of new threads. The caller's setting is restored on exit.
    """
    threads = torch.get_num_threads()
    workers = min(threads, n_chunks)
    if workers < 2:
        yield map
        return
    # The caller's idle OpenMP helper threads otherwise compete with the
    # workers for the cores (2 cores: 1.15e6 vs 9.96e5 chars/s, docs/performance.md).
    torch.set_num_threads(1)
    try:
        with concurrent.futures.ThreadPoolExecutor(
                workers, thread_name_prefix="mdlstm-chunk", initializer=torch.set_num_threads,
                initargs=(threads // workers,)) as pool:
            yield pool.map
    finally:
        torch.set_num_threads(threads)


def _mean_nll(net, trajs, device):
    total, count = sequence_nll(net, trajs, device)
    return total / count


class _TrainingState:
    """Everything a training run carries from epoch to epoch."""

    def __init__(self, net, optimizer, scheduler, rng):
        self.net, self.optimizer, self.scheduler, self.rng = net, optimizer, scheduler, rng
        self.epoch = 0
        self.finished = False
        self.history = {"epoch": [], "train_loss": [], "val_loss": [], "learning_rate": [],
                        "time_s": []}
        self.best_loss, self.best_epoch = np.inf, 0
        self.best_state = copy.deepcopy(net.state_dict())

    def record(self, **row):
        for key, value in row.items():
            self.history[key].append(value)
        monitored = row["train_loss"] if row["val_loss"] is None else row["val_loss"]
        if monitored < self.best_loss:
            self.best_loss, self.best_epoch = monitored, row["epoch"]
            self.best_state = copy.deepcopy(self.net.state_dict())

    def state_dict(self):
        return {"epoch": self.epoch, "finished": self.finished,
                "net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": json.dumps(self.rng.bit_generator.state),
                "history": json.dumps(self.history), "best_loss": float(self.best_loss),
                "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state):
        self.epoch, self.finished = state["epoch"], state["finished"]
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.history = json.loads(state["history"])
        self.best_loss, self.best_epoch = state["best_loss"], state["best_epoch"]
        self.best_state = state["best_state"]


class _Checkpoint:
    """The training state of one run in ``directory/checkpoint.pt``.

    Written with ``torch.save`` through :func:`~mdlstm.model.atomic_write`,
    so a crash at any moment leaves the last complete checkpoint. Read with
    ``torch.load(weights_only=True)``, which refuses pickled code.
    """

    name = "checkpoint.pt"

    def __init__(self, directory, fingerprint):
        self.path = Path(directory) / self.name
        self.fingerprint = fingerprint

    def save(self, run):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        state = {"fingerprint": self.fingerprint, **run.state_dict()}
        atomic_write(self.path, lambda tmp: torch.save(state, tmp))

    def restore(self, run):
        if not self.path.exists():
            return
        try:
            state = torch.load(self.path, map_location=run.net.embedding.weight.device,
                               weights_only=True)
        except Exception as err:  # torch raises several types for damaged files
            raise ValueError(f"checkpoint {self.path} cannot be read safely "
                             f"(corrupted, or not an mdlstm checkpoint): {err}") from err
        if state.get("fingerprint") != self.fingerprint:
            raise ValueError(f"checkpoint {self.path} belongs to another run (different data "
                             "or settings); use a new checkpoint_dir or resume=False")
        run.load_state_dict(state)


def _fingerprint(trajs, settings):
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for traj in trajs:
        digest.update(np.ascontiguousarray(traj, dtype=np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()
