r"""Performance of mdlstm, side by side with its baselines --- ``benchmarks/perf.py``
===============================================================================

One run prints one Markdown table. Every row compares mdlstm with a baseline
measured in the same process, on the same machine, in the same run, and gives
both absolute figures, their ratio, the target and PASS/FAIL. The machine (CPU
model, torch threads, GPU if any) and the load average head the table::

    python benchmarks/perf.py                  # full run: 3-12 minutes on 2 cores
    python benchmarks/perf.py --quick          # seconds: small sizes, a smoke test
    python benchmarks/perf.py --threads 1,2 --device cpu --out perf.md

What is measured
----------------
generation
    Characters per second of :meth:`mdlstm.LSTMModel.generate` with the paper's
    network (Embedding 8, one LSTM layer of 64 units, 20 states; untrained
    weights: the cost of a step does not depend on their values) for 1,000 and
    for 16 chains, against (a) the paper's sampler, :func:`naive_generate`:
    one chain, the whole Embedding/LSTM/Linear forward on one character per
    step with the state carried over, ``torch.multinomial``; and (b) deeptime's
    ``MarkovStateModel.simulate`` (one chain, 20 states); and 16 chains of each
    of three models sampled together (:func:`mdlstm.model.generate_together`,
    what ``LSTMDynamics`` does with its three models) against 16 chains of one.
transformer generation
    Characters per second of :meth:`mdlstm.LSTMModel.generate` with the
    default transformer (:class:`mdlstm.TransformerEstimator`: d_model 64, 1
    layer, 4 heads, context 128; untrained weights) for 1,000 chains,
    against the paper's LSTM for the same chains, in turn; and the cost per
    character along one run of 100 chains of 10,000 steps prompted with a
    whole context (the key/value cache full from the first step): the rate of
    its last 1,000 steps against that of its first 1,000, each the best of
    blocks of 100 steps (:func:`cost_by_position`; blocks of one size in one
    run, so that a busy machine does not favour the shorter side). 1 when
    the cost per character does not grow with the chain.
simulated time
    Picoseconds generated per wall second (1,000 chains, 1 ps per character,
    the bundled data's frame interval) against OpenMM on alanine dipeptide with
    the settings of :mod:`mdlstm.systems.alanine_dipeptide` on the
    single-threaded ``Reference`` platform.
training
    Characters per second of :meth:`mdlstm.LSTMEstimator.fit` (the epoch time
    the estimator records itself, after a one-step warm-up fit of the same
    shapes) and the matrix-product FLOP/s this implies (:func:`train_flops_per_char`),
    against the best rate of square matrix products of the same precision at
    the same thread count (:func:`matmul_peak`: ``torch.matmul`` and, on a
    CPU, oneDNN), measured before and after the training runs; in float32 and
    with ``precision="bfloat16"``.
many models
    Wall time of training two 8/64/1 models (different seeds, one epoch of
    ``many_steps`` batches of 64 each) with :func:`mdlstm.train.fit_many`, 2
    processes of 1 thread (process start-up and the torch import included),
    against fitting them one after the other in this process with 1 thread.
CV extraction
    Frames per second of :class:`mdlstm.CVSeries`, the frame loop of
    :class:`mdlstm.LSTMDynamics` (its ``run()`` is exactly the
    frame selection, preallocation, frame loop and, in parallel, the joining
    of the parts) against a plain loop over the same frames calling
    :func:`MDAnalysis.lib.distances.calc_dihedrals`; and the speed-up of the
    ``multiprocessing`` and ``dask`` backends with 2 workers over the serial run.
    The trajectory is the bundled 22,000-frame XTC chained 5 times (110,000 frames).
    All four run in turn, best of 3, in a fresh process whose main module
    imports only MDAnalysis and mdlstm, as a user's analysis script does: dask's
    process scheduler spawns workers that import the main module again, and
    this script's own imports (torch) are not what a user's workers pay. The
    parallel runs include starting the workers: ``multiprocessing`` forks,
    dask spawns fresh interpreters (which import MDAnalysis, not torch:
    :mod:`mdlstm` imports torch only when a model is needed).
memory
    Peak resident set size of generating 1e8 characters (1,000 chains x 1e5
    steps, stored as uint8) in a fresh subprocess: its ``VmHWM``, not
    ``resource.getrusage``, whose ``ru_maxrss`` a child inherits from the process
    it was forked from (Linux keeps the high-water mark across ``exec``).

Timing
------
Every time is the best (shortest) of several repeats of the same work, after a
warm-up call: on a machine shared with other jobs the shortest repeat is the one
least disturbed. What a row compares runs in turn, round after round
(:func:`interleaved_best`), so both sides see the same load. The load average
before and after says how busy the machine was. Torch CPU threads are set with
:func:`torch.set_num_threads`; generation and training are measured at every
thread count of ``--threads``.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import MDAnalysis as mda
import numpy as np
import torch
import torch.utils.mkldnn

import mdlstm
from mdlstm import LSTMEstimator, LSTMModel
from mdlstm._format import markdown_table
from mdlstm.model import (CharLSTM, CharTransformer, TransformerConfig, _chains,
                          generate_together, resolve_device)
from mdlstm.systems import alanine_dipeptide
from mdlstm.train import PRECISIONS, fit_many

#: Alphabet size of every benchmark model (the paper's alanine dipeptide bins).
N_STATES = 20
#: The paper's network (embedding, hidden units, layers) and its alanine dipeptide one.
PAPER_NET = (8, 64, 1)
ALANINE_NET = (128, 1024, 1)
#: Models sampled together (``mdlstm.model.generate_together``), as many as
#: ``LSTMDynamics`` trains by default.
TOGETHER = 3
#: Model time step (ps): one character is one frame of the bundled trajectory.
MODEL_DT = alanine_dipeptide.FRAME_INTERVAL

# Targets (see the issue); each row below states its own next to the number.
TARGET_GEN_RATE = 1e6           # characters per second, 1,000+ chains
TARGET_GEN_VS_NAIVE = 100.0     # batched / naive loop
TARGET_SIM_VS_MD = 1e4          # simulated ps per wall second, LSTM / OpenMM
TARGET_TRAIN_PEAK = 0.5         # fraction of matmul peak, batch 256
TARGET_CV_OVERHEAD = 0.10       # CVSeries frame loop over the plain loop
TARGET_MEMORY_CHARS = 10**8     # characters generated ...
TARGET_MEMORY_BYTES = 1e9       # ... within this peak RSS (1 GB = 1e9 bytes)


@dataclass(frozen=True)
class Sizes:
    """Amounts of work of one benchmark run (``--quick`` or full)."""

    chains: int              # the "1,000+ chains" case
    chain_steps: int
    few_chains: int          # the 16-chain case
    few_steps: int
    naive_steps: int
    msm_steps: int
    md_steps: int            # integrator steps of 2 fs
    matmul_sizes: tuple
    matmul_repeats: int
    train_steps: int         # optimizer steps per timed fit, paper network
    alanine_train: tuple     # (batch, seq_length, steps) of the 128/1024/1 network
    many_steps: int          # optimizer steps of each of the two fit_many models
    cv_copies: int           # times the bundled XTC is chained
    cv_frames: int           # frames analysed (None: all)
    memory_chains: int
    memory_steps: int
    transformer_steps: int   # of the 1,000 transformer chains
    flat_chains: int         # transformer chains timed along their length ...
    flat_steps: tuple        # ... (steps compared at each end, all steps)
    rounds: int              # of generation + MD, measured in turn
    repeats: int             # of training fits and CV runs


FULL = Sizes(chains=1000, chain_steps=1000, few_chains=16, few_steps=3000,
             naive_steps=3000, msm_steps=10**6, md_steps=2500, matmul_sizes=(1024, 2048),
             matmul_repeats=10, train_steps=10, alanine_train=(64, 100, 2), many_steps=600,
             cv_copies=5,
             cv_frames=None, memory_chains=1000, memory_steps=10**5, transformer_steps=300,
             flat_chains=100, flat_steps=(1000, 10_000), rounds=5, repeats=3)
QUICK = Sizes(chains=1000, chain_steps=20, few_chains=16, few_steps=100, naive_steps=100,
              msm_steps=10**4, md_steps=100, matmul_sizes=(256,), matmul_repeats=3,
              train_steps=1, alanine_train=(4, 10, 1), many_steps=2, cv_copies=1,
              cv_frames=2000,
              memory_chains=100, memory_steps=10**4, transformer_steps=20, flat_chains=100,
              flat_steps=(100, 300), rounds=1, repeats=1)


# ---------------------------------------------------------------------- timing
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(func, repeats, device=None, warmup=True):
    """Shortest wall time (s) of `repeats` calls of `func` (after a warm-up call).

    With a CUDA `device` the device is synchronised before and after each call.
    """
    if warmup:
        func()
    best = np.inf
    for _ in range(repeats):
        if device is not None:
            _sync(device)
        start = time.perf_counter()
        func()
        if device is not None:
            _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def interleaved_best(funcs, repeats, device=None, warmup=True):
    """Shortest wall time (s) of each function of `funcs`, called in turn.

    Each round calls every function once, so that all of them see the same load
    on a shared machine; the ratios of their best times compare like with like.

    Parameters
    ----------
    funcs : dict of str to callable
    repeats : int
        Rounds.
    device : torch.device, optional
        Synchronised around every call when it is a CUDA device.
    warmup : bool
        Call every function once before the first round.

    Returns
    -------
    dict of str to float
    """
    if warmup:
        for func in funcs.values():
            func()
    best = dict.fromkeys(funcs, np.inf)
    for _ in range(repeats):
        for key, func in funcs.items():
            best[key] = min(best[key], best_time(func, 1, device, warmup=False))
    return best


def _log(message):
    print(f"[perf] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- generation
def paper_model(device):
    """An untrained :class:`~mdlstm.LSTMModel` of the paper's shape (seeded weights)."""
    torch.manual_seed(0)
    return LSTMModel(CharLSTM(N_STATES, *PAPER_NET), device=device)


