r"""Fidelity benchmark: MD vs LSTM vs MSM --- ``benchmarks/fidelity.py``
=====================================================================

Reproduces the fidelity claims of Tsai, Kuo & Tiwary (2020): an LSTM trained
on the state sequence of a collective variable (CV) generates trajectories
whose populations and kinetics match the MD data, and, on the 4-state
Langevin system, it remembers what a first-order Markov state model (MSM) of
the same labels forgets. Every number is printed side by side for MD, the
LSTM and MSMs at two lag times, as Markdown tables with error bars.

Running it
----------
::

   python benchmarks/fidelity.py --quick --threads 1     # ~4 min on 2 cores, loose bounds
   python benchmarks/fidelity.py --threads 1 --out docs/benchmarks.md   # ~2 h on 2 cores
   python benchmarks/fidelity.py --systems four_state --seeds 3
   python benchmarks/fidelity.py --systems hidden_dwell --only-seeds 3,4   # part of a full run

The exit status is 1 when any acceptance bound fails (the table says which),
0 otherwise.

What it does, per system
------------------------
1. **MD data.** Langevin systems (:mod:`mdlstm.systems.langevin`): one
   :func:`~mdlstm.systems.langevin.simulate` call makes a set of reference
   walkers and, for every seed, an independent set of training walkers (a
   *replica*), so that the spread over seeds includes the noise of the
   training data and not only that of the optimiser. Walker ``k`` starts in
   minimum ``k mod n_minima``: no state is favoured by the start, and the
   slow 4-state populations are sampled evenly. deeptime's Prinz potential
   (a 1-D four-well Brownian system): one trajectory per seed. The Markov
   chains of :mod:`mdlstm.systems.markov_chains` (a grid walker seen through
   x, whose exact MFPTs are known, and a chain with a heavy-tailed rare
   state): walkers per seed. Alanine dipeptide: a 100 ns OpenMM run
   (``benchmarks/data``; quick mode: the bundled 22 ns), CVs
   :math:`\phi` and :math:`\psi`, each alone and the two together; the first
   80 % trains every seed's models, the last 20 % is the held-out block.
2. **States.** Langevin: nearest x-centre after the paper's smoothing (50
   frames) and short-visit removal (100 frames). Prinz: 20 uniform bins of
   x. Chains: their observed states. Alanine dipeptide: 20 periodic bins of
   each dihedral, and 40 k-means states of (:math:`\phi`, :math:`\psi`)
   (both periodic) grouped into the four conformations.
3. **Models.** Per seed one run of :func:`mdlstm.pipeline.learn` with the
   library defaults (full mode: three models of the default
   :class:`~mdlstm.LSTMEstimator`, ``n_chains`` chains among them, each
   prompted with a window of the training data by the library's one prompt
   policy); MSMs at lag 1 and lag 10 estimated on the same training labels
   and simulated by :func:`mdlstm.compare` for as long as the LSTM chains.
   ``--architectures lstm,transformer`` also trains, per seed, models of
   :class:`~mdlstm.TransformerEstimator` with its defaults on the same
   replicas; a head-to-head table per system puts every model's worst seed
   next to the lag-1 MSM's and that of an MSM at the lag where its slowest
   implied timescale levels off (:func:`levelled_lag`), judged at the
   resolution its chains have: against the data, MD and exact MFPTs seen every
   lag frames (:func:`seed_row`).
4. **Statistics.** Populations, transition counts per 1e5 frames for every
   ordered pair of states (alanine dipeptide: the 20 busiest pairs in MD),
   measured mean first passage times (MFPTs, frames) between metastable sets,
   and held-out cross-entropy (nats per character) of the LSTM
   (:meth:`~mdlstm.LSTMModel.score`) and of an order-1 Markov chain fitted
   to the same training labels (:func:`mdlstm.validate.markov_cross_entropy`:
   lag-1 counts plus 0.5 per entry, so that no held-out transition has
   probability zero).

Error bars are standard errors of the mean: over seeds (replicas) for the
training data, the LSTM and the MSMs, over walkers (Langevin) or 5 contiguous
blocks (alanine dipeptide) for MD. Alanine dipeptide has one trajectory, so
there its LSTM and MSM error bars hold only the noise of training and
sampling. The ``training data`` column holds the statistics of the replicas
the models were trained on: a model can only be expected to reproduce those;
where they differ from MD, so does a perfect model. The ``data every 10
frames`` column holds the same replicas seen every 10 frames, as the lag-10
MSM's chains are: visits shorter than the lag unseen, fewer transitions and
longer MFPTs than at every frame; compare the ``MSM lag 10`` column with it.

The memory test (4-state system)
--------------------------------
The paper's central claim. The raw x coordinate is cut at the nearest centre
with *no* smoothing or short-visit removal; an LSTM and a lag-1 MSM are
trained on these raw labels and generate chains. Then the MD, LSTM and MSM
label sequences all go through one and the same post-processing: each label
is mapped back to its centre value (``Discretizer.inverse_transform``), and
the paper's running mean (50 frames), nearest-centre assignment and
short-visit removal (100 frames) are applied to those values. Generated
chains only have labels, so this is the paper's procedure applied at the
level of labels; the MD column uses the same pipeline so that the three
sources are treated identically. The MD numbers of the continuous-x pipeline
(the main 4-state table) are shown beside them to measure what mapping to
centres changes. Macrostate transition counts per 1e5 frames are compared,
0 <-> 3 in particular (never seen directly in MD), together with the L1
distance of each model's count matrix to MD's.

Acceptance bounds
-----------------
Every system, every seed, against that seed's own training data
(``SEED_BOUNDS``, full mode only: quick mode trains with shortened settings
and prints the rows without judging them): set and state populations, set
rates and MFPTs, generated transitions the data never made, no step in a
state it never visited, MFPTs within 25 % of the reference MD's (all of it,
pooled; for alanine dipeptide the whole run, of which the training part is
the first 80 %), and for the Markov chains MFPTs against the exact ones,
closer than a lag-1 MSM's. The table of each system shows every seed
and the worst.

The paper's 4-state system is also checked against the independent
reference MD (``FULL_BOUNDS``; ``--quick`` uses the looser ``QUICK_BOUNDS``):

* populations within ``population`` of MD for every state;
* transition counts per 1e5 frames within ``count_rel`` (relative) of MD for
  the fast total (0<->2, 1<->3) and the slow total (0<->1, 2<->3), and for
  each of these pairs unless ``per_pair`` is off;
* 0 -> 3 and 3 -> 0 each below ``zero_three`` per 1e5 frames;
* training cross-entropy (mean over seeds of the training loss at the kept
  epoch) at most ``cross_entropy`` nats per character;
* memory test: the LSTM's L1 count distance to MD smaller than the lag-1
  MSM's by more than ``memory_error_bars`` times the sum of both standard
  errors.

Each check prints PASS or FAIL with the value, the bound and, for
comparisons with MD, the difference in combined standard errors.
"""
import argparse
import contextlib
import dataclasses
import functools
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mdlstm import Discretizer, LSTMEstimator, TransformerEstimator, compare
from mdlstm._format import markdown_table
from mdlstm.pipeline import learn
from mdlstm.systems import alanine_dipeptide, langevin, markov_chains
from mdlstm.validate import estimate_msm, markov_cross_entropy, statistics

