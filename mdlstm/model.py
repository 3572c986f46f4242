"""The language model of state sequences and the trained-model object.

The network is the one of Tsai, Kuo & Tiwary (2020): every state ("character")
is embedded, an LSTM reads the embedded sequence and a linear layer turns its
output into logits over the next state::

    state_t --Embedding--> e_t --LSTM--> h_t --Linear--> logits of state_t+1

:class:`LSTMModel` is what :class:`mdlstm.LSTMEstimator` returns. It generates
new state sequences (many chains at once, one batch on the device), scores
held-out data in nats per character and saves itself to a single file that
cannot execute code when read (safetensors weights plus JSON metadata).

Two architectures
-----------------
The network may also be a decoder-only transformer, :class:`CharTransformer`
(:class:`mdlstm.TransformerEstimator`): pre-norm blocks of causal
multi-head attention (:func:`torch.nn.functional.scaled_dot_product_attention`)
and an MLP, with rotary positions, each state predicted from the
``context_length`` states up to it. Each architecture is one network class
with its configuration type (:data:`ARCHITECTURES`); everything else is one
code path for both: :class:`LSTMModel` (generate, score, prompts, masks),
the training loop, checkpoints and the model file, whose header names the
``architecture`` (files without it, all those of format 1, are LSTMs).

Both networks have the same interface, ``network(states, state) -> (logits,
state)``, where the carried state is an LSTM's ``(h, c)`` or a transformer's
:class:`KVCache` (the keys and values of the last ``context_length - 1``
positions): scoring reads a long trajectory chunk after chunk with either,
and generation reads the prompt with it. Sampling advances the chains one
state at a time through an object of the architecture (stacked LSTMs:
``_LSTMChains``; a transformer: a ring buffer of the last
``context_length`` keys and values per layer, whose cost per character does
not grow with the chains), and everything around it (random numbers, masks,
streaming to disk, resuming) is shared.

Why rotary positions and a band: the keys of a state depend only on the
states within ``context_length`` before it and carry their position as a
rotation, so a key stays valid while it is in the band and never has to be
recomputed: the cache rolls, and a cached generation gives the logits of
one forward pass over the same sequence (to float rounding; tested).

Example
-------
>>> model = LSTMEstimator(epochs=5, seed=0).fit(dtraj).fetch_model()  # doctest: +SKIP
>>> gen = model.generate(n_steps=10_000, n_trajectories=64, prompt=dtraj[:100], seed=1)
>>> model.score(held_out)          # mean nats per character
>>> model.save("model.mdlstm"); LSTMModel.load("model.mdlstm")
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import ClassVar

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ._checks import as_dtraj_list, check_states, positive_float, positive_int, seed_value
from ._io import (FORMAT_VERSION, NetworkConfig, _FileSink, _MemorySink, atomic_write,
                  load_generated, read_model, write_model)
from ._transformer import CharTransformer, KVCache, TransformerConfig, _CachedStepper

__all__ = ["LSTMConfig", "CharLSTM", "TransformerConfig", "CharTransformer", "KVCache",
           "LSTMModel", "atomic_write", "generate_together", "load_generated", "prompts",
           "resolve_device", "sequence_nll", "ARCHITECTURES", "FORMAT_VERSION", "MASKS"]


#: What :meth:`LSTMModel.generate` may forbid: nothing, states the training
#: data never visited, or also one-step transitions it never made.
MASKS = (None, "states", "transitions")
#: Steps sampled between random-number draws (``chunk_steps``).
GENERATION_CHUNK = 4096


def resolve_device(device):
    """Turn a device specification into a :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"``,
        ``"cuda:N"``, ...

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string is not a device name or names a device that is absent.
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string such as 'auto', 'cpu' or 'cuda', "
                        f"got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r} is not a device name "
                         f"(expected 'auto', 'cpu', 'cuda' or 'cuda:N')") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available "
                             "on this machine; use device='cpu' or 'auto'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu" and not _backend_available(dev.type):
        raise ValueError(f"device {device!r} is not available on this machine")
    return dev


def _backend_available(kind):
    backend = getattr(torch.backends, kind, None)
    return bool(backend is not None and getattr(backend, "is_available", lambda: False)())