@torch.no_grad()
def naive_generate(net, n_steps, start_state=0, temperature=1.0, seed=0):
    """The paper's sampler: one chain, one full forward pass per character.

    At every step the whole Embedding -> LSTM -> Linear forward runs on one
    character (batch 1, sequence length 1) with the LSTM state carried from the
    previous step, and the next state is drawn with :func:`torch.multinomial`
    from the softmax and read back to Python, as the authors' code does.

    Parameters
    ----------
    net : mdlstm.model.CharLSTM
    n_steps : int
        Characters to generate.
    start_state : int
        State fed in first.
    temperature : float
        Softmax temperature.
    seed : int
        Seed of the sampler.

    Returns
    -------
    numpy.ndarray of uint8, shape (n_steps,)
    """
    device = net.head.weight.device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    x = torch.tensor([[start_state]], device=device)
    hidden = None
    out = np.empty(n_steps, dtype=np.uint8)
    for t in range(n_steps):
        logits, hidden = net(x, hidden)
        probs = torch.softmax(logits[0, -1] / temperature, dim=0)
        state = torch.multinomial(probs, 1, generator=gen)
        out[t] = state.item()
        x = state.view(1, 1)
    return out


def _msm():
    """A deeptime MSM over N_STATES states with a dense random transition matrix."""
    from deeptime.markov.msm import MarkovStateModel
    rng = np.random.default_rng(0)
    matrix = rng.random((N_STATES, N_STATES))
    return MarkovStateModel(matrix / matrix.sum(axis=1, keepdims=True))