#: Transition counts are reported per this many frames.
PER_FRAMES = 100_000
#: The paper's preprocessing of the 4-state x coordinate.
PAPER_PREPROCESSING = {"smooth": 50, "min_dwell": 100}
#: Lag times (steps) of the two MSMs.
MSM_LAGS = (1, 10)
#: Lag times (frames) searched for the MSM of the head-to-head table whose
#: slowest implied timescale has levelled off: the smallest lag whose timescale
#: is within LEVEL_TOLERANCE of that at the longest lag still shorter than its
#: timescale.
LEVEL_LAGS = (1, 2, 5, 10, 20, 50, 100, 200)
LEVEL_TOLERANCE = 0.1
#: Fraction of the alanine dipeptide trajectory used for training.
ALANINE_TRAIN_FRACTION = 0.8
#: Contiguous blocks of the alanine dipeptide trajectory for MD error bars.
ALANINE_BLOCKS = 5
#: Metastable sets (MFPTs) of the Langevin systems. The 4-state pair are the
#: two halves of the ring joined only by the slow links; they cover every
#: state, so that no chain can miss both sets of a pair.
LANGEVIN_SETS = {"four_state": [[0, 2], [1, 3]],
                 "linear_three_state": [[0], [1], [2]],
                 "triangular_three_state": [[0], [1], [2]]}
#: Pairs of the 4-state ring, (from, to).
FAST_PAIRS = ((0, 2), (2, 0), (1, 3), (3, 1))
SLOW_PAIRS = ((0, 1), (1, 0), (2, 3), (3, 2))
ALANINE = "alanine_dipeptide"
#: (phi, psi) of the 100 ns run, 1 ps apart (``benchmarks/data/alanine_dipeptide_100ns.py``).
ALANINE_100NS = Path(__file__).parent / "data" / "alanine_dipeptide_100ns.npz"
#: deeptime's 1-D four-well Brownian system (Prinz potential), 20 uniform bins.
PRINZ = "prinz_four_well"
#: Markov chains with exact answers (:mod:`mdlstm.systems.markov_chains`).
CHAINS = {"projected_grid": markov_chains.projected_grid_chain,
          "hidden_dwell": markov_chains.hidden_dwell_chain}
SYSTEM_NAMES = (*langevin.SYSTEMS, PRINZ, *CHAINS, ALANINE)
#: The models ``--architectures`` can put head to head, each with its class's defaults.
ESTIMATORS = {"lstm": LSTMEstimator, "transformer": TransformerEstimator}
#: Per-seed acceptance against each seed's training data (library defaults):
#: populations of metastable sets, of single states, set-to-set passage rates
#: and MFPTs (relative), generated transitions the data never made (per 1e5
#: steps), and MFPTs against the exact ones where known (relative).
SEED_BOUNDS = {"set population": 0.02, "state population": 0.03, "set rate": 0.20,
               "MFPT": 0.20, "unseen transitions": 1.0, "MFPT vs exact": 0.25,
               "MFPT vs MD": 0.25}


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How much MD, training and generation a run uses.

    Attributes
    ----------
    train_walkers : int
        Langevin walkers of each seed's training replica.
    ref_walkers : int
        Langevin walkers for the reference statistics.
    walker_frames : int
        Frames per Langevin walker (one frame = 100 steps = 1 time unit).
    n_chains : int
        Generated chains per model.
    chain_length : int
        Characters per chain, Langevin systems.
    alanine_chain_length : int
        Characters per chain, alanine dipeptide.
    alanine_run : {"100ns", "bundled"}
        The alanine dipeptide MD (:func:`alanine_dihedrals`).
    seeds : int
        Independent pipeline runs per system (each one ``n_models`` models).
    n_models : int
        Models per run (:func:`mdlstm.pipeline.learn`).
    estimator : dict
        :class:`~mdlstm.LSTMEstimator` keywords that differ from its
        defaults, every system (none in full mode).
    prinz_frames : int
        Frames of each Prinz-potential trajectory (one per seed and per
        reference run).
    chain_walkers, chain_frames : dict
        Walkers and frames per walker of each seed's replica of the Markov
        chain systems (the reference has ``ref_chain_walkers`` times as many
        walkers).
    only_seeds : tuple of int
        The seeds whose models are trained, if not all: the data of all
        ``seeds`` are built alike, so that runs of different seeds are parts
        of one run (the replicas and the reference depend on ``seeds``).
    """

    train_walkers: int
    ref_walkers: int
    walker_frames: int
    n_chains: int
    chain_length: int
    alanine_chain_length: int
    alanine_run: str
    seeds: int
    n_models: int
    estimator: dict
    prinz_frames: int
    chain_walkers: dict
    chain_frames: dict
    only_seeds: tuple = ()

    @property
    def trained_seeds(self):
        """The seeds whose models are trained: ``only_seeds``, or every seed."""
        return self.only_seeds or tuple(range(self.seeds))


#: Training replicas the size of the paper's training set (about 1.6e6
#: characters: 16 x 1e5 frames); a reference of 81 walkers (MD is cheap: 1e5
#: frames take ~1 s), because the slow 4-state populations converge slowly:
#: 27 reference walkers put state 2 at 0.197 ± 0.016, where the Boltzmann
#: population of its x-cell is 0.230; chains as long as a walker, so that
#: MFPTs are cut off by the chain end exactly as in MD, and 256 of them per
#: seed (16 times the data of a Langevin replica), so that the chains' own
#: sampling noise stays below the bounds: with 64, a lag-1 MSM's chains of
#: the 4-state labels were up to 0.023 off its own data's set populations,
#: as far as the 0.02 bound. The grid walker gets as many frames
#: (16 walkers x 1e5): with 4 walkers its seeds' data were 0.08-0.29 off the
#: exact MFPTs, as far as the 0.25 bound on a model of them; with 16, 0.01-0.12.
#: The hidden-dwell chain's heavy-tailed dwells keep its data 0.03-0.28 off
#: exact even at 1.2e6 frames: it stays at 3e5 and its exact row is read next
#: to its data's own. Every system is trained with the library defaults: three
#: models per seed, five seeds.
FULL = Sizes(train_walkers=16, ref_walkers=81, walker_frames=100_000, n_chains=256,
             chain_length=100_000, alanine_chain_length=80_000, alanine_run="100ns", seeds=5,
             n_models=3,
             estimator={}, prinz_frames=200_000,
             chain_walkers={"projected_grid": 16, "hidden_dwell": 1},
             chain_frames={"projected_grid": 100_000, "hidden_dwell": 300_000})
#: A few minutes on two cores. Short walkers, many of them (evenly spread
#: starts tame the noise of the slow 4-state populations), two models per
#: seed. Windows of 20 characters and a 1e-2 peak learning rate reach a
#: usable 4-state model in 8 epochs.
QUICK = Sizes(train_walkers=8, ref_walkers=16, walker_frames=25_000, n_chains=16,
              chain_length=15_000, alanine_chain_length=5_000, alanine_run="bundled", seeds=2,
              n_models=2,
              estimator={"epochs": 8, "seq_length": 20, "learning_rate": 1e-2},
              prinz_frames=40_000,
              chain_walkers={"projected_grid": 2, "hidden_dwell": 1},
              chain_frames={"projected_grid": 30_000, "hidden_dwell": 60_000})


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Acceptance bounds of the 4-state system (see the module docstring)."""

    population: float
    count_rel: float
    zero_three: float
    cross_entropy: float
    memory_error_bars: float
    per_pair: bool


#: The bounds of the full benchmark.
FULL_BOUNDS = Bounds(population=0.02, count_rel=0.20, zero_three=1.0,
                     cross_entropy=0.0072, memory_error_bars=1.0, per_pair=True)
#: Looser bounds for ``--quick`` (a quarter of the data, models trained for a
#: tenth of the time, 2 seeds): populations within 0.15, fast and slow totals
#: within 50 % (single slow pairs hold a handful of events: not checked),
#: 0<->3 below 6 per 1e5 frames, cross-entropy 0.0085, memory test: the LSTM
#: closer to MD than the MSM at all. Three data seeds gave population
#: differences up to 0.08, totals within 27 % and 0<->3 up to 3.3.
QUICK_BOUNDS = Bounds(population=0.15, count_rel=0.50, zero_three=6.0,
                      cross_entropy=0.0085, memory_error_bars=0.0, per_pair=False)


