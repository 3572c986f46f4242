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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .model import LSTMModel, atomic_write, prompts, sequence_nll

#: Chains and characters generated per candidate to choose the kept weights.
SELECTION_CHAINS = 64


SELECTION_CHARACTERS = 1_000_000


#: On a CPU, a batch is run forward and backward in chunks of at most this
#: many windows, their gradients summed: the same optimizer step (up to
#: rounding), faster, because oneDNN's LSTM slows down per character once a
#: batch's activations outgrow the caches (``docs/performance.md``). With
#: several torch threads the chunks of a batch run side by side (see
#: :func:`_chunk_map`).
CPU_CHUNK = 64


def window_starts(trajs, length, stride):
    """Start indices (into the concatenated trajectories) of all windows."""
    starts, offset = [], 0
    for traj in trajs:
        if len(traj) >= length:
            starts.append(offset + np.arange(0, len(traj) - length + 1, stride))
        offset += len(traj)
    return np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)


def _observed_transitions(trajs, n_states):
    """The one-step changes ``[i, j]`` (``i != j``) that occur in the data."""
    codes = np.unique(np.concatenate([t[:-1] * n_states + t[1:] for t in trajs]))
    pairs = np.stack([codes // n_states, codes % n_states], axis=1)
    return pairs[pairs[:, 0] != pairs[:, 1]].tolist()


def _frequencies(trajs, n_states):
    """State populations and one-step change frequencies ``i -> j`` per step."""
    visits = np.bincount(np.concatenate(trajs), minlength=n_states).astype(float)
    pairs = np.bincount(np.concatenate([t[:-1] * n_states + t[1:] for t in trajs]),
                        minlength=n_states ** 2).astype(float).reshape(n_states, n_states)
    np.fill_diagonal(pairs, 0.0)
    return visits / visits.sum(), pairs / sum(len(t) - 1 for t in trajs)


class _Selector:
    """How close the chains of a candidate network come to the data.

    The candidate generates :data:`SELECTION_CHAINS` chains prompted with
    windows of the training data (:func:`~mdlstm.model.prompts`), with the
    same random numbers for every candidate, and states the data never
    visited masked, as :meth:`~mdlstm.model.LSTMModel.generate` does by
    default. The chains are compared with all of the data (training part
    and held-out block together): the held-out block alone holds too few
    visits of slow states to measure populations.
    """

    def __init__(self, trajs, train, n_states, seq_length, seed, metadata):
        self.n_states, self.seed, self.metadata = n_states, seed, metadata
        self.populations, self.changes = _frequencies(trajs, n_states)
        self.prompts = prompts(train, SELECTION_CHAINS, seq_length)
        # at most four times the data: the data's own noise dominates beyond
        n_chars = min(SELECTION_CHARACTERS, 4 * sum(len(t) for t in trajs))
        self.n_steps = max(1, min(max(len(t) for t in train), n_chars // SELECTION_CHAINS))

    def __call__(self, net):
        model = LSTMModel(copy.deepcopy(net), self.metadata, device=net.head.weight.device)
        chains = model.generate(self.n_steps, n_trajectories=SELECTION_CHAINS,
                                prompt=self.prompts, seed=self.seed)
        populations, changes = _frequencies(list(chains.astype(np.int64)), self.n_states)
        population_error = 0.5 * float(np.abs(populations - self.populations).sum())
        total = self.changes.sum()
        transition_error = float(np.abs(changes - self.changes).sum() / total) if total else 0.0
        return {"population_error": population_error, "transition_error": transition_error,
                "score": population_error + transition_error}


class _ShuffledWindows:
    """Windows every ``stride`` states, shuffled each epoch, each from a zero state."""

    def __init__(self, train, seq_length, batch_size, stride):
        self.stride = stride
        self.starts = window_starts(train, seq_length + 1, stride)
        self.batch = max(1, min(batch_size, self.starts.size))
        self.n_updates = self.starts.size // self.batch

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

    A batch is cut into chunks of ``chunk`` windows: :data:`CPU_CHUNK` on a
    CPU, the whole batch elsewhere. Called with the start indices of one
    chunk's windows and their initial LSTM state (None: zeros), it returns
    the chunk's share of the batch's mean cross-entropy (detached), that
    share's gradient for every parameter, leaving ``.grad`` untouched, and
    the LSTM state after the windows (detached; None when not carried), so
    that chunks can run in any thread and be summed in a fixed order.
    """

    def __init__(self, net, data, seq_length, batch, autocast_dtype):
        self.net, self.data, self.batch = net, data, batch
        self.chunk = CPU_CHUNK if data.device.type == "cpu" else batch
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