def bench_generation(sizes, device, threads):
    """Rates of every sampler and of MD, measured in turn at each torch thread count.

    Returns
    -------
    dict
        ``{threads: rates}``; rates in characters (steps) per second for
        ``"many"`` and ``"few"`` chains, ``"few"`` chains of each of
        :data:`TOGETHER` models sampled ``"together"``, the ``"naive"`` loop and
        the ``"msm"``,
        and in simulated ps per second for ``"md"``.
    """
    model = paper_model(device)
    msm = _msm()
    md_run, md_ps = openmm_run(sizes.md_steps)
    few_prompt = np.zeros((sizes.few_chains, 1), dtype=np.int64)
    work = {  # name: (function, amount of work it does)
        "many": (lambda: model.generate(sizes.chain_steps, sizes.chains, seed=0),
                 sizes.chains * sizes.chain_steps),
        "few": (lambda: model.generate(sizes.few_steps, sizes.few_chains, seed=0),
                sizes.few_chains * sizes.few_steps),
        "together": (lambda: generate_together([model] * TOGETHER, sizes.few_steps,
                                               [few_prompt] * TOGETHER, seed=0),
                     TOGETHER * sizes.few_chains * sizes.few_steps),
        "naive": (lambda: naive_generate(model.network, sizes.naive_steps),
                  sizes.naive_steps),
        "msm": (lambda: msm.simulate(sizes.msm_steps, start=0, seed=1), sizes.msm_steps),
        "md": (md_run, md_ps),
    }
    return {n: work_rates(work, n, sizes.rounds, device, "generation and MD")
            for n in threads}


def work_rates(work, n_threads, rounds, device, what):
    """Work done per second by each entry of ``work`` (name: (function, amount)),
    timed in turn with :func:`interleaved_best` on `n_threads` torch threads."""
    torch.set_num_threads(n_threads)
    _log(f"{what}, {_threads_label(n_threads)}")
    times = interleaved_best({k: f for k, (f, _) in work.items()}, rounds, device)
    return {k: amount / times[k] for k, (_, amount) in work.items()}


def transformer_model(device):
    """An untrained :class:`~mdlstm.LSTMModel` of the default transformer (seeded weights)."""
    torch.manual_seed(0)
    return LSTMModel(CharTransformer.from_config(TransformerConfig(N_STATES)), device=device)