@dataclasses.dataclass
class Case:
    """One discretized data set to benchmark.

    Attributes
    ----------
    name : str
    n_states : int
    replicas : list of list of numpy.ndarray
        Training state sequences, one list per seed.
    reference : list of numpy.ndarray
        MD blocks (walkers or contiguous blocks) for the reference
        statistics, one sample each.
    held_out : list of numpy.ndarray
        MD never trained on, for cross-entropies.
    metastable_sets : list of list of int
        Sets between which MFPTs are measured.
    chain_length : int
        Characters per generated chain.
    discretizer : Discretizer or None
        The fitted discretizer that made the states (None for the Markov
        chains, whose states are observed directly).
    exact_mfpt : callable or None
        Where known, lag (frames) -> exact MFPTs (frames) between the
        metastable sets of trajectories seen every lag frames.
    """

    name: str
    n_states: int
    replicas: list
    reference: list
    held_out: list
    metastable_sets: list
    chain_length: int
    discretizer: Discretizer
    exact_mfpt: object = None


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def simulate_walkers(system, sizes, seed):
    """Reference walkers and one training replica per seed of a Langevin system.

    Walker ``i``'s trajectory depends only on `seed` and ``i``, so the
    reference (the first walkers) is the same whatever the number of seeds.

    Returns
    -------
    reference : list of numpy.ndarray
        x coordinate (length units) of each reference walker.
    replicas : list of list of numpy.ndarray
        x coordinates of the training walkers, one list per seed.
    """
    n_walkers = sizes.ref_walkers + sizes.seeds * sizes.train_walkers
    starts = np.array([system.minima[k % len(system.minima)] for k in range(n_walkers)])
    pos = langevin.simulate(system, n_frames=sizes.walker_frames, n_walkers=n_walkers,
                            seed=seed, start=starts)
    x = list(pos[..., 0])
    train = x[sizes.ref_walkers:]
    return x[:sizes.ref_walkers], [train[k * sizes.train_walkers:(k + 1) * sizes.train_walkers]
                                   for k in range(sizes.seeds)]


def langevin_case(system, x_ref, x_replicas, sizes, raw=False):
    """States of a Langevin system: nearest x-centre, the paper's preprocessing
    unless `raw`."""
    preprocessing = {} if raw else PAPER_PREPROCESSING
    disc = Discretizer(method="centers", centers=system.centers, **preprocessing)
    ref = disc.fit_transform(x_ref)
    return Case(name=system.name + (" (raw labels)" if raw else ""),
                n_states=len(system.centers), replicas=[disc.transform(x) for x in x_replicas],
                reference=ref, held_out=ref,
                metastable_sets=LANGEVIN_SETS[system.name], chain_length=sizes.chain_length,
                discretizer=disc)


def alanine_dihedrals(sizes):
    """Backbone phi and psi (radians, shape (n_frames, 2)) of the run `sizes` names.

    ``"100ns"``: the 100 ns run of ``benchmarks/data`` (made by
    ``benchmarks/data/alanine_dipeptide_100ns.py``); ``"bundled"``: the
    package's 22 ns.
    """
    if sizes.alanine_run == "bundled":
        return alanine_dipeptide.backbone_dihedrals(alanine_dipeptide.universe())
    with np.load(ALANINE_100NS) as data:
        return data["phi_psi"].astype(np.float64)


#: k-means states of alanine dipeptide's (phi, psi) plane.
ALANINE_PLANE_STATES = 40


def conformations(centers):
    """The four conformations of alanine dipeptide, as lists of (phi, psi) states.

    A state belongs to the region of its centre (radians); the bounds sit at the
    minima of the psi histograms of the MD, each side of phi = 0:
    beta/C7eq (phi < 0, psi outside [-120, 60) degrees), alpha_R (phi < 0, psi
    in [-120, 60)), alpha_L (phi > 0, psi in [-120, 100)) and the phi > 0 states
    with psi near 180 degrees (C7ax side, about 2 % of the frames).
    """
    phi, psi = np.degrees(centers[:, 0]), np.degrees(centers[:, 1])
    alpha_r = (phi < 0) & (psi >= -120) & (psi < 60)
    alpha_l = (phi >= 0) & (psi >= -120) & (psi < 100)
    regions = [(phi < 0) & ~alpha_r, alpha_r, alpha_l, (phi >= 0) & ~alpha_l]
    return [np.flatnonzero(region).tolist() for region in regions]


def alanine_cases(sizes):
    """20 periodic bins of phi and of psi, and k-means states of (phi, psi).

    Metastable sets of one dihedral are basin cores, states between them
    belong to no set: phi in (-180, -30) and (30, 120) degrees (the phi < 0
    basins and alpha_L); psi in (-90, 0) (alpha) and (90, 180) degrees
    (beta/C7eq). The (phi, psi) states (:data:`ALANINE_PLANE_STATES`
    k-means clusters, both columns periodic, seed 0) are cut into the four
    conformations of :func:`conformations`, which cover every state.
    """
    dihedrals = dict(zip(("phi", "psi"), alanine_dihedrals(sizes).T))
    cores = {"phi": ((-np.pi, -np.pi / 6), (np.pi / 6, 2 * np.pi / 3)),
             "psi": ((-np.pi / 2, 0.0), (np.pi / 2, np.pi))}
    cases = []
    for name, values in dihedrals.items():
        disc = Discretizer(n_states=20, periodic=2 * np.pi)
        dtraj = disc.fit_transform(values)
        sets = [disc.states_between(lo, hi).tolist() for lo, hi in cores[name]]
        cases.append(alanine_case(name, disc, dtraj, sets, sizes))
    plane = Discretizer(n_states=ALANINE_PLANE_STATES, method="kmeans",
                        periodic=[2 * np.pi, 2 * np.pi], seed=0)
    dtraj = plane.fit_transform(np.column_stack([dihedrals["phi"], dihedrals["psi"]]))
    cases.append(alanine_case("phi,psi", plane, dtraj, conformations(plane.centers_), sizes))
    return cases


def alanine_case(name, disc, dtraj, sets, sizes):
    """The first :data:`ALANINE_TRAIN_FRACTION` of the states trains, the rest is held out."""
    n_train = int(ALANINE_TRAIN_FRACTION * dtraj.size)
    return Case(name=f"{ALANINE} {name}", n_states=disc.n_states_,
                replicas=[[dtraj[:n_train]]] * sizes.seeds,
                reference=np.array_split(dtraj, ALANINE_BLOCKS),
                held_out=[dtraj[n_train:]], metastable_sets=sets,
                chain_length=sizes.alanine_chain_length, discretizer=disc)


def prinz_case(sizes, seed):
    """deeptime's Prinz potential: four wells in 1-D, 20 uniform bins of x.

    One trajectory per seed and five reference trajectories, each started
    in a different well; metastable sets are the four wells (x split at
    -0.5, 0 and 0.5).
    """
    import deeptime.data

    system = deeptime.data.prinz_potential()
    starts = np.array([-0.75, -0.25, 0.25, 0.75])
    runs = [system.trajectory(np.array([[starts[k % 4]]]), sizes.prinz_frames,
                              seed=seed * 1000 + k)[:, 0] for k in range(sizes.seeds + 5)]
    disc = Discretizer(n_states=20).fit(runs)
    bounds = (-np.inf, -0.5, 0.0, 0.5, np.inf)
    sets = [disc.states_between(lo, hi).tolist() for lo, hi in zip(bounds[:-1], bounds[1:])]
    dtrajs = disc.transform(runs)
    return Case(name=PRINZ, n_states=20, replicas=[[d] for d in dtrajs[:sizes.seeds]],
                reference=dtrajs[sizes.seeds:], held_out=dtrajs[sizes.seeds:],
                metastable_sets=sets, chain_length=sizes.prinz_frames, discretizer=disc)