@dataclasses.dataclass(frozen=True)
class LSTMConfig(NetworkConfig):
    """The shape of the network: one type for the network, its file and the benchmarks.

    Attributes
    ----------
    n_states : int
        Alphabet size (number of discrete states).
    embedding_dim : int
        Length of the vector each state is embedded as.
    hidden_size : int
        LSTM units per layer.
    n_layers : int
        Stacked LSTM layers.
    """

    n_states: int
    embedding_dim: int = 8
    hidden_size: int = 64
    n_layers: int = 1
    #: Name of the architecture in model files.
    architecture: ClassVar[str] = "lstm"


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> Linear character model.

    Parameters
    ----------
    n_states : int
        Size of the alphabet (number of discrete states).
    embedding_dim : int
        Length of the vector each state is embedded as.
    hidden_size : int
        Number of LSTM units per layer.
    n_layers : int
        Number of stacked LSTM layers.
    """

    def __init__(self, n_states, embedding_dim=8, hidden_size=64, n_layers=1):
        super().__init__()
        self.embedding = nn.Embedding(n_states, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, n_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, n_states)

    def forward(self, states, hidden=None):
        """Logits of the next state after every position.

        Parameters
        ----------
        states : torch.LongTensor, shape (batch, time)
        hidden : tuple of torch.Tensor, optional
            ``(h, c)``, each (n_layers, batch, hidden_size); zeros when None.

        Returns
        -------
        logits : torch.Tensor, shape (batch, time, n_states)
        hidden : tuple of torch.Tensor
            The LSTM state after the last position.
        """
        out, hidden = self.lstm(self.embedding(states), hidden)
        return self.head(out), hidden

    @property
    def config(self):
        """The network's :class:`LSTMConfig`."""
        return LSTMConfig(self.embedding.num_embeddings, self.embedding.embedding_dim,
                          self.lstm.hidden_size, self.lstm.num_layers)

    @classmethod
    def from_config(cls, config):
        """A new (untrained) network of this shape."""
        return cls(**dataclasses.asdict(config))

    def describe(self):
        return f"embedding {self.embedding.embedding_dim}, " \
               f"{self.lstm.num_layers}x{self.lstm.hidden_size} LSTM"


#: Architecture name in model files -> (configuration type, network type).
ARCHITECTURES = {"lstm": (LSTMConfig, CharLSTM),
                 "transformer": (TransformerConfig, CharTransformer)}


