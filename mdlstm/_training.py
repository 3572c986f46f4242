"""How :class:`~mdlstm.train.LSTMEstimator` trains: windows, passes, candidates, checkpoints.

The internals of :meth:`mdlstm.train.LSTMEstimator.fit`, one piece each: the
two layouts of training windows (carried state, shuffled), the forward and
backward pass of a chunk of windows and the threads that run chunks side by
side, the selection of candidates by their generated chains, the state a
run carries from evaluation to evaluation and its checkpoint file.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import _recipe
from ._calibration import calibrate
from ._checks import as_dtraj_list, seed_value
from .model import LSTMModel, _state_dtype, atomic_write, prompts, sequence_nll

#: ``precision`` -> autocast dtype (None: plain float32).
_AUTOCAST = {"float32": None, "bfloat16": torch.bfloat16}


def _observed_transitions(trajs, n_states):
    """The one-step changes ``[i, j]`` (``i != j``) that occur in the data."""
    seen = _recipe.pair_counts(trajs, n_states) > 0
    np.fill_diagonal(seen, False)
    return np.argwhere(seen).tolist()


class _Selector:
    """How close the chains of a candidate network come to the data.

    The candidate generates :data:`~mdlstm.train.SELECTION_CHAINS` chains prompted with
    windows of the training data (:func:`~mdlstm.model.prompts`), with the
    same random numbers for every candidate, and states the data never
    visited masked, as :meth:`~mdlstm.model.LSTMModel.generate` does by
    default. The chains are compared with all of the data (training part
    and held-out block together): the held-out block alone holds too few
    visits of slow states to measure populations.
    """

    def __init__(self, trajs, train, n_states, seq_length, seed, metadata):
        self.n_states, self.seed, self.metadata = n_states, seed, metadata
        self.data = _recipe.frequencies(trajs, n_states)
        self.prompts = prompts(train, _recipe.SELECTION_CHAINS, seq_length)
        # at most four times the data: the data's own noise dominates beyond
        n_chars = min(_recipe.SELECTION_CHARACTERS, 4 * sum(len(t) for t in trajs))
        longest = max(len(t) for t in train)
        self.n_steps = max(1, min(longest, n_chars // _recipe.SELECTION_CHAINS))

    def __call__(self, net):
        model = LSTMModel(copy.deepcopy(net), self.metadata, device=net.head.weight.device)
        chains = model.generate(self.n_steps, n_trajectories=_recipe.SELECTION_CHAINS,
                                prompt=self.prompts, seed=self.seed)
        errors = _recipe.frequency_errors(
            _recipe.frequencies(list(chains.astype(np.int64)), self.n_states), self.data)
        return {**errors, "score": sum(errors.values())}


class _ShuffledWindows:
    """Windows every ``stride`` states, shuffled each epoch, each from a zero state."""

    def __init__(self, train, seq_length, batch_size, stride):
        self.stride = stride
        self.starts = _recipe.window_starts(train, seq_length + 1, stride)
        self.batch = max(1, min(batch_size, self.starts.size))
        self.n_updates = self.starts.size // self.batch
        # each state lies in the windows of the seq_length / stride starts before
        # it: an epoch of windows that overlap is that many passes (on small
        # data, stride="auto" overlaps them to fill an epoch, and counting the
        # epochs as passes trained a transformer on 7.2e4 states 280 times over)
        self.passes_per_epoch = seq_length / stride

    def epoch(self, rng, device):
        """(start indices, None) of every update of one epoch."""
        order = torch.as_tensor(rng.permutation(self.starts)[:self.n_updates * self.batch],
                                device=device).view(self.n_updates, self.batch)
        return ((starts, None) for starts in order)

    def describe(self):
        return {"carry_state": False, "stride": self.stride,
                "n_windows": int(self.starts.size), "batch_size": self.batch}


class _CarriedWindows:
    """Consecutive windows in ``batch_size`` streams, the LSTM state carried along.

    Trajectory ``k`` of the training part holds ``(len_k - 1) // seq_length``
    windows of ``seq_length + 1`` states, each starting where the previous
    one's targets end, at an offset drawn every epoch within the slack the
    trajectory leaves. The windows of all trajectories, in order and rotated
    by a random amount, are cut into ``batch`` streams of equal length; the
    left-over windows (fewer than ``batch``) sit out the epoch. Update ``t``
    takes window ``t`` of every stream; ``keep`` is False where the LSTM
    state must start from zeros (a stream's or a trajectory's first window).
    """

    def __init__(self, train, seq_length, batch_size):
        self.seq_length = seq_length
        self.lengths = np.array([len(t) for t in train])
        self.counts = (self.lengths - 1) // seq_length
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        n_windows = int(self.counts.sum())
        self.batch = max(1, min(batch_size, n_windows))
        self.n_updates = n_windows // self.batch
        # the windows tile the data: an epoch is one pass
        self.passes_per_epoch = 1.0

    def epoch(self, rng, device):
        """(start indices, keep flags) of every update of one epoch."""
        slack = self.lengths - 1 - self.counts * self.seq_length
        shift = rng.integers(0, slack + 1)
        starts = np.concatenate([off + s + self.seq_length * np.arange(n) for off, s, n in
                                 zip(self.offsets, shift, self.counts)])
        first = np.concatenate([np.arange(n) == 0 for n in self.counts])
        roll = int(rng.integers(starts.size))
        used = self.n_updates * self.batch
        starts = np.roll(starts, -roll)[:used].reshape(self.batch, self.n_updates)
        keep = ~np.roll(first, -roll)[:used].reshape(self.batch, self.n_updates)
        keep[:, 0] = False
        starts = torch.as_tensor(starts.T.copy(), device=device)
        keep = torch.as_tensor(keep.T.copy(), device=device)
        return zip(starts, keep)

    def describe(self):
        return {"carry_state": True, "n_windows": int(self.counts.sum()),
                "batch_size": self.batch}


class _ChunkPass:
    """Forward and backward pass of one chunk of a batch of training windows.

    A batch is cut into chunks of ``chunk`` windows: :data:`~mdlstm.train.CPU_CHUNK` on a
    CPU, the whole batch elsewhere. Called with the start indices of one
    chunk's windows and their initial LSTM state (None: zeros), it returns
    the chunk's share of the batch's mean cross-entropy (detached), that
    share's gradient for every parameter, leaving ``.grad`` untouched, and
    the LSTM state after the windows (detached; None when not carried), so
    that chunks can run in any thread and be summed in a fixed order.
    """

    def __init__(self, net, data, seq_length, batch, autocast_dtype):
        self.net, self.data, self.batch = net, data, batch
        self.chunk = _recipe.CPU_CHUNK if data.device.type == "cpu" else batch
        self.n_chunks = -(-batch // self.chunk)
        self.params = list(net.parameters())
        self.offsets = torch.arange(seq_length + 1, device=data.device)
        self.autocast_dtype = autocast_dtype

    def zero_state(self, n):
        """Zero LSTM state ``(h, c)`` of ``n`` windows."""
        lstm = self.net.lstm
        zeros = torch.zeros((lstm.num_layers, n, lstm.hidden_size), device=self.data.device)
        return zeros, zeros.clone()

    def split(self, starts, hidden):
        """The arguments of the chunks of one batch."""
        parts = starts.split(self.chunk)
        if hidden is None:
            return [(part, None) for part in parts]
        h, c = (x.split(self.chunk, dim=1) for x in hidden)
        return list(zip(parts, zip(h, c)))

    def __call__(self, item):
        starts, hidden = item
        windows = self.data[starts[:, None] + self.offsets].long()
        # grad mode and autocast are thread-local: set here, in the thread
        # that runs the chunk, whatever the caller's
        with torch.enable_grad():
            with torch.autocast(self.data.device.type, dtype=self.autocast_dtype,
                                enabled=self.autocast_dtype is not None):
                logits, state = self.net(windows[:, :-1], hidden)
                loss = nn.functional.cross_entropy(logits.flatten(0, 1),
                                                   windows[:, 1:].flatten())
            loss = loss * (len(starts) / self.batch)
            grads = torch.autograd.grad(loss, self.params)
        state = None if hidden is None else tuple(x.detach().float() for x in state)
        return loss.detach(), grads, state


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
    # workers for the cores (docs/performance.md).
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
    """Everything a training run carries from evaluation to evaluation."""

    def __init__(self, net, optimizer, scheduler, rng):
        self.net, self.optimizer, self.scheduler, self.rng = net, optimizer, scheduler, rng
        self.epoch = 0
        self.losses, self.elapsed = [], 0.0   # since the last evaluation
        self.history = {key: [] for key in (
            "epoch", "update", "train_loss", "val_loss", "learning_rate", "time_s",
            "candidate", "population_error", "transition_error")}
        # replaced by the first candidate: the last evaluation always is one
        self.best_score, self.best_epoch = np.inf, 0
        self.best_state = copy.deepcopy(net.state_dict())

    def record(self, **row):
        for key, value in row.items():
            self.history[key].append(value)

    def offer(self, score):
        """Keep the current weights if `score` is the lowest offered (ties: the later)."""
        if score <= self.best_score:
            self.best_score, self.best_epoch = score, self.epoch
            self.best_state = copy.deepcopy(self.net.state_dict())

    def state_dict(self):
        return {"epoch": self.epoch,
                "net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "rng": json.dumps(self.rng.bit_generator.state),
                "history": json.dumps(self.history), "best_score": float(self.best_score),
                "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.history = json.loads(state["history"])
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
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


def fit(est, dtrajs, metadata, checkpoint_dir, resume):
    """The body of :meth:`mdlstm.train.LSTMEstimator.fit` (its arguments and result)."""
    device = est._check_params()
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir, the directory of the "
                         "interrupted run's checkpoint")
    trajs = as_dtraj_list(dtrajs, "dtrajs", est.n_states)
    n_states = est.n_states or int(max(t.max() for t in trajs)) + 1
    if n_states < 2:
        raise ValueError("dtrajs contain a single state; at least 2 states are "
                         "needed to learn dynamics")
    train, val = _recipe.split_held_out(trajs, est.validation_fraction)
    if val and est.selection == "held_out":
        _recipe.warn_if_few_changes(val, est.validation_fraction)
    seed = seed_value(est.seed)
    windows = _windows(est, train)
    if windows.n_updates == 0:
        longest = max(len(t) for t in train)
        raise ValueError(
            f"dtrajs are too short: the longest training part has {longest} states "
            f"but one window needs {est._window_name}+1 = {est.seq_length + 1}; give longer "
            f"trajectories or a smaller {est._window_name}/validation_fraction")
    epochs = est._epochs(windows.n_updates, windows.passes_per_epoch)
    n_updates = epochs * windows.n_updates
    every = max(1, round(epochs / _recipe.N_EVALUATIONS))

    torch.manual_seed(seed)
    net = est._network(n_states).to(device)
    scaling = _recipe.LR_SCALING[est.lr_scaling]
    peak_lr = est.learning_rate * (windows.batch / _recipe.PAPER_BATCH) ** scaling
    optimizer = torch.optim.Adam(net.parameters(), lr=peak_lr)
    run = _TrainingState(net, optimizer, _scheduler(est, optimizer, n_updates),
                         np.random.default_rng(seed))
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = _Checkpoint(checkpoint_dir, _fingerprint(trajs, est._settings(n_states)))
        if resume:
            checkpoint.restore(run)
        elif checkpoint.path.exists():
            raise FileExistsError(f"{checkpoint.path} exists; pass resume=True to continue "
                                  "that run or choose another checkpoint_dir")
    counts = np.bincount(np.concatenate(trajs), minlength=n_states)
    transitions = _observed_transitions(trajs, n_states)
    selector = _Selector(trajs, train, n_states, est.seq_length, seed,
                         {"state_counts": counts.tolist(), "transitions": transitions})
    data = torch.as_tensor(np.concatenate(train).astype(_state_dtype(n_states)[0]),
                           device=device)
    passes = _ChunkPass(net, data, est.seq_length, windows.batch,
                        _AUTOCAST[est.precision])
    bar = tqdm(total=epochs, initial=run.epoch, disable=not est.verbose,
               desc="training", unit="epoch")
    with _chunk_map(passes.n_chunks) as chunk_map:
        while run.epoch < epochs:
            run.epoch += 1
            t0 = time.perf_counter()
            run.losses.append(_epoch(run, passes, windows, chunk_map))
            if run.epoch % every and run.epoch < epochs:
                run.elapsed += time.perf_counter() - t0
                bar.update(1)
                continue
            candidate = run.epoch * windows.n_updates >= _recipe.CANDIDATE_PHASE * n_updates
            _evaluate(est, run, val, device, selector, candidate, windows.n_updates)
            run.history["time_s"].append(run.elapsed + time.perf_counter() - t0)
            run.elapsed = 0.0
            if checkpoint is not None:
                checkpoint.save(run)
            bar.update(1)
            bar.set_postfix(train=f"{run.history['train_loss'][-1]:.4f}",
                            val="-" if not val else f"{run.history['val_loss'][-1]:.4f}")
    bar.close()
    net.load_state_dict(run.best_state)
    run.history["kept"] = [epoch == run.best_epoch for epoch in run.history["epoch"]]
    est.history = run.history
    est.best_epoch = run.best_epoch
    meta = dict(metadata or {})
    meta.update(history=run.history, best_epoch=run.best_epoch,
                state_counts=counts.tolist(), transitions=transitions,
                # the settings, then what they came to on these data
                training={**est._settings(n_states), "seed": seed,
                          "n_characters": int(sum(len(t) for t in trajs)),
                          "n_trajectories": len(trajs), **windows.describe(),
                          "n_epochs": epochs, "n_updates": n_updates,
                          "peak_learning_rate": peak_lr})
    est._model = LSTMModel(net, meta, device=device)
    if est.calibrate:
        with tqdm(total=_recipe.CALIBRATION_ITERATIONS + 1, disable=not est.verbose,
                  desc="calibrating", unit="round") as bar:
            est._model = calibrate(est._model, trajs, seed, est.seq_length,
                                   progress=lambda: bar.update(1))
        record = est._model.metadata["calibration"]
        est.history["calibration"] = {key: record[key] for key in
                                      ("population_error", "transition_error")}
    return est


def _evaluate(est, run, val, device, selector, candidate, updates_per_epoch):
    """Score the held-out block (and, for a candidate, the chains) into history."""
    run.net.eval()
    val_loss = _mean_nll(run.net, val, device) if val else None
    errors = selector(run.net) if candidate and est.selection == "generated" else {}
    train_loss = float(np.mean(run.losses))
    run.losses = []
    run.record(epoch=run.epoch, update=run.epoch * updates_per_epoch,
               train_loss=train_loss, val_loss=val_loss,
               learning_rate=run.optimizer.param_groups[0]["lr"], candidate=candidate,
               population_error=errors.get("population_error"),
               transition_error=errors.get("transition_error"))
    if candidate:
        score = {"generated": errors.get("score"),
                 "held_out": train_loss if val_loss is None else val_loss,
                 "last": -run.epoch}[est.selection]
        run.offer(score)


def _epoch(run, passes, windows, chunk_map):
    """One pass over the training windows; mean training loss."""
    net, optimizer = run.net, run.optimizer
    device = passes.data.device
    net.train()
    total = torch.zeros((), device=device)
    hidden = None
    for starts, keep in windows.epoch(run.rng, device):
        if keep is not None:
            hidden = passes.zero_state(len(starts)) if hidden is None else tuple(
                x * keep[None, :, None] for x in hidden)
        # summed in chunk order as they arrive, whichever thread computed
        # each: the same step as one backward pass accumulating chunk
        # after chunk, holding one set of gradients
        grads, states = None, []
        for loss, chunk_grads, chunk_state in chunk_map(passes, passes.split(starts, hidden)):
            total += loss
            states.append(chunk_state)
            # out of place: a backend may return one tensor for two
            # parameters (e.g. the two LSTM biases)
            grads = chunk_grads if grads is None else [
                grad + part for grad, part in zip(grads, chunk_grads, strict=True)]
        if keep is not None:
            hidden = tuple(torch.cat(parts, dim=1) for parts in zip(*states))
        for param, grad in zip(passes.params, grads, strict=True):
            param.grad = grad
        optimizer.step()
        run.scheduler.step()
    return total.item() / windows.n_updates


def _windows(est, train):
    batch = est.batch_size
    if est.carry_state:
        return _CarriedWindows(train, est.seq_length, batch)
    if est.stride == "auto":
        n_chars = sum(len(t) for t in train)
        stride = int(np.clip(round(n_chars / _recipe.AUTO_WINDOWS_PER_EPOCH), 1, est.seq_length))
    else:
        stride = int(est.stride)
    return _ShuffledWindows(train, est.seq_length, batch, stride)


def _scheduler(est, optimizer, n_steps):
    if est.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, n_steps) / n_steps)))