def bench_transformer(sizes, device, threads):
    """Transformer generation rates (characters per second), in turn with the LSTM's.

    Returns
    -------
    dict
        ``{threads: rates}`` with ``"transformer"`` and ``"lstm"`` (1,000
        chains), ``"first"`` and ``"last"`` (the first and last
        ``flat_steps[0]`` steps of :func:`cost_by_position`).
    """
    lstm, model = paper_model(device), transformer_model(device)
    work = {
        "transformer": (lambda: model.generate(sizes.transformer_steps, sizes.chains, seed=0),
                        sizes.chains * sizes.transformer_steps),
        "lstm": (lambda: lstm.generate(sizes.transformer_steps, sizes.chains, seed=0),
                 sizes.chains * sizes.transformer_steps),
    }
    window, n_steps = sizes.flat_steps
    rates = {}
    for n in threads:
        rates[n] = work_rates(work, n, sizes.rounds, device, "transformer generation")
        per_step = cost_by_position(model, sizes.flat_chains, n_steps, window // 10, device)
        blocks = window // (window // 10)
        rates[n].update(first=sizes.flat_chains / per_step[:blocks].min(),
                        last=sizes.flat_chains / per_step[-blocks:].min())
    return rates


@torch.no_grad()
def cost_by_position(model, n_chains, n_steps, block, device):
    """Seconds per step of every block of `block` steps along one generation.

    `n_chains` chains of a transformer ``model`` are prompted with a whole
    context of random states (the cache is full from the first step) and
    advanced `n_steps` steps by the sampler :meth:`mdlstm.LSTMModel.generate`
    uses, feeding back the most likely state (the sampling that follows the
    logits costs the same at every step).
    """
    context = model.config.context_length
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(N_STATES, (n_chains, context), generator=gen).to(device)
    step = _chains([model], [prompt], None)
    states = prompt[None, :, -1]
    times = []
    for _ in range(n_steps // block):
        _sync(device)
        start = time.perf_counter()
        for _ in range(block):
            states = step(states).argmax(dim=2)
        _sync(device)
        times.append((time.perf_counter() - start) / block)
    return np.array(times)


def transformer_rows(sizes, rates, threads):
    rows = []
    window, n_steps = sizes.flat_steps
    c = TransformerConfig(N_STATES)
    shape = f"{c.d_model}/{c.n_layers}x{c.n_heads}/{c.context_length}"
    for n in threads:
        r, tag = rates[n], _threads_label(n)
        rows += [
            Row(f"generation, transformer {shape} vs LSTM 8/64/1, {sizes.chains:,} chains "
                f"({tag})", _num(r["transformer"], "chars/s"), _num(r["lstm"], "chars/s"),
                _num(r["transformer"] / r["lstm"]) + "x"),
            Row(f"generation, transformer, {sizes.flat_chains} chains: last vs first "
                f"{window:,} of {n_steps:,} steps after a full context ({tag})",
                _num(r["last"], "chars/s"), _num(r["first"], "chars/s"),
                _num(r["last"] / r["first"]) + "x", ">= 0.9x",
                _verdict(r["last"] / r["first"] >= 0.9)),
        ]
    return rows


# ---------------------------------------------------------------------- MD
def openmm_run(n_steps):
    """Alanine dipeptide MD with OpenMM (Reference platform), ready to time.

    The system and integrator are those of
    :func:`mdlstm.systems.alanine_dipeptide.simulate` (AMBER ff99SB-ILDN, GBSA-OBC,
    no cutoff, HBonds constraints, Langevin middle integrator, 2 fs, 600 K),
    started from the bundled topology's coordinates (frame 0 of the bundled,
    equilibrated run). The ``Reference`` platform runs on one thread.

    Returns
    -------
    run : callable
        Advances the simulation by `n_steps` steps.
    simulated_ps : float
        Simulated time of one call (ps).
    """
    from openmm import app, unit

    ad = alanine_dipeptide
    pdb = app.PDBFile(ad.files()[0])
    simulation = ad.simulation_of(pdb.topology, pdb.positions, seed=0)
    simulation.context.setVelocitiesToTemperature(ad.TEMPERATURE * unit.kelvin, 1)

    def run():
        simulation.step(n_steps)
        # reading the state waits until the steps are done on any platform
        simulation.context.getState(getEnergy=True)

    return run, n_steps * ad.TIME_STEP


# ---------------------------------------------------------------------- training
def train_flops_per_char(embedding_dim, hidden_size, n_layers, n_states):
    """Matrix-product FLOPs of one training character, forward plus backward.

    Per layer ``l`` with input size ``I_l`` (``embedding_dim`` for the first,
    ``hidden_size`` H above) the gate pre-activations ``W_ih x + W_hh h`` are
    ``4H (I_l + H)`` multiply-adds, i.e. ``2 * 4H (I_l + H)`` FLOPs; the output
    layer adds ``2 H n_states``. Backward computes, for every product ``Y = XW``,
    ``dX = dY W^T`` and ``dW = X^T dY``: two products of the same size, so
    exactly twice the forward FLOPs (the first layer's input gradient included,
    as the embedding is trained). Total: ``3 * forward``. Not counted: gate
    nonlinearities and other elementwise work, the embedding gather, the softmax
    and loss, and the Adam update; they are not matrix products, so the FLOP/s
    derived from this count compares like with like with a matmul peak.

    Returns
    -------
    int
        FLOPs per character (per target of the loss).
    """
    forward = 2 * n_states * hidden_size
    for layer in range(n_layers):
        inputs = embedding_dim if layer == 0 else hidden_size
        forward += 2 * 4 * hidden_size * (inputs + hidden_size)
    return 3 * forward


def matmul_peak(sizes, device, repeats, precision="float32"):
    """Best FLOP/s of square matrix products of the given sizes, per GEMM library.

    ``torch.matmul`` calls MKL (or OpenBLAS) for float32 on a CPU, and MKL
    takes a narrower-vector code path on AMD processors than the hardware
    allows; oneDNN, the library of torch's CPU LSTM, does not. On a CPU whose
    torch has oneDNN both are measured (oneDNN through
    :func:`torch.utils.mkldnn.to_mkldnn`, its result checked against
    ``torch.matmul`` so that no lower-precision shortcut counts), and the
    peak of the machine is the best of them.

    `precision` names the torch dtype of the matrices (``"float32"`` or
    ``"bfloat16"``).

    Returns
    -------
    dict
        ``{"torch.matmul": FLOP/s, "oneDNN": FLOP/s}`` (no ``"oneDNN"`` entry
        on a GPU or without oneDNN).
    """
    dtype = getattr(torch, precision)
    best = {}
    for n in sizes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        products = {"torch.matmul": lambda: torch.matmul(a, b)}
        if device.type == "cpu" and torch.backends.mkldnn.is_available():
            linear = torch.nn.Linear(n, n, bias=False)
            linear.weight.data = b.T.float()
            onednn, a_onednn = torch.utils.mkldnn.to_mkldnn(linear, dtype), a.to_mkldnn()
            _check_same_product(onednn(a_onednn).to_dense(), torch.matmul(a, b))
            products["oneDNN"] = lambda: onednn(a_onednn)
        for library, product in products.items():
            rate = 2 * n**3 / best_time(product, repeats, device)
            best[library] = max(best.get(library, 0.0), rate)
    return best


def _check_same_product(result, reference):
    """Raise unless two products agree to the rounding of their dtype.

    A float32 product computed through bfloat16 or TF32 would be off by
    ~1e-3 relative (Frobenius norm); float32 rounding gives ~1e-7.
    """
    tolerance = 1e-5 if reference.dtype == torch.float32 else 2e-2
    error = ((result.float() - reference.float()).norm() / reference.float().norm()).item()
    if error > tolerance:
        raise RuntimeError(f"oneDNN's {reference.dtype} product differs from torch.matmul by "
                           f"{error:.1e} (relative): not a product of that precision")


def best_library(peaks):
    """(library, FLOP/s) of the fastest entry of a :func:`matmul_peak` result."""
    return max(peaks.items(), key=lambda item: item[1])


def one_epoch_estimator(network, batch, seq_length, device, seed=0, precision="float32"):
    """An estimator that trains one epoch of non-overlapping windows, no validation."""
    return LSTMEstimator(*network, seq_length=seq_length, batch_size=batch, epochs=1,
                         stride=seq_length, validation_fraction=0, n_states=N_STATES,
                         device=device, seed=seed, precision=precision)


def random_states(rng, steps, batch, seq_length):
    """Random states for exactly ``steps`` batches of :func:`one_epoch_estimator`."""
    return rng.integers(0, N_STATES, steps * batch * seq_length + 1)


def training_rate(network, batch, seq_length, steps, device, repeats, precision):
    """Training characters per second of :meth:`mdlstm.LSTMEstimator.fit`.

    The data are random states, cut into exactly ``steps * batch``
    non-overlapping windows (one epoch = ``steps`` optimizer steps, no
    validation). The time is the epoch time the estimator records itself
    (``history["time_s"]``), best of `repeats` fits after a one-step warm-up fit.
    """
    rng = np.random.default_rng(0)

    def fit_time(n_steps):
        data = random_states(rng, n_steps, batch, seq_length)
        est = one_epoch_estimator(network, batch, seq_length, device, precision=precision)
        return est.fit(data).history["time_s"][0]

    fit_time(1)
    return steps * batch * seq_length / min(fit_time(steps) for _ in range(repeats))


def bench_training(sizes, device, threads):
    """Matmul peaks (best of before and after the training runs) and training rates.

    Returns
    -------
    dict
        ``{threads: {"peak": {precision: {library: FLOP/s}},
        (network, batch, seq_length, precision): chars/s}}``.
    """
    results = {}

    def peaks():
        return {p: matmul_peak(sizes.matmul_sizes, device, sizes.matmul_repeats, p)
                for p in PRECISIONS}

    for n in threads:
        torch.set_num_threads(n)
        _log(f"training, {n} thread(s)")
        before = peaks()
        res = {}
        for config in training_configs(sizes):
            network, batch, seq, precision = config
            steps, repeats = ((sizes.train_steps, sizes.repeats) if network == PAPER_NET
                              else (sizes.alanine_train[2], 1))
            res[config] = training_rate(network, batch, seq, steps, device, repeats, precision)
        # measured before and after the training runs: the best is the least disturbed
        res["peak"] = {p: {lib: max(rate, before[p][lib]) for lib, rate in after.items()}
                       for p, after in peaks().items()}
        results[n] = res
    return results


def training_configs(sizes):
    """(network, batch, seq_length, precision) of every training row."""
    batch, seq, _ = sizes.alanine_train
    return [(PAPER_NET, 64, 100, "float32")] + [
        (network, b, length, precision) for precision in PRECISIONS
        for network, b, length in ((PAPER_NET, 256, 100), (ALANINE_NET, batch, seq))]


def bench_fit_many(steps):
    """Seconds to train two 8/64/1 models with fit_many (2 x 1 thread) and in turn."""
    data = random_states(np.random.default_rng(0), steps, 64, 100)
    estimators = [one_epoch_estimator(PAPER_NET, 64, 100, "cpu", seed) for seed in (0, 1)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        for est in estimators:
            est.fit(data)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        fit_many(estimators, [data, data], n_workers=2, threads_per_worker=1)
        parallel = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return {"steps": steps, "serial": serial, "parallel": parallel}


def fit_many_row(times):
    speedup = times["serial"] / times["parallel"]
    return Row(f"training 2 models 8/64/1 ({times['steps']} steps of batch 64 each): "
               "fit_many, 2 processes x 1 thread vs in turn",
               f"{times['parallel']:.1f} s", f"{times['serial']:.1f} s",
               _num(speedup) + "x", "> 1x", _verdict(speedup > 1))


# ---------------------------------------------------------------------- CV extraction
#: The CV measurement, run as ``python -c``: a main module that imports what a
#: user's analysis script imports (MDAnalysis, mdlstm), and nothing that
#: dask's spawned workers would import again (this script imports torch).
_CV_CHILD = """
import json, sys, time
import MDAnalysis as mda
import numpy as np
from MDAnalysis.lib.distances import calc_dihedrals
from mdlstm import CVSeries, cv


def plain(u, atoms, n):
    out = np.empty(n)
    for i, ts in enumerate(u.trajectory[:n]):
        p = atoms.positions
        out[i] = calc_dihedrals(p[0], p[1], p[2], p[3], box=ts.dimensions)
    return out


def lstm_dynamics(backend):
    workers = None if backend == "serial" else 2
    return CVSeries(u, phi).run(stop=n, backend=backend, n_workers=workers).results.cv


repeats, n, backends, top, *trajs = sys.argv[1:]
u = mda.Universe(top, trajs)
atoms = u.residues[1].phi_selection()
phi = cv.Dihedral(atoms)
n = int(int(n) or u.trajectory.n_frames)
reference = plain(u, atoms, n)  # also the warm-up: file cache, XTC offsets
runs = {"plain": lambda: plain(u, atoms, n)}
runs.update({b: lambda b=b: lstm_dynamics(b) for b in backends.split(",")})
best, agree = dict.fromkeys(runs, float("inf")), True
for _ in range(int(repeats)):
    for name, run in runs.items():
        start = time.perf_counter()
        values = run()
        best[name] = min(best[name], time.perf_counter() - start)
        # equal as angles (cv.Dihedral maps -pi to pi)
        agree &= bool(np.allclose(np.angle(np.exp(1j * (values - reference))), 0, atol=1e-6))
print(json.dumps({"n_frames": n, "seconds": best, "agree": agree}))
"""


def bench_cv(sizes, repeats):
    """Frames per second of the CV extraction: plain loop, serial, 2-worker backends.

    Measured in a fresh process (:data:`_CV_CHILD`), all runs in turn, best
    of `repeats`; the parallel runs include starting their workers.

    Returns
    -------
    dict
        ``n_frames`` and seconds per backend (``"plain"``, ``"serial"``,
        ``"multiprocessing"``, ``"dask"``; None when dask is missing).
    """
    backends = ["serial", "multiprocessing"]
    if importlib.util.find_spec("dask") is not None:
        backends.append("dask")
    with tempfile.TemporaryDirectory() as tmp:
        # copies in a scratch directory, so that the XTC offset files
        # MDAnalysis writes next to a trajectory do not land in the package
        top, xtc = (shutil.copy(path, tmp) for path in alanine_dipeptide.files())
        args = [str(repeats), str(sizes.cv_frames or 0), ",".join(backends), top,
                *[xtc] * sizes.cv_copies]
        done = subprocess.run([sys.executable, "-c", _CV_CHILD, *args], capture_output=True,
                              text=True)
    if done.returncode != 0:
        raise RuntimeError(f"CV extraction benchmark failed:\n{done.stderr}")
    found = json.loads(done.stdout.splitlines()[-1])
    if not found["agree"]:
        raise RuntimeError("CVSeries and the plain loop disagree")
    return {"n_frames": found["n_frames"], "dask": None, **found["seconds"]}


# ---------------------------------------------------------------------- memory
_MEMORY_CHILD = """
import json, resource, sys, time
import torch
from mdlstm import LSTMModel
from mdlstm.model import CharLSTM

def peak_kib():
    # VmHWM: peak RSS of this process image. ru_maxrss is not used: Linux keeps the
    # high-water mark across exec, so it would include the parent's RSS at fork.
    try:
        with open("/proc/self/status") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak // 1024 if sys.platform == "darwin" else peak  # bytes there

chains, steps, threads, *network = map(int, sys.argv[1:-1])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = LSTMModel(CharLSTM(*network), device=sys.argv[-1])
before = peak_kib()
start = time.perf_counter()
out = model.generate(steps, chains, seed=0)
seconds = time.perf_counter() - start
print(json.dumps({"before_kib": before, "peak_kib": peak_kib(), "seconds": seconds,
                  "dtype": str(out.dtype), "nbytes": out.nbytes, "shape": out.shape}))
"""


def generation_memory(chains, steps, threads, device):
    """Peak RSS of generating ``chains x steps`` characters (paper's network), in a fresh process.

    The peak is the process's ``VmHWM`` (``/proc/self/status``; ``ru_maxrss``
    where there is no ``/proc``): on Linux ``ru_maxrss`` of a child keeps the
    high-water mark of the process it was forked from, i.e. of this benchmark.

    Returns
    -------
    dict
        ``before_kib`` (peak RSS after imports and model set-up), ``peak_kib``,
        ``seconds``, ``dtype``, ``nbytes``, ``shape`` of the result.
    """
    args = [chains, steps, threads, N_STATES, *PAPER_NET, device]
    done = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, *map(str, args)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- the table
@dataclass
class Row:
    """One line of the table: mdlstm vs a baseline measured in the same run."""

    name: str
    value: str
    reference: str
    ratio: str
    target: str = "-"
    result: str = "-"


def _num(x, unit=""):
    """3 significant digits; from 1,000 up as a power of ten (``2.52e3``)."""
    if abs(x) >= 1000 or 0 < abs(x) < 1e-3:
        mantissa, exponent = f"{x:.2e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    else:
        text = f"{x:.3g}"
    return f"{text} {unit}".rstrip()


def _power(x):
    """A round number as a power of ten: ``1e6``."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _verdict(ok):
    return "PASS" if ok else "FAIL"


def _threads_label(n):
    return f"{n} thread" + ("s" if n > 1 else "")


def generation_rows(sizes, rates, threads):
    rows = []
    for n in threads:
        r, tag = rates[n], _threads_label(n)
        many, few = f"{sizes.chains:,} chains", f"{sizes.few_chains} chains"
        speedup = r["many"] / r["naive"]
        rows += [
            Row(f"generation, {many} vs naive loop ({tag})", _num(r["many"], "chars/s"),
                _num(r["naive"], "chars/s"), _num(speedup) + "x",
                f"> {TARGET_GEN_VS_NAIVE:g}x", _verdict(speedup > TARGET_GEN_VS_NAIVE)),
            Row(f"generation, {few} vs naive loop ({tag})", _num(r["few"], "chars/s"),
                _num(r["naive"], "chars/s"), _num(r["few"] / r["naive"]) + "x"),
            Row(f"generation, {TOGETHER} models x {few} together vs one after another "
                f"({tag})", _num(r["together"], "chars/s"), _num(r["few"], "chars/s"),
                _num(r["together"] / r["few"]) + "x"),
            Row(f"generation, {many} vs deeptime MSM ({tag})", _num(r["many"], "chars/s"),
                _num(r["msm"], "steps/s"), _num(r["many"] / r["msm"]) + "x"),
            Row(f"generation, {few} vs deeptime MSM ({tag})", _num(r["few"], "chars/s"),
                _num(r["msm"], "steps/s"), _num(r["few"] / r["msm"]) + "x"),
        ]
    best_n = max(threads, key=lambda n: rates[n]["many"])
    best = rates[best_n]["many"]
    rows.append(Row(f"generation, best {sizes.chains:,}-chain rate vs target",
                    _num(best, "chars/s") + f" ({_threads_label(best_n)})",
                    _num(TARGET_GEN_RATE, "chars/s"), _num(best / TARGET_GEN_RATE) + "x",
                    f">= {_power(TARGET_GEN_RATE)} chars/s", _verdict(best >= TARGET_GEN_RATE)))
    return rows, best_n


def md_row(rates, threads):
    lstm_ps = rates["many"] * MODEL_DT
    ratio = lstm_ps / rates["md"]

    def per_day(ps_per_s):
        return _num(ps_per_s * 86400 / 1000, "ns/day")

    return Row(f"simulated time per wall second vs OpenMM ({_threads_label(threads)})",
               f"{_num(lstm_ps, 'ps/s')} = {per_day(lstm_ps)}",
               f"{_num(rates['md'], 'ps/s')} = {per_day(rates['md'])}",
               _num(ratio) + "x", f">= {_power(TARGET_SIM_VS_MD)}x",
               _verdict(ratio >= TARGET_SIM_VS_MD))


def training_rows(results, threads, sizes):
    rows = []
    for n in threads:
        res = results[n]
        for network, batch, seq, precision in training_configs(sizes):
            rate = res[network, batch, seq, precision]
            flops = rate * train_flops_per_char(*network, N_STATES)
            library, peak = best_library(res["peak"][precision])
            fraction = flops / peak
            target, result = "-", "-"
            if network == PAPER_NET and batch == 256 and precision == "float32":
                target = f">= {TARGET_TRAIN_PEAK:.0%} of peak"
                result = _verdict(fraction >= TARGET_TRAIN_PEAK)
            name = "/".join(map(str, network))
            rows.append(Row(
                f"training {name}, batch {batch}, seq {seq}, {precision} vs {precision} "
                f"matmul peak ({_threads_label(n)})",
                f"{_num(rate, 'chars/s')}, {_num(flops / 1e9, 'GFLOP/s')}",
                f"{_num(peak / 1e9, 'GFLOP/s')} ({library})", f"{fraction:.1%}", target,
                result))
    return rows


def peak_lines(results, threads):
    """One line per thread count with every library's matmul peak (GFLOP/s)."""
    lines = []
    for n in threads:
        parts = [f"{precision} "
                 + ", ".join(f"{lib} {_num(rate / 1e9)}" for lib, rate in peaks.items())
                 for precision, peaks in results[n]["peak"].items()]
        lines.append(f"- Matmul peaks, GFLOP/s ({_threads_label(n)}): " + "; ".join(parts))
    return lines


def cv_rows(times):
    n = times["n_frames"]

    def fps(key):
        return _num(n / times[key], "frames/s")

    overhead = times["serial"] / times["plain"] - 1
    rows = [Row(f"CV extraction, CVSeries vs plain loop ({n:,} frames)", fps("serial"),
                fps("plain"), f"{overhead:+.1%} time",
                f"<= +{TARGET_CV_OVERHEAD:.0%}", _verdict(overhead <= TARGET_CV_OVERHEAD))]
    for backend in ("multiprocessing", "dask"):
        name = f"CV extraction, {backend} 2 workers vs serial"
        if times[backend] is None:
            rows.append(Row(name, "dask not installed", fps("serial"), "-", "> 1x", "n/a"))
            continue
        speedup = times["serial"] / times[backend]
        rows.append(Row(name, fps(backend), fps("serial"), _num(speedup) + "x", "> 1x",
                        _verdict(speedup > 1)))
    return rows


def memory_row(mem, chains, steps, threads):
    n_chars = chains * steps
    peak = mem["peak_kib"] * 1024
    result = _verdict(peak < TARGET_MEMORY_BYTES)
    if n_chars < TARGET_MEMORY_CHARS:
        result = f"n/a ({_power(n_chars)} chars only)"
    return Row(f"memory, generating {_power(n_chars)} chars ({chains:,} x {steps:,}), peak RSS",
               f"{peak / 2**20:.0f} MiB ({_num(n_chars / mem['seconds'], 'chars/s')}, "
               f"{_threads_label(threads)})",
               f"{mem['before_kib'] / 2**10:.0f} MiB before generating; output "
               f"{mem['nbytes'] / 1e6:.0f} MB {mem['dtype']}",
               f"{peak / TARGET_MEMORY_BYTES:.2f} GB",
               f"{_power(TARGET_MEMORY_CHARS)} chars < 1 GB", result)


def format_table(rows):
    header = ["measurement", "mdlstm", "baseline", "ratio", "target", "result"]
    return markdown_table(header, [(row.name, row.value, row.reference, row.ratio, row.target,
                                    row.result) for row in rows])


# ---------------------------------------------------------------------- machine
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_lines(device, threads):
    gpu = (torch.cuda.get_device_name(device) if device.type == "cuda"
           else "none used" + (" (CUDA available)" if torch.cuda.is_available() else ""))
    import deeptime
    import openmm
    return [
        f"- CPU: {_cpu_model()}, {os.cpu_count()} logical CPUs; {platform.platform()}",
        f"- torch {torch.__version__}, default CPU threads {torch.get_num_threads()}, "
        f"measured at {', '.join(map(str, threads))}; device: {device}; GPU: {gpu}",
        f"- mdlstm {mdlstm.__version__}, MDAnalysis {mda.__version__}, deeptime "
        f"{deeptime.__version__}, numpy {np.__version__}, Python {platform.python_version()}",
        f"- OpenMM {openmm.__version__} (Reference platform, single-threaded)",
    ]


def _load():
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _parse_threads(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"--threads must be positive integers separated by commas, got {text!r}")
    return values


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="mdlstm performance, side by side with its baselines; prints a "
                    "Markdown table.")
    parser.add_argument("--quick", action="store_true",
                        help="small sizes (seconds): a smoke test of the script")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the networks run (default: auto)")
    parser.add_argument("--threads", type=_parse_threads, default=[1, 2],
                        help="torch CPU thread counts to measure, e.g. 1,2 (default)")
    parser.add_argument("--out", help="also write the report to this Markdown file")
    args = parser.parse_args(argv)
    try:
        args.device = resolve_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv=None):
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    device, threads = args.device, args.threads
    command = "python benchmarks/perf.py " + " ".join(sys.argv[1:] if argv is None else argv)
    load_start = _load()
    head = machine_lines(device, threads)
    started = time.perf_counter()

    rates = bench_generation(sizes, device, threads)
    rows, best_n = generation_rows(sizes, rates, threads)
    rows.append(md_row(rates[best_n], best_n))
    rows += transformer_rows(sizes, bench_transformer(sizes, device, threads), threads)
    training = bench_training(sizes, device, threads)
    rows += training_rows(training, threads, sizes)
    _log("training two models with fit_many")
    rows.append(fit_many_row(bench_fit_many(sizes.many_steps)))
    _log("CV extraction")
    rows += cv_rows(bench_cv(sizes, sizes.repeats))
    _log(f"memory, {_power(sizes.memory_chains * sizes.memory_steps)} characters")
    mem = generation_memory(sizes.memory_chains, sizes.memory_steps, best_n, device)
    rows.append(memory_row(mem, sizes.memory_chains, sizes.memory_steps, best_n))

    flops = {net: train_flops_per_char(*net, N_STATES) for net in (PAPER_NET, ALANINE_NET)}
    report = "\n".join([
        f"# mdlstm performance ({'quick' if args.quick else 'full'} run, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)",
        "",
        f"Command: `{command.strip()}`",
        "",
        *head,
        f"- load average (1/5/15 min): {load_start} at start, {_load()} at end; "
        f"wall time {time.perf_counter() - started:.0f} s",
        "",
        format_table(rows),
        "",
        f"- Times: best of {sizes.rounds} round(s) for generation, MSM and MD, which "
        "run in turn within each round after a warm-up call; best of "
        f"{sizes.repeats} for the 8/64/1 training fits and for the CV runs (plain loop, "
        "serial, multiprocessing, dask in turn, in a fresh process; worker start-up "
        "included), of 1 for 128/1024/1 training and for the two fit_many timings.",
        f"- Networks: embedding/hidden units/layers, {N_STATES} states; generation and "
        f"memory use 8/64/1 (untrained weights). Simulated time: 1 character = "
        f"{MODEL_DT:g} ps; OpenMM: {alanine_dipeptide.TIME_STEP * 1000:g} fs steps, "
        f"{sizes.md_steps} per call.",
        "- Training FLOPs per character count matrix products only: forward = sum over "
        f"layers of 2*4H(I+H) (I: layer input size) + 2*H*{N_STATES} (output layer); "
        "backward = 2 x forward (dX and dW of every product); total 3 x forward = "
        f"{flops[PAPER_NET]:,} for 8/64/1, {flops[ALANINE_NET]:,} for 128/1024/1. "
        "The matmul peak is the best of square products of sizes "
        f"{', '.join(map(str, sizes.matmul_sizes))} in the same precision at the same thread "
        "count, measured before and after the training fits, with torch.matmul and, on a "
        "CPU, with oneDNN (the library of torch's CPU LSTM); the library that gave it is "
        "named after it.",
        *peak_lines(training, threads),
    ])
    print(report)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(report + "\n")


if __name__ == "__main__":
    main()