def chain_case(name, sizes, seed):
    """A Markov chain seen through its observed states, with its exact MFPTs."""
    chain = CHAINS[name]()
    walkers, frames = sizes.chain_walkers[name], sizes.chain_frames[name]
    data = chain.simulate(frames, n_walkers=walkers * (sizes.seeds + 4), seed=seed)
    replicas = [data[k * walkers:(k + 1) * walkers] for k in range(sizes.seeds)]
    reference = data[sizes.seeds * walkers:]
    return Case(name=name, n_states=chain.n_observed, replicas=replicas, reference=reference,
                held_out=reference, metastable_sets=chain.metastable_sets, chain_length=frames,
                discretizer=None, exact_mfpt=functools.lru_cache(chain.exact_mfpts))


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------
def estimator_settings(sizes, architecture):
    """The settings of ``sizes.estimator`` that the architecture's estimator has."""
    names = ESTIMATORS[architecture].param_names()
    return {k: v for k, v in sizes.estimator.items() if k in names}


def learn_seed(case, sizes, run, seed, architecture="lstm"):
    """One pipeline run on replica `seed`: ``sizes.n_models`` models and their chains."""
    estimator = ESTIMATORS[architecture](n_states=case.n_states, device=run.device,
                                         **estimator_settings(sizes, architecture))
    return learn(case.replicas[seed], estimator, n_models=sizes.n_models,
                 n_chains=sizes.n_chains, n_steps=case.chain_length, seed=seed,
                 n_workers=run.workers)


# --------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------
def source_stats(cmp, source):
    """Populations, counts per 1e5 frames and MFPTs (frames) of one source of a comparison."""
    # Every comparison here has dt = 1: times are in frames, rates per frame.
    return _per_frames(cmp.populations[source], cmp.transition_rates[source],
                       cmp.mfpt[source])


def measure(dtrajs, case, lag=1):
    """:func:`source_stats` of one set of state sequences seen every `lag` frames."""
    found = seen_every(dtrajs, case, lag)
    return _per_frames(found["populations"], found["transition_rates"], found["mfpt"])


def seen_every(dtrajs, case, lag):
    """:func:`mdlstm.validate.statistics` of sequences (a state per frame) seen every `lag` frames.

    Every phase of the subsampling is kept, so that no data are lost; times
    stay in frames. Seen coarser, a visit shorter than `lag` can be missed:
    fewer transitions and passages, longer MFPTs, as an MSM at that lag sees
    the dynamics.
    """
    every = [np.asarray(d)[phase::lag] for d in dtrajs for phase in range(lag)]
    return statistics(every, case.metastable_sets, n_states=case.n_states, dt=lag)


def _per_frames(populations, rates, mfpt):
    return {"populations": populations, "counts": rates * PER_FRAMES,
            "mfpt": np.where(np.isfinite(mfpt), mfpt, np.nan)}


def mean_sem(samples):
    """Mean and standard error of the mean over samples, ignoring NaN.

    Returns
    -------
    mean, sem : numpy.ndarray
        NaN where fewer than 1 (mean) or 2 (sem) samples are finite.
    """
    arr = np.asarray(samples, dtype=float)
    n = np.sum(np.isfinite(arr), axis=0)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(arr, axis=0)
        sem = np.nanstd(arr, axis=0, ddof=1) / np.sqrt(n)
    return mean, np.where(n >= 2, sem, np.nan)


def summarize(stats_list):
    """:func:`mean_sem` of every statistic over a list of :func:`source_stats`."""
    return {key: mean_sem([s[key] for s in stats_list]) for key in stats_list[0]}