class _Stepper:
    """One-character-at-a-time LSTM update for sampling, with fused inputs.

    Advances the chains of ``K`` networks of one shape together: their
    weights are stacked, every product is one batched ``bmm`` over the
    models, so a step of ``K`` models costs the tensor operations of one
    (a CPU step of a small LSTM is bound by their dispatch, not by
    arithmetic). States are ``(K, B)``, ``h``/``c`` lists per layer of
    ``(K, B, hidden)``.

    Because the input of the first layer is one of ``n_states`` embeddings,
    its input projection ``W_ih e + b_ih + b_hh`` is a lookup table computed
    once; a step then costs one ``h @ W_hh`` product per layer and the head.

    ``tanh(x)`` is computed as ``2 sigmoid(2x) - 1`` (equal to within 2e-7):
    with MKL, torch's CPU ``tanh`` runs MKL's vector math, which took 10x
    the time of ``sigmoid`` on the AMD processor of ``docs/performance.md``.
    The rows of the cell-input gate ``g`` are doubled in the weights (exact
    in floating point), so one ``sigmoid`` covers all four gates.

    ``logit_masks`` (one ``(n_states, n_states)`` tensor or None per
    network), added to the logits by the current state, forbid states or
    transitions with ``-inf`` entries.
    """

    @torch.no_grad()
    def __init__(self, nets, logit_masks=None):
        lstm = nets[0].lstm
        self.n_layers, hidden = lstm.num_layers, lstm.hidden_size
        self.n_states = nets[0].embedding.num_embeddings
        device = nets[0].head.weight.device
        # gate order i, f, g, o: double the pre-activations of g
        scale = torch.ones(4 * hidden, device=device)
        scale[2 * hidden:3 * hidden] = 2.0

        def stacked(weights):
            return torch.stack(weights).contiguous()

        def layer(net, k):
            return (getattr(net.lstm, f"weight_ih_l{k}") * scale[:, None],
                    getattr(net.lstm, f"weight_hh_l{k}") * scale[:, None],
                    (getattr(net.lstm, f"bias_ih_l{k}")
                     + getattr(net.lstm, f"bias_hh_l{k}")) * scale)

        w = [[layer(net, k) for net in nets] for k in range(self.n_layers)]
        # lookup tables of all models in one (K * n_states, 4 hidden) matrix
        self.table = torch.cat([net.embedding.weight @ wk[0].T + wk[2]
                                for net, wk in zip(nets, w[0])])
        self.offsets = torch.arange(len(nets), device=device)[:, None] * self.n_states
        self.w_hh = [stacked([wk[1].T for wk in layer_w]) for layer_w in w]
        self.w_ih = [None] + [stacked([wk[0].T for wk in layer_w]) for layer_w in w[1:]]
        self.b = [None] + [stacked([wk[2][None] for wk in layer_w]) for layer_w in w[1:]]
        self.w_out = stacked([net.head.weight.T for net in nets])
        self.b_out = stacked([net.head.bias[None] for net in nets])
        masks = list(logit_masks or [None] * len(nets))
        self.logit_mask = None
        if any(m is not None for m in masks):
            zeros = torch.zeros((self.n_states, self.n_states), device=device)
            self.logit_mask = torch.cat([zeros if m is None else m for m in masks])

    def _rows(self, table, states):
        """Row ``states[k, b]`` of model ``k``'s block of ``table``: (K, B, width)."""
        flat = (states + self.offsets).reshape(-1)
        return table.index_select(0, flat).reshape(*states.shape, -1)

    @torch.no_grad()  # sampling needs no gradients, and the gates are updated in place
    def __call__(self, states, h, c):
        """Advance every chain by one character; ``h``/``c`` are lists per layer."""
        x = None
        for k in range(self.n_layers):
            if k == 0:
                gates = torch.baddbmm(self._rows(self.table, states), h[k], self.w_hh[k])
            else:
                gates = torch.baddbmm(self.b[k], x, self.w_ih[k]).baddbmm_(h[k], self.w_hh[k])
            i, f, g, o = gates.sigmoid_().chunk(4, dim=2)
            c[k] = torch.addcmul(f * c[k], i, g.mul_(2).sub_(1))
            h[k] = o * _tanh(c[k])
            x = h[k]
        logits = torch.baddbmm(self.b_out, x, self.w_out)
        if self.logit_mask is not None:
            logits += self._rows(self.logit_mask, states)
        return logits


def _tanh(x):
    """``tanh(x)`` as ``2 sigmoid(2x) - 1`` (see :class:`_Stepper`)."""
    return torch.sigmoid(x * 2).mul_(2).sub_(1)


class _LSTMChains:
    """The chains of ``K`` LSTMs advanced by a :class:`_Stepper`, with their state.

    The sampler's interface, shared with the transformer's
    :class:`~mdlstm._transformer._CachedStepper`: called with the current
    states ``(K, B)``, it returns the logits of the next ``(K, B, n_states)``;
    :meth:`state` and :meth:`load_state` are what a streamed generation
    saves and resumes.
    """

    @torch.no_grad()
    def __init__(self, nets, prompts, logit_masks):
        self.step = _Stepper(nets, logit_masks)
        warm = [_lstm_warm_up(net, p) for net, p in zip(nets, prompts)]
        self.h = [torch.stack([w[0][k] for w in warm]) for k in range(self.step.n_layers)]
        self.c = [torch.stack([w[1][k] for w in warm]) for k in range(self.step.n_layers)]

    def __call__(self, states):
        return self.step(states, self.h, self.c)

    def state(self):
        def rows(x):
            return x.reshape(-1, x.shape[-1])

        tensors = {f"h{k}": rows(h) for k, h in enumerate(self.h)}
        tensors.update({f"c{k}": rows(c) for k, c in enumerate(self.c)})
        return tensors

    def load_state(self, tensors):
        for name, view in self.state().items():
            view.copy_(tensors[name])


def _lstm_warm_up(net, prompt):
    """LSTM state after reading all but the last prompt character, per layer."""
    if prompt.shape[1] > 1:
        _, (h0, c0) = net(prompt[:, :-1])
    else:
        h0 = torch.zeros((net.lstm.num_layers, prompt.shape[0], net.lstm.hidden_size),
                         device=prompt.device)
        c0 = h0.clone()
    return list(h0.unbind(0)), list(c0.unbind(0))


def _chains(models, prompts, mask):
    """The sampler of `models` (one transformer, or LSTMs of one shape) after `prompts`."""
    masks = [m._logit_mask(mask) for m in models]
    if isinstance(models[0].network, CharLSTM):
        return _LSTMChains([m.network for m in models], prompts, masks)
    (model,), (prompt,) = models, prompts
    _, cache = model.network(prompt[:, :-1])
    return _CachedStepper(model.network, cache, masks[0])


class LSTMModel:
    """A trained state-sequence language model.

    Parameters
    ----------
    network : CharLSTM or CharTransformer
        The trained network.
    metadata : dict, optional
        JSON-serialisable facts kept with the weights: the discretizer
        (``"discretizer"``), the CV description (``"cv"``), the time of one
        step (``"dt"``, in ``"time_unit"``), the training history, ...
    device : str or torch.device
        Where the network runs.

    Attributes
    ----------
    n_states : int
        Alphabet size.
    config : LSTMConfig or TransformerConfig
        The shape of the network; its ``architecture`` says which.
    metadata : dict
    device : torch.device
    """

    def __init__(self, network, metadata=None, device="auto"):
        if not isinstance(network, (CharLSTM, CharTransformer)):
            raise TypeError(f"network must be a CharLSTM or a CharTransformer, "
                            f"got {type(network).__name__}")
        self.device = resolve_device(device)
        self.network = network.to(self.device).eval()
        self.metadata = dict(metadata or {})
        self._calibration = _calibration_bias(self.metadata.get("calibration"), self.n_states)

    @property
    def config(self):
        return self.network.config

    @property
    def architecture(self):
        """``"lstm"`` or ``"transformer"``."""
        return self.config.architecture

    @property
    def n_states(self):
        return self.network.embedding.num_embeddings

    @property
    def embedding(self):
        """Learned state embeddings, numpy array of shape (n_states, embedding_dim)."""
        return self.network.embedding.weight.detach().cpu().numpy().copy()

    @property
    def dt(self):
        """Physical time of one step, or None.

        ``metadata["dt"]``, in ``metadata["time_unit"]``.
        """
        return self.metadata.get("dt")

    def __repr__(self):
        n_par = sum(p.numel() for p in self.network.parameters())
        return (f"<LSTMModel {self.n_states} states, {self.network.describe()}, "
                f"{n_par} parameters, on {self.device}>")

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def generate(self, n_steps, n_trajectories=16, prompt=None, temperature=1.0,
                 seed=None, progress=False, out=None, resume=False,
                 chunk_steps=GENERATION_CHUNK, mask="transitions"):
        """Sample new state sequences, all chains advancing together as one batch.

        Parameters
        ----------
        n_steps : int
            Characters generated per chain (model steps; one step is the
            model's ``dt``).
        n_trajectories : int
            Number of independent chains.
        prompt : array_like of int, optional
            Warm-up sequence fed through the model before sampling. A 1-D
            sequence is shared by all chains; a 2-D array (n_trajectories,
            length) gives each chain its own. The generated chain continues
            after the prompt's last state and does not include the prompt.
            Default: each chain starts from one state drawn from the training
            data's state frequencies (``metadata["state_counts"]``), or
            uniformly when those are unknown.
        temperature : float
            Softmax temperature; 1.0 samples the learned distribution.
        seed : int, optional
            Seed of the sampler; the same seed gives the same chains on CPU.
        progress : bool
            Show a tqdm progress bar.
        out : str or os.PathLike, optional
            Stream the chains to this ``.npy`` file, ``chunk_steps`` steps at a
            time, instead of holding them in memory (for runs longer than
            memory). After every chunk the file and the sampler state (a small
            ``PATH.state`` file) are flushed to disk, so an interrupted run
            leaves the completed chunks readable (:func:`mdlstm.model.load_generated`) and
            can be continued with ``resume=True``. An existing ``out`` is
            refused unless ``resume`` is set.
        resume : bool
            Continue the interrupted generation in ``out`` (same model and
            arguments); the result is identical to an uninterrupted run.
        chunk_steps : int
            Steps sampled between random-number draws and, with ``out``,
            between flushes to disk.
        mask : {"transitions", "states", None}
            What the sampler never generates because the training data never
            showed it: ``"transitions"`` (default) forbids every one-step
            change ``i -> j`` the training data never made
            (``metadata["transitions"]``), as an MSM of the same data does,
            and so also the model's genuine predictions of rare transitions
            absent from the data; ``"states"`` forbids only states the data
            never visited (``metadata["state_counts"]``); None samples the
            learned distribution everywhere. A model without the metadata is
            not masked. A calibrated model (``metadata["calibration"]``,
            :class:`~mdlstm.LSTMEstimator` ``calibrate=True``) adds its
            fitted bias to the logits under every mask; the bias was fitted
            under ``"transitions"``, with which the chains reproduce the
            data's one-step counts.

        Returns
        -------
        numpy.ndarray, shape (n_trajectories, n_steps)
            Generated states, in the smallest unsigned integer type that holds
            them (uint8 for up to 256 states). With ``out``, a read-only
            memory-mapped view of the file.
        """
        n_steps = positive_int(n_steps, "n_steps")
        n_trajectories = positive_int(n_trajectories, "n_trajectories")
        temperature = positive_float(temperature, "temperature")
        chunk_steps = positive_int(chunk_steps, "chunk_steps")
        _check_mask(mask)
        if resume and out is None:
            raise ValueError("resume=True needs out, the file of the interrupted generation")
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed_value(seed))
        prompt = self._prompt(prompt, n_trajectories, gen)
        dtype = _state_dtype(self.n_states)
        if out is None:
            sink = _MemorySink((n_trajectories, n_steps), dtype[1], self.device)
        else:
            settings = {"n_steps": n_steps, "n_trajectories": n_trajectories,
                        "temperature": temperature, "seed": seed, "chunk_steps": chunk_steps,
                        "mask": mask, "model": self._fingerprint(),
                        "prompt": hashlib.sha256(prompt.cpu().numpy().tobytes()).hexdigest()}
            sink = _FileSink(out, (n_trajectories, n_steps), dtype[0], settings, resume)

        return _sample([self], [prompt], sink, gen, n_steps, temperature, chunk_steps,
                       progress, mask)

    def _logit_mask(self, mask):
        """(n_states, n_states) logits added by current state (the mask, then the
        calibration's bias), or None."""
        counts = self.metadata.get("state_counts")
        if self._calibration is None and (mask is None or counts is None):
            return None
        bias = torch.zeros((self.n_states, self.n_states), device=self.device)
        if mask is not None and counts is not None:
            bias[:, torch.as_tensor(counts, device=self.device) == 0] = -torch.inf
        pairs = self.metadata.get("transitions")
        if mask == "transitions" and counts is not None and pairs is not None:
            seen = torch.zeros((self.n_states, self.n_states), dtype=torch.bool,
                               device=self.device)
            seen[tuple(torch.as_tensor(pairs, device=self.device).reshape(-1, 2).T)] = True
            seen.fill_diagonal_(True)
            bias[~seen] = -torch.inf
        # a state without any allowed successor (only reachable through the
        # prompt) keeps the learned distribution rather than none at all
        bias[torch.isinf(bias).all(dim=1)] = 0.0
        if self._calibration is not None:
            bias += torch.as_tensor(self._calibration, dtype=bias.dtype, device=self.device)
        return bias

    def _fingerprint(self):
        digest = hashlib.sha256(json.dumps(dataclasses.asdict(self.config),
                                           sort_keys=True).encode())
        for key, value in self.network.state_dict().items():
            digest.update(key.encode())
            digest.update(value.detach().cpu().numpy().tobytes())
        if self._calibration is not None:   # it changes what the model samples
            digest.update(self._calibration.tobytes())
        return digest.hexdigest()

    def _prompt(self, prompt, n_trajectories, gen):
        if prompt is None:
            counts = np.asarray(self.metadata.get("state_counts", np.ones(self.n_states)),
                                dtype=float)
            weights = torch.as_tensor(counts / counts.sum(), device=self.device)
            return torch.multinomial(weights, n_trajectories, replacement=True,
                                     generator=gen)[:, None]
        arr = np.asarray(prompt)
        if arr.ndim not in (1, 2) or arr.size == 0:
            raise ValueError("prompt must be a non-empty 1-D sequence of states or a 2-D "
                             f"array (n_trajectories, length); got shape {arr.shape}")
        check_states(arr, self.n_states, "prompt")
        if arr.ndim == 1:
            arr = np.broadcast_to(arr, (n_trajectories, arr.size))
        elif arr.shape[0] != n_trajectories:
            raise ValueError(f"prompt has {arr.shape[0]} rows but n_trajectories is "
                             f"{n_trajectories}; give one row per chain or a 1-D prompt")
        return torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score(self, dtrajs, chunk=10_000):
        """Mean cross-entropy of the next state, in nats per character.

        Each whole trajectory is read as generation reads its chains (an
        LSTM's state carried through it; a transformer's prediction from the
        ``context_length`` states up to each one); the first state of each
        trajectory is not predicted.

        Parameters
        ----------
        dtrajs : array_like of int or list of them
            Held-out state sequence(s).
        chunk : int
            Characters processed at once (bounds memory on long trajectories).

        Returns
        -------
        float
            Mean negative log-likelihood per predicted character (nats).
        """
        trajs = as_dtraj_list(dtrajs, "dtrajs", self.n_states, min_length=2)
        total, count = sequence_nll(self.network, trajs, self.device, chunk)
        return total / count

    # ------------------------------------------------------------------ files
    def save(self, path, overwrite=False):
        """Write the model to one file: safetensors weights + JSON metadata.

        The file holds no pickle, so loading it cannot execute code. It is
        written to a temporary file first and renamed, so an interrupted save
        never leaves a half-written model under ``path``.

        Parameters
        ----------
        path : str or os.PathLike
            Destination (conventionally ``*.mdlstm``).
        overwrite : bool
            Replace an existing file; otherwise :class:`FileExistsError`.
        """
        tensors = {k: v.detach().cpu().contiguous()
                   for k, v in self.network.state_dict().items()}
        write_model(path, self.architecture, dataclasses.asdict(self.config), tensors,
                    self.metadata, overwrite)

    @classmethod
    def load(cls, path, device="auto"):
        """Read a model written by :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
        device : str or torch.device

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not an mdlstm model, is truncated or corrupted, or
            comes from a newer format version.
        """
        header, tensors = read_model(path)
        if header["architecture"] not in ARCHITECTURES:
            raise ValueError(f"{path}: corrupted mdlstm metadata: unknown architecture "
                             f"{header['architecture']!r}")
        config_type, network_type = ARCHITECTURES[header["architecture"]]
        try:
            config = config_type.from_dict(header["config"])
        except (ValueError, TypeError) as err:
            raise ValueError(f"{path}: corrupted mdlstm metadata: {err}") from err
        net = network_type.from_config(config)
        try:
            net.load_state_dict(tensors)
        except RuntimeError as err:
            raise ValueError(f"{path}: weights do not match the stored configuration "
                             f"{config}: {err}") from err
        return cls(net, header["metadata"], device=device)