def log(message):
    """Progress line on stderr (the tables go to stdout)."""
    print(f"[fidelity {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def timed(timings, stage):
    """Add the wall time (s) of the block to ``timings[stage]``."""
    start = time.perf_counter()
    yield
    timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - start


def trained_chains(case, sizes, run, timings, entropy, architecture="lstm"):
    """Per seed: learn on its replica (models of `architecture`), then score its models.

    Appends the mean held-out cross-entropy of the seed's models and that of
    the order-1 Markov chain of its replica to ``entropy["LSTM held-out"]``
    and ``entropy["Markov order 1 held-out"]``.

    Yields
    ------
    seed : int
    learned : mdlstm.pipeline.Learned
        Its ``fit_seconds`` and ``generation_seconds`` time the seed's training
        and generation.
    """
    for seed in sizes.trained_seeds:
        with timed(timings, "training and generation"):
            learned = learn_seed(case, sizes, run, seed, architecture)
        kept = [est.history["epoch"].index(est.best_epoch) for est in learned.estimators]
        log(f"{case.name}, seed {seed}: {sizes.n_models} {architecture} models trained in "
            f"{learned.fit_seconds:.0f} s, chains generated in "
            f"{learned.generation_seconds:.0f} s, kept epochs "
            f"{[est.best_epoch for est in learned.estimators]}")
        with timed(timings, "statistics"):
            entropy["LSTM held-out"].append(np.mean([m.score(case.held_out)
                                                     for m in learned.models]))
            entropy["Markov order 1 held-out"].append(
                markov_cross_entropy(case.replicas[seed], case.held_out, 1, case.n_states))
            entropy["LSTM training"].append(np.mean(
                [est.history["train_loss"][k] for est, k in zip(learned.estimators, kept)]))
        yield seed, learned


def levelled_lag(train, n_states):
    """The lag (frames) where the slowest implied timescale of an MSM of `train` levels off.

    The smallest of :data:`LEVEL_LAGS` whose timescale is within
    :data:`LEVEL_TOLERANCE` of the timescale at the longest lag still shorter
    than its timescale (1 if no lag is).
    """
    timescales = [estimate_msm(list(train), lag, n_states).timescales(1)[0]
                  for lag in LEVEL_LAGS]
    usable = [k for k, lag in enumerate(LEVEL_LAGS) if lag < timescales[k]]
    if not usable:
        return 1
    longest = timescales[usable[-1]]
    return next(LEVEL_LAGS[k] for k in usable
                if abs(timescales[k] / longest - 1) <= LEVEL_TOLERANCE)


def seed_row(case, seed, train, learned, msms, entropy):
    """The per-seed acceptance numbers of one pipeline run (see SEED_BOUNDS).

    ``msms``: name (``"MSM lag 1"``, ``"MSM levelled"``) -> (lag in frames,
    :func:`mdlstm.validate.statistics` of that MSM's chains, as many and as
    long as the LSTM's); the levelled one is the MSM at :func:`levelled_lag`,
    in ``row["MSM levelled lag"]``. An MSM is judged against the data, MD and
    the exact MFPTs seen every lag frames, the only resolution its chains
    have: at frame resolution a visit to a set that recrosses within a lag
    completes a passage its chains cannot see (on the 4-state data the MFPTs
    seen every 200 frames are 1.8x those seen every frame, and the lag-200
    MSM's are within 1 % of the former). The lag-1 MSM's set population and
    MFPT errors are printed next to the LSTM's: on nearly Markovian labels
    they are the noise of chains of this length, a floor no model can go below.
    """
    gen = list(learned.generated)
    lstm = statistics(gen, case.metastable_sets, n_states=case.n_states)
    # the data and MD seen at each lag once, for every source judged at it
    seen = {lag: (seen_every(train, case, lag), seen_every(case.reference, case, lag))
            for lag in {1, *(lag for lag, _ in msms.values())}}
    errors = {"": _judged(case, lstm, *seen[1], lag=1)}
    errors.update({f"{name} ": _judged(case, msm, *seen[lag], lag)
                   for name, (lag, msm) in msms.items()})
    row = {"seed": seed, **errors[""]["vs data"],
           "unseen transitions": errors[""]["unseen transitions"],
           "unseen states": errors[""]["unseen states"],
           "held-out CE - Markov 1": entropy["LSTM held-out"][-1]
           - entropy["Markov order 1 held-out"][-1],
           "fit time (s)": learned.fit_seconds,
           "generation (states/s)": learned.generated.size / learned.generation_seconds}
    for name in msms:
        row.update({f"{name} {key}": errors[f"{name} "]["vs data"][key]
                    for key in ("set population", "MFPT")})
    for against in ("MFPT vs MD", "MFPT vs exact"):
        row.update({f"{prefix}{against}": judged[against] for prefix, judged in errors.items()
                    if against in judged})
    if case.exact_mfpt is not None:
        # the training data's own error: the sampling noise no model of it can undo
        row["training data MFPT vs exact"] = _exact_error(seen[1][0], case.exact_mfpt(1))
    return {key: value if key == "seed" else float(value) for key, value in row.items()}


def _judged(case, source, data, md, lag):
    """Errors of a source against the data, MD and exact MFPTs seen every `lag` frames.

    `data` and `md`: :func:`seen_every` of the training data and of the
    reference at `lag`.

    Returns ``"vs data"`` (:func:`_errors`), ``"MFPT vs MD"``, ``"MFPT vs
    exact"`` (where the case knows it) and, for the generated transitions,
    ``"unseen transitions"`` (per 1e5 steps between states that never follow
    each other in the data) and ``"unseen states"`` (fraction of steps in
    states the data never visit).
    """
    never = (data["transition_counts"] == 0) & ~np.eye(case.n_states, dtype=bool)
    judged = {"vs data": _errors(source, data, data["mfpt_events"] > 0),
              "MFPT vs MD": _errors(source, md, md["mfpt_events"] > 0)["MFPT"],
              "unseen transitions": source["transition_counts"][never].sum()
              / source["total_time"] * PER_FRAMES,
              "unseen states": source["populations"][data["populations"] == 0].sum()}
    if case.exact_mfpt is not None:
        judged["MFPT vs exact"] = _exact_error(source, case.exact_mfpt(lag))
    return judged


def _exact_error(source, exact):
    """Largest relative error of a source's MFPTs against exact ones."""
    off = ~np.eye(len(exact), dtype=bool)
    return np.max(np.abs(source["mfpt"][off] / exact[off] - 1))


def _errors(source, data, seen):
    """Largest errors of a source's set and state populations, set rates and MFPTs."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = {k: v["mfpt_events"] / v["total_time"] for k, v in (("data", data),
                                                                   ("source", source))}
        return {"set population": np.max(np.abs(source["set_populations"]
                                                - data["set_populations"])),
                "state population": np.max(np.abs(source["populations"]
                                                  - data["populations"])),
                "set rate": np.max(np.abs(rate["source"][seen] / rate["data"][seen] - 1)),
                "MFPT": np.max(np.abs(source["mfpt"][seen] / data["mfpt"][seen] - 1))}


def evaluate_case(case, sizes, run, timings, architecture="lstm"):
    """Learn (models of `architecture`), generate and measure every source of one case.

    Returns
    -------
    dict
        ``"stats"``: source name -> :func:`summarize` output (``"MD"``,
        ``"training data"`` (the replicas), ``"LSTM"``, ``"MSM lag L"``);
        ``"cross_entropy"``: name -> (mean, sem); ``"seeds"``: one
        :func:`seed_row` per seed; ``"metastable_sets"``.
    """
    with timed(timings, "statistics"):
        # What each model was trained on, next to MD: the LSTM can only be as
        # close to MD as its training replica is.
        samples = {"MD": [measure([block], case) for block in case.reference],
                   "training data": [measure(case.replicas[seed], case)
                                     for seed in sizes.trained_seeds],
                   "LSTM": []}
    samples.update({f"MSM lag {lag}": [] for lag in MSM_LAGS})
    with timed(timings, "statistics"):
        # an MSM's chains see one state every lag frames: the data seen so
        samples.update({f"data every {lag} frames": [measure(case.replicas[seed], case, lag)
                                                     for seed in sizes.trained_seeds]
                        for lag in MSM_LAGS if lag > 1})
    entropy = {"LSTM held-out": [], "LSTM training": [], "Markov order 1 held-out": []}
    rows = []
    for seed, learned in trained_chains(case, sizes, run, timings, entropy, architecture):
        train, gen = case.replicas[seed], list(learned.generated)
        with timed(timings, "statistics"):
            msm_stats = {}
            levelled = levelled_lag(train, case.n_states)
            for lag in sorted({*MSM_LAGS, levelled}):
                cmp = compare(train, gen, n_states=case.n_states, msm_lag=lag,
                              lagtimes=[1], metastable_sets=case.metastable_sets, seed=seed)
                if lag in MSM_LAGS:
                    samples[f"MSM lag {lag}"].append(source_stats(cmp, "MSM"))
                msm_stats[lag] = statistics(cmp.trajectories["MSM"], case.metastable_sets,
                                            n_states=case.n_states, dt=lag)
            # The LSTM side is the same in every comparison: take the last.
            samples["LSTM"].append(source_stats(cmp, "LSTM"))
            msms = {"MSM lag 1": (1, msm_stats[1]),
                    "MSM levelled": (levelled, msm_stats[levelled])}
            row = seed_row(case, seed, train, learned, msms, entropy)
            rows.append({**row, "MSM levelled lag": levelled})
    return {"stats": {src: summarize(s) for src, s in samples.items()},
            "cross_entropy": {k: mean_sem(v) for k, v in entropy.items()},
            "seeds": rows, "metastable_sets": case.metastable_sets,
            "exact_mfpt": None if case.exact_mfpt is None else case.exact_mfpt(1)}


def evaluate_models(case, sizes, run, timings):
    """:func:`evaluate_case` for every architecture of ``run.architectures``.

    Returns
    -------
    result : dict
        The first architecture's, with ``"head_to_head"``: architecture ->
        its :func:`seed_row` list.
    checks : list of dict
        :func:`check_seeds` of every architecture (named after it when there
        are several).
    """
    first, *others = run.architectures
    result = evaluate_case(case, sizes, run, timings, first)
    rows = result["head_to_head"] = {first: result["seeds"]}
    for architecture in others:
        rows[architecture] = evaluate_case(case, sizes, run, timings, architecture)["seeds"]
    checks = []
    for architecture, model_rows in rows.items():
        label = f"{case.name}, {architecture}" if others else case.name
        model = ESTIMATORS[architecture].__name__.removesuffix("Estimator")
        checks += check_seeds(label, model_rows, model)
    return result, checks


def postprocess_labels(disc_raw, dtrajs):
    """The paper's smoothing and short-visit removal applied to state sequences.

    States become their centre values, which are smoothed (50 frames),
    assigned to the nearest centre and cleaned of visits of at most 100
    frames.
    """
    paper = Discretizer(method="centers", centers=disc_raw.centers_, **PAPER_PREPROCESSING)
    return paper.fit_transform(disc_raw.inverse_transform([np.asarray(d) for d in dtrajs]))


def count_distance(counts, reference):
    """L1 distance between two count matrices (per 1e5 frames), off-diagonal."""
    return float(np.abs(counts - reference).sum())


def memory_test(raw_case, paper_case, sizes, run, timings):
    """LSTM vs lag-1 MSM trained on raw 4-state labels, judged after the
    paper's post-processing (see the module docstring).

    Returns
    -------
    dict
        ``"stats"``: summaries for ``"MD (x pipeline)"``, ``"MD"``, ``"LSTM"``,
        ``"MSM lag 1"``; ``"distance"``: source -> (mean, sem) of the L1 count
        distance to MD; ``"cross_entropy"`` on the raw held-out labels.
    """
    disc = raw_case.discretizer
    with timed(timings, "statistics"):
        md = [measure([d], paper_case) for d in postprocess_labels(disc, raw_case.reference)]
        md_x = [measure([d], paper_case) for d in paper_case.reference]
    samples = {"LSTM": [], "MSM lag 1": []}
    entropy = {"LSTM held-out": [], "LSTM training": [], "Markov order 1 held-out": []}
    for seed, learned in trained_chains(raw_case, sizes, run, timings, entropy):
        train, gen = raw_case.replicas[seed], learned.generated
        with timed(timings, "statistics"):
            cmp = compare(train, gen, n_states=raw_case.n_states, msm_lag=1,
                          lagtimes=[1], metastable_sets=raw_case.metastable_sets, seed=seed)
            samples["LSTM"].append(measure(postprocess_labels(disc, list(gen)), paper_case))
            samples["MSM lag 1"].append(
                measure(postprocess_labels(disc, cmp.trajectories["MSM"]), paper_case))
    md_counts = mean_sem([s["counts"] for s in md])[0]
    distance = {src: mean_sem([count_distance(s["counts"], md_counts) for s in runs])
                for src, runs in samples.items()}
    stats = {"MD (x pipeline)": summarize(md_x), "MD": summarize(md)}
    stats.update({src: summarize(runs) for src, runs in samples.items()})
    return {"stats": stats, "distance": distance,
            "cross_entropy": {k: mean_sem(v) for k, v in entropy.items()
                              if k != "LSTM training"}}


# --------------------------------------------------------------------------
# acceptance bounds
# --------------------------------------------------------------------------
def _check(name, value, bound, passed, z=None):
    return {"check": name, "value": float(value), "bound": bound, "passed": bool(passed),
            "z": None if z is None or not np.isfinite(z) else float(z)}


def _relative_check(name, lstm, md, bound):
    """|LSTM - MD| / MD <= bound, with the difference in combined SEMs."""
    (m, sm), (r, sr) = lstm, md
    rel = abs(m - r) / r if r > 0 else np.inf
    z = abs(m - r) / math.hypot(sm, sr) if np.isfinite(math.hypot(sm, sr)) else None
    return _check(name, rel, f"<= {bound:g} (relative)", rel <= bound, z)


def check_four_state(result, memory, bounds):
    """The acceptance checks of the 4-state system; a list of dicts."""
    md, lstm = result["stats"]["MD"], result["stats"]["LSTM"]
    checks = []
    for i, (m, sm, r, sr) in enumerate(zip(*lstm["populations"], *md["populations"])):
        z = abs(m - r) / math.hypot(sm, sr) if np.isfinite(math.hypot(sm, sr)) else None
        checks.append(_check(f"population of state {i}: |LSTM - MD|", abs(m - r),
                             f"<= {bounds.population:g}", abs(m - r) <= bounds.population, z))
    for label, pairs in (("fast", FAST_PAIRS), ("slow", SLOW_PAIRS)):
        for i, j in pairs if bounds.per_pair else ():
            checks.append(_relative_check(
                f"{label} count {i}->{j} per 1e5 frames", (lstm["counts"][0][i, j],
                                                           lstm["counts"][1][i, j]),
                (md["counts"][0][i, j], md["counts"][1][i, j]), bounds.count_rel))
        checks.append(_relative_check(
            f"{label} counts, total of {len(pairs)} pairs",
            _pair_total(lstm["counts"], pairs), _pair_total(md["counts"], pairs),
            bounds.count_rel))
    for i, j in ((0, 3), (3, 0)):
        value = lstm["counts"][0][i, j]
        checks.append(_check(f"count {i}->{j} per 1e5 frames (LSTM)", value,
                             f"< {bounds.zero_three:g}", value < bounds.zero_three))
    value = result["cross_entropy"]["LSTM training"][0]
    checks.append(_check("training cross-entropy (nats/char)", value,
                         f"<= {bounds.cross_entropy:g}", value <= bounds.cross_entropy))
    if memory is not None:
        (d_lstm, s_lstm) = memory["distance"]["LSTM"]
        (d_msm, s_msm) = memory["distance"]["MSM lag 1"]
        margin = bounds.memory_error_bars * (np.nan_to_num(s_lstm) + np.nan_to_num(s_msm))
        checks.append(_check("memory test: MSM distance - LSTM distance (per 1e5 frames)",
                             d_msm - d_lstm, f"> {margin:.3g} ({bounds.memory_error_bars:g} x "
                             "summed SEMs)", d_msm - d_lstm > margin))
    return checks


def check_seeds(name, rows, model):
    """The per-seed acceptance of one system's ``model``, judged on its worst seed.

    ``rows``: the model's :func:`seed_row` list; ``model``: its name in the
    checks ("LSTM", "Transformer"). Every architecture of a head
    to head is held to the same bounds, each with its estimator's defaults.
    """
    checks = []
    for key, bound in SEED_BOUNDS.items():
        if key not in rows[0]:
            continue
        worst = max(row[key] for row in rows)
        checks.append(_check(f"{name}: {key}, worst of {len(rows)} seeds", worst,
                             f"<= {bound:g}", worst <= bound))
    worst = max(row["unseen states"] for row in rows)
    checks.append(_check(f"{name}: steps in states the data never visited", worst, "== 0",
                         worst == 0))
    if "MSM lag 1 MFPT vs exact" in rows[0]:
        margin = min(row["MSM lag 1 MFPT vs exact"] - row["MFPT vs exact"] for row in rows)
        checks.append(_check(f"{name}: MSM lag 1 error - {model} error of MFPTs vs exact, "
                             "worst seed", margin, "> 0", margin > 0))
    return checks


def _pair_total(counts, pairs):
    """Sum and SEM (added in quadrature) of the counts of several pairs."""
    mean, sem = counts
    return (sum(mean[p] for p in pairs), math.sqrt(sum(sem[p] ** 2 for p in pairs)))


# --------------------------------------------------------------------------
# Markdown output
# --------------------------------------------------------------------------
def fmt(mean, sem, digits):
    """``mean ± sem`` with `digits` decimals; ``n/a`` for NaN."""
    if not np.isfinite(mean):
        return "n/a"
    if not np.isfinite(sem):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sem:.{digits}f}"


def population_table(stats):
    sources = list(stats)
    n = stats[sources[0]]["populations"][0].size
    rows = [[i] + [fmt(stats[s]["populations"][0][i], stats[s]["populations"][1][i], 3)
                   for s in sources] for i in range(n)]
    return markdown_table(["state", *sources], rows)


def count_table(stats, max_pairs=20):
    """Counts per 1e5 frames of every ordered pair, or of the `max_pairs`
    busiest MD pairs plus the rest summed."""
    sources = list(stats)
    md = stats[sources[0]]["counts"][0]
    n = md.shape[0]
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
    rest = []
    if len(pairs) > max_pairs:
        pairs.sort(key=lambda p: -md[p])
        pairs, rest = pairs[:max_pairs], pairs[max_pairs:]
    rows = [[f"{i}->{j}"] + [fmt(stats[s]["counts"][0][i, j], stats[s]["counts"][1][i, j], 2)
                             for s in sources] for i, j in pairs]
    if rest:
        rows.append([f"other {len(rest)} pairs"] + [
            fmt(*_pair_total(stats[s]["counts"], rest), 2) for s in sources])
    total = [(i, j) for i in range(n) for j in range(n) if i != j]
    rows.append(["all pairs"] + [fmt(*_pair_total(stats[s]["counts"], total), 2)
                                 for s in sources])
    return markdown_table(["pair", *sources], rows)


def mfpt_table(stats, sets):
    sources = list(stats)
    rows = []
    for a in range(len(sets)):
        for b in range(len(sets)):
            if a != b:
                rows.append([f"S{a}->S{b}"] + [fmt(stats[s]["mfpt"][0][a, b],
                                                   stats[s]["mfpt"][1][a, b], 0)
                                               for s in sources])
    names = ", ".join(f"S{k} = {{{', '.join(map(str, s))}}}" for k, s in enumerate(sets))
    return f"Sets: {names}.\n\n" + markdown_table(["MFPT (frames)", *sources], rows)


def entropy_table(entropy):
    return markdown_table(["model", "cross-entropy (nats/char)"],
                          [[name, fmt(m, s, 5)] for name, (m, s) in entropy.items()])


#: Seed-row numbers whose worst seed is the smallest (every other: the largest).
HIGHER_IS_BETTER = ("generation (states/s)",)


def worst_seed(rows, key):
    """The worst value of `key` over seed rows: the smallest speed, the largest error."""
    return (min if key in HIGHER_IS_BETTER else max)(row[key] for row in rows)


def seed_table(rows):
    """One row per seed of the per-seed acceptance numbers, and the worst seed."""
    keys = [k for k in rows[0] if k != "seed" and not k.startswith("MSM levelled")]
    worst = {k: worst_seed(rows, k) for k in keys}
    body = [[r["seed"]] + [f"{r[k]:.3g}" for k in keys] for r in rows]
    body.append(["**worst**"] + [f"**{worst[k]:.3g}**" for k in keys])
    return markdown_table(["seed", *keys], body)


def exact_line(result):
    """The exact MFPTs of a system with a known answer."""
    exact = result.get("exact_mfpt")
    if exact is None:
        return ""
    pairs = ", ".join(f"S{a}->S{b} {exact[a, b]:.0f}" for a in range(len(exact))
                      for b in range(len(exact)) if a != b)
    return f"Exact MFPTs (frames) of the microstate chain: {pairs}."


def case_section(name, result):
    parts = [f"## {name}",
             "### Every seed against its training data (library defaults)",
             "Maximum over metastable sets (set population, absolute), states (state "
             "population), ordered pairs of sets (set rate: passages per frame, and MFPT, "
             "relative); generated transitions between states that never follow each other "
             "in the training data, per 1e5 steps; fraction of steps in states it never "
             "visits; held-out cross-entropy of the seed's models minus the order-1 Markov "
             "chain's (nats per character); wall time of training the seed's models, and "
             "the rate of generating its chains (states per second, all chains together); the "
             "set population and MFPT errors of a lag-1 MSM's chains, as many and as long: "
             "on nearly Markovian labels the noise of the chains themselves. MFPT vs MD: "
             "the same MFPT error against the reference MD, all of it pooled, for the LSTM "
             "and the lag-1 MSM."
             + (" MFPT vs exact: relative error of the LSTM's and of a lag-1 MSM's MFPTs "
                "against the exact ones, and that of the seed's training data itself (the "
                "sampling noise of the data, which no model of it can remove)."
                if result.get("exact_mfpt") is not None else ""),
             seed_table(result["seeds"]), exact_line(result),
             "### Populations", population_table(result["stats"]),
             "### Transition counts per 1e5 frames", count_table(result["stats"]),
             "### Mean first passage times", mfpt_table(result["stats"],
                                                        result["metastable_sets"]),
             "### Cross-entropy", entropy_table(result["cross_entropy"])]
    if "head_to_head" in result:
        parts.append(head_to_head_section(name, result["head_to_head"]))
    return "\n\n".join(part for part in parts if part)


def memory_section(memory):
    stats = memory["stats"]
    sources = list(stats)
    focus = [(0, 3), (3, 0)] + list(FAST_PAIRS) + list(SLOW_PAIRS)
    rows = [[f"{i}->{j}"] + [fmt(stats[s]["counts"][0][i, j], stats[s]["counts"][1][i, j], 2)
                             for s in sources] for i, j in focus]
    distance = [[src, fmt(*d, 2)] for src, d in memory["distance"].items()]
    return "\n\n".join([
        "## Memory test (4-state, raw labels, post-processed alike)",
        "Counts per 1e5 frames after the paper's smoothing (50) and short-visit "
        "removal (100) of the label sequences. `MD (x pipeline)` is the main "
        "4-state table's MD (smoothing of the continuous x).",
        markdown_table(["pair", *sources], rows),
        "### Populations after post-processing", population_table(stats),
        "### L1 distance of the count matrix to MD's (per 1e5 frames)",
        markdown_table(["model", "distance"], distance),
        "### Cross-entropy on raw held-out labels", entropy_table(memory["cross_entropy"])])


#: Worst-seed columns of the head-to-head table: (column, key of a seed row);
#: an MSM's key is its name and the model's key (``"MSM lag 1 MFPT"``).
HEAD_TO_HEAD = (("set population", "set population"), ("MFPT vs data", "MFPT"),
                ("MFPT vs MD", "MFPT vs MD"), ("MFPT vs exact", "MFPT vs exact"),
                ("held-out CE - Markov 1", "held-out CE - Markov 1"),
                ("fit time (s)", "fit time (s)"),
                ("generation (states/s)", "generation (states/s)"))


def head_to_head_section(name, rows_by_model):
    """Worst seed of every model of one case, and of the MSMs, side by side.

    ``rows_by_model``: model name -> its :func:`seed_row` list (the first
    model's rows also give the MSMs', which do not depend on the model).
    """
    first = next(iter(rows_by_model.values()))
    columns = [c for c in HEAD_TO_HEAD if c[1] in first[0]]

    def worst(rows, key):
        return "n/a" if key not in rows[0] else f"{worst_seed(rows, key):.3g}"

    body = [[model] + [worst(rows, key) for _, key in columns]
            for model, rows in rows_by_model.items()]
    msms = {"MSM lag 1": "MSM lag 1"}
    if "MSM levelled lag" in first[0]:
        lags = sorted({row["MSM levelled lag"] for row in first})
        msms["MSM levelled"] = f"MSM at the levelled-off lag ({', '.join(map(str, lags))})"
    body += [[label] + [worst(first, f"{msm} {key}") for _, key in columns]
             for msm, label in msms.items()]
    return "\n\n".join([
        f"### {name}: head to head (worst of {len(first)} seeds)",
        "Largest errors over the seeds, as in the per-seed table: every model with its "
        "estimator's defaults, trained and judged on the same replicas; wall time of training "
        "one seed's models (processes as in the header), and the rate at which they "
        "generate its chains (all chains together, one process). The MSMs are estimated on "
        "the same replicas and sampled as long: at lag 1, and at the lag (frames; the seeds' "
        "lags in brackets) "
        f"where the slowest implied timescale levels off (the smallest of {LEVEL_LAGS} "
        f"within {LEVEL_TOLERANCE:.0%} of the timescale at the longest lag shorter than "
        "its timescale). Each MSM is judged at its own resolution: against the data, MD and "
        "exact MFPTs seen every lag frames, whose passages are fewer and longer (recrossings "
        "within a lag are not seen); the models at every frame.",
        markdown_table(["model", *(c[0] for c in columns)], body)])


def checks_section(checks, title):
    rows = [[c["check"], f"{c['value']:.4g}", c["bound"],
             "n/a" if c["z"] is None else f"{c['z']:.1f}",
             "PASS" if c["passed"] else "**FAIL**"] for c in checks]
    header = ["check", "value", "bound", "|diff| / SEM", "result"]
    return "\n\n".join([f"## {title}", markdown_table(header, rows)])


def header_section(args, sizes, timings, total):
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())
    trained = f" (trained: {list(sizes.only_seeds)})" if sizes.only_seeds else ""
    return "\n".join([
        "# mdlstm fidelity benchmark: MD vs LSTM vs MSM", "",
        f"Mode: {'quick' if args.quick else 'full'}; systems: {', '.join(args.systems)}; "
        f"seeds: {sizes.seeds}{trained}; device: {args.device}; "
        f"threads: {args.threads or 'default'}"
        f"{f' in each of {args.workers} training processes' if args.workers else ''}.",
        f"Langevin MD: {sizes.ref_walkers} reference walkers and, per seed, "
        f"{sizes.train_walkers} training walkers, each {sizes.walker_frames} frames. "
        f"Per seed: {sizes.n_models} models (mdlstm.pipeline.learn), {sizes.n_chains} "
        f"chains x {sizes.chain_length} (Langevin) / {sizes.alanine_chain_length} (alanine "
        "dipeptide) / as many as a training trajectory (other systems) characters. "
        f"Models: {', '.join(args.architectures)} (the detailed tables and four-state "
        f"checks: {args.architectures[0]}; the per-seed checks: each). Estimator settings "
        "beyond the defaults: "
        + "; ".join(f"{a} {estimator_settings(sizes, a) or 'none'}"
                    for a in args.architectures) + ".",
        "Mean ± standard error: over seeds (training data, LSTM, MSM), over walkers or "
        f"blocks (MD). Wall time {total:.0f} s ({stages})."])


# --------------------------------------------------------------------------
# driver
# --------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="MD vs LSTM vs MSM fidelity benchmark "
                                     "(Tsai, Kuo & Tiwary 2020).",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="reduced sizes and looser bounds (a few minutes)")
    parser.add_argument("--systems", default=",".join(SYSTEM_NAMES),
                        help=f"comma-separated subset of {','.join(SYSTEM_NAMES)}")
    parser.add_argument("--seeds", type=int, default=None,
                        help="independent pipeline runs per system, each of n_models models "
                             "(default 5, quick 2)")
    parser.add_argument("--only-seeds", default=None,
                        help="comma-separated seeds (0 to seeds-1) whose models are trained "
                             "(default all): the data are those of the whole run, so that "
                             "the seeds of a long run can be run apart")
    parser.add_argument("--out", default=None, help="also write the Markdown report here")
    parser.add_argument("--device", default="auto", help="torch device (auto, cpu, cuda)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch and numba threads (default: library defaults)")
    parser.add_argument("--workers", type=int, default=None,
                        help="train the models of a seed in this many processes (default: "
                             "one per model, up to the CPU cores)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the Langevin MD")
    parser.add_argument("--architectures", default="lstm",
                        help="comma-separated models to put head to head, each with its "
                             f"defaults: some of {','.join(ESTIMATORS)} (the first fills "
                             "the detailed tables and the four-state checks; every one is "
                             "held to the per-seed checks)")
    args = parser.parse_args(argv)
    args.architectures = [a.strip() for a in args.architectures.split(",") if a.strip()]
    if not args.architectures or not set(args.architectures) <= set(ESTIMATORS) \
            or len(set(args.architectures)) < len(args.architectures):
        parser.error(f"--architectures must name some of {', '.join(ESTIMATORS)} once "
                     f"each, got {args.architectures}")
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(args.systems) - set(SYSTEM_NAMES))
    if unknown or not args.systems:
        parser.error(f"--systems must name some of {', '.join(SYSTEM_NAMES)}, got {unknown}")
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.only_seeds is not None:
        seeds = args.seeds or (QUICK if args.quick else FULL).seeds
        try:
            args.only_seeds = tuple(int(s) for s in args.only_seeds.split(",") if s.strip())
        except ValueError:
            args.only_seeds = None
        if not args.only_seeds or len(set(args.only_seeds)) < len(args.only_seeds) \
                or not set(args.only_seeds) <= set(range(seeds)):
            parser.error(f"--only-seeds must list seeds among 0 to {seeds - 1} once each")
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers must be at least 1, got {args.workers}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    return args


def set_threads(n):
    """Limit torch and numba to `n` threads (None: leave the defaults)."""
    if n is None:
        return
    import numba
    import torch

    torch.set_num_threads(n)
    numba.set_num_threads(n)


def run(argv=None):
    """Run the benchmark, print the report and return every number.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default ``sys.argv[1:]``).

    Returns
    -------
    dict
        ``"cases"``: case name -> :func:`evaluate_case` output;
        ``"memory"``: :func:`memory_test` output (or None);
        ``"checks"``: list of check dicts (``check``, ``value``, ``bound``,
        ``passed``, ``z``); ``"bounds"``: the :class:`Bounds` used;
        ``"sizes"``; ``"timings"`` (s per stage); ``"report"``: the Markdown.
    """
    args = parse_args(argv)
    set_threads(args.threads)
    sizes = QUICK if args.quick else FULL
    if args.seeds is not None:
        sizes = dataclasses.replace(sizes, seeds=args.seeds)
    if args.only_seeds:
        sizes = dataclasses.replace(sizes, only_seeds=args.only_seeds)
    bounds = QUICK_BOUNDS if args.quick else FULL_BOUNDS
    timings, cases, memory, checks, seed_checks = {}, {}, None, [], []
    start = time.perf_counter()
    for name in args.systems:
        log(f"{name}: MD data")
        data_seed = 100 * args.data_seed + SYSTEM_NAMES.index(name)
        with timed(timings, "MD data"):
            if name == ALANINE:
                todo = alanine_cases(sizes)
            elif name == PRINZ:
                todo = [prinz_case(sizes, data_seed)]
            elif name in CHAINS:
                todo = [chain_case(name, sizes, data_seed)]
            else:
                system = langevin.SYSTEMS[name]
                x_ref, x_replicas = simulate_walkers(system, sizes, data_seed)
                todo = [langevin_case(system, x_ref, x_replicas, sizes)]
        for case in todo:
            cases[case.name], checks_of_case = evaluate_models(case, sizes, args, timings)
            seed_checks += checks_of_case
            print(case_section(case.name, cases[case.name]), end="\n\n", flush=True)
        if name == "four_state":
            raw_case = langevin_case(system, x_ref, x_replicas, sizes, raw=True)
            memory = memory_test(raw_case, todo[0], sizes, args, timings)
            print(memory_section(memory), end="\n\n", flush=True)
            checks = check_four_state(cases[name], memory, bounds)
    kind = "QUICK (loose)" if args.quick else "FULL"
    sections = []
    if checks:
        sections.append(checks_section(checks, f"Acceptance checks, 4-state system "
                                               f"({kind} bounds)"))
    if seed_checks and not args.quick:
        # quick mode trains with shortened settings: its per-seed rows are shown, not judged
        sections.append(checks_section(seed_checks, "Acceptance checks, every system, worst "
                                                    "seed (library defaults)"))
    for section in sections:
        print(section, end="\n\n", flush=True)
    total = time.perf_counter() - start
    parts = [header_section(args, sizes, timings, total)]
    parts += [case_section(name, result) for name, result in cases.items()]
    if memory is not None:
        parts.append(memory_section(memory))
    parts += sections
    report = "\n\n".join(parts) + "\n"
    print(header_section(args, sizes, timings, total))
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(report)
    return {"cases": cases, "memory": memory,
            "checks": checks + (seed_checks if not args.quick else []), "bounds": bounds,
            "sizes": sizes, "timings": timings, "report": report}


def main(argv=None):
    """Command-line entry: exit status 1 if any acceptance check failed."""
    results = run(argv)
    failed = [c["check"] for c in results["checks"] if not c["passed"]]
    if failed:
        print(f"FAILED {len(failed)} of {len(results['checks'])} checks: " + "; ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