@torch.no_grad()
def generate_together(models, n_steps, prompts, temperature=1.0, seed=None, progress=False,
                      mask="transitions"):
    """Chains of several models of one shape, sampled together as one batch.

    Every step of all the models is one set of batched tensor operations, so
    ``K`` models take about the time of one where a step costs the dispatch
    of its operations rather than arithmetic (a small LSTM on a CPU).
    :func:`mdlstm.pipeline.learn` generates from its models this way.

    Transformers are not stacked: their models are sampled one after the
    other, with one random stream (the first model's chains are those of
    :meth:`LSTMModel.generate` with the same seed). A transformer's step
    costs the attention over its cache, arithmetic that stacking would not
    save.

    Parameters
    ----------
    models : list of LSTMModel
        Models of one configuration, on one device.
    n_steps : int
        Characters generated per chain.
    prompts : list of array_like of int
        One 2-D prompt ``(n_chains_k, length_k)`` per model: model ``k``
        generates ``n_chains_k`` chains, each after its row of the prompt.
    temperature, seed, progress, mask
        As in :meth:`LSTMModel.generate`; one seed for all the models.

    Returns
    -------
    list of numpy.ndarray
        The ``(n_chains_k, n_steps)`` chains of every model, in the smallest
        unsigned integer type that holds the states.
    """
    models = list(models)
    if not models or not all(isinstance(m, LSTMModel) for m in models):
        raise TypeError("models must be a non-empty list of LSTMModel")
    first = models[0]
    if any(m.config != first.config or m.device != first.device for m in models):
        raise ValueError("models must share one configuration and one device to be "
                         f"sampled together; got {[str(m) for m in models]}")
    prompts = list(prompts)
    if len(prompts) != len(models):
        raise ValueError(f"prompts must hold one prompt per model: {len(prompts)} prompts "
                         f"for {len(models)} models")
    n_steps = positive_int(n_steps, "n_steps")
    temperature = positive_float(temperature, "temperature")
    _check_mask(mask)
    rows = []
    for k, prompt in enumerate(prompts):
        if np.ndim(prompt) != 2:
            raise ValueError(f"prompts[{k}] must be 2-D (n_chains, length), "
                             f"got shape {np.shape(prompt)}")
        rows.append(len(prompt))
    gen = torch.Generator(device=first.device)
    gen.manual_seed(seed_value(seed))
    tensors = [m._prompt(p, n, gen) for m, p, n in zip(models, prompts, rows)]
    dtype = _state_dtype(first.n_states)[1]
    if first.architecture != "lstm":
        return [_sample([m], [t], _MemorySink((n, n_steps), dtype, first.device), gen,
                        n_steps, temperature, GENERATION_CHUNK, progress, mask)
                for m, t, n in zip(models, tensors, rows)]
    # models with fewer chains repeat their last one; the copies are dropped
    width = max(rows)
    tensors = [torch.cat([t, t[-1:].expand(width - len(t), -1)]) for t in tensors]
    sink = _MemorySink((len(models) * width, n_steps), dtype, first.device)
    chains = _sample(models, tensors, sink, gen, n_steps, temperature, GENERATION_CHUNK,
                     progress, mask).reshape(len(models), width, n_steps)
    return [chains[k, :n] for k, n in enumerate(rows)]


def _sample(models, prompts, sink, gen, n_steps, temperature, chunk_steps, progress, mask):
    """Sample the chains of `models` after their `prompts` (tensors, one per model,
    of equal rows) into `sink`, which sees them as rows, model after model."""
    step = _chains(models, prompts, mask)
    states = torch.stack([p[:, -1] for p in prompts])
    n_models, width = states.shape
    saved = sink.restore(gen)
    if saved is not None:
        step.load_state(saved)
        states.view(-1).copy_(saved["states"])
    done = sink.done
    n_states = models[0].n_states
    dtype = _state_dtype(n_states)[1]
    bar = _progress(n_steps, progress, "generating")
    bar.update(done)
    for start in range(done, n_steps, chunk_steps):
        stop = min(start + chunk_steps, n_steps)
        # one uniform per chain and step, drawn per chunk: inverse-CDF sampling
        uniforms = torch.rand((stop - start, n_models, width, 1), generator=gen,
                              device=states.device)
        block = torch.empty((n_models, width, stop - start), dtype=dtype, device=states.device)
        for t in range(stop - start):
            logits = step(states)
            cdf = torch.softmax(logits / temperature, dim=2).cumsum_(dim=2)
            # right: a uniform of exactly 0 must not pick a leading state of
            # probability 0 (a masked one)
            states = torch.searchsorted(cdf, uniforms[t] * cdf[..., -1:],
                                        right=True).squeeze_(2)
            states.clamp_(max=n_states - 1)
            block[:, :, t] = states
        sink.write(start, block.view(n_models * width, -1),
                   {**step.state(), "states": states.reshape(-1)}, gen)
        bar.update(stop - start)
    bar.close()
    return sink.result()


def prompts(dtrajs, n, length):
    """The prompts of ``n`` chains: windows of the data at evenly spaced positions.

    The one prompt policy of mdlstm. Windows of ``length`` states are taken
    from the trajectories at evenly spaced positions among all windows that
    lie inside one trajectory, so that the chains start in the states of the
    data in their proportions, and whatever the seed.

    Parameters
    ----------
    dtrajs : array_like of int, or list of them
        State sequences (a window never spans two of them).
    n : int
        Number of prompts.
    length : int
        States per prompt; shortened to the longest trajectory if longer.

    Returns
    -------
    numpy.ndarray of int, shape (n, length)
    """
    trajs = as_dtraj_list(dtrajs, "dtrajs")
    n = positive_int(n, "n")
    length = min(positive_int(length, "length"), max(len(t) for t in trajs))
    # windows inside each trajectory, numbered trajectory after trajectory
    ends = np.cumsum([max(len(t) - length + 1, 0) for t in trajs])
    flat = np.linspace(0, ends[-1] - 1, n).round().astype(np.int64)
    which = np.searchsorted(ends, flat, side="right")
    first = flat - np.concatenate([[0], ends[:-1]])[which]
    return np.stack([trajs[k][i:i + length] for k, i in zip(which, first)])


@torch.no_grad()
def sequence_nll(network, trajs, device, chunk=10_000):
    """Summed next-state cross-entropy (nats) over whole trajectories.

    The network's state (an LSTM's ``(h, c)``, a transformer's
    :class:`KVCache`) is carried from chunk to chunk, so the result does not
    depend on ``chunk``; the first state of every trajectory is not predicted.

    Returns
    -------
    total : float
        Sum of negative log-likelihoods (nats).
    count : int
        Number of predicted characters.
    """
    total, count = 0.0, 0
    for traj in trajs:
        x = torch.as_tensor(traj, dtype=torch.long, device=device)[None]
        hidden = None
        for start in range(0, x.shape[1] - 1, chunk):
            stop = min(start + chunk, x.shape[1] - 1)
            logits, hidden = network(x[:, start:stop], hidden)
            total += nn.functional.cross_entropy(
                logits[0], x[0, start + 1:stop + 1], reduction="sum").item()
            count += stop - start
    return total, count


def _calibration_bias(calibration, n_states):
    """The dense (n_states, n_states) bias of ``metadata["calibration"]``, or None."""
    if calibration is None:
        return None
    try:
        table = np.asarray(calibration["bias"], dtype=float).reshape(-1, 3)
        rows, cols = table[:, 0].astype(np.int64), table[:, 1].astype(np.int64)
        if not (np.all(table[:, :2] == np.stack([rows, cols], axis=1))
                and np.all((0 <= table[:, :2]) & (table[:, :2] < n_states))
                and np.all(np.isfinite(table[:, 2]))):
            raise ValueError("entries must be [i, j, b] with states i, j and a finite b")
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"corrupted mdlstm metadata: calibration: {err}") from err
    bias = np.zeros((n_states, n_states))
    bias[rows, cols] = table[:, 2]
    return bias


def _check_mask(mask):
    if not (mask is None or isinstance(mask, str)) or mask not in MASKS:
        raise ValueError(f"mask must be 'states', 'transitions' or None, got {mask!r}")


def _state_dtype(n_states):
    for np_type, torch_type in ((np.uint8, torch.uint8), (np.int16, torch.int16),
                                (np.int32, torch.int32)):
        if n_states <= np.iinfo(np_type).max + 1:
            return np_type, torch_type
    return np.int64, torch.int64


def _progress(total, enabled, desc):
    return tqdm(total=total, disable=not enabled, desc=desc, unit="step")
