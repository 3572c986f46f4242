"""What masking unseen transitions costs: ``benchmarks/masking.py``.

``LSTMModel.generate(mask="states")`` never generates a state the training
data never visited; ``mask="transitions"`` (the default) also forbids every
one-step change ``i -> j`` the training data never made. The second removes
every invented jump, but also real transitions that the training data were
too short to show. This script measures both effects: models are trained on
the first part of a trajectory and judged against the whole of it, where the
rare transitions missing from the training part do occur. Each seed's
network is sampled three ways: as trained (``calibrate=False``) with either
mask, and calibrated (the library's default, :mod:`mdlstm._calibration`)
with ``"transitions"``.

Printed per system, model and seed: generated transitions per 1e5 steps
between states that never follow each other in the training part, split
into those that never follow each other in the whole trajectory either
(*invented*) and those that do (*real but unseen*, next to their rate in the
whole trajectory), and the largest error of a state population and of an
MFPT between metastable sets against the training part.

Usage::

    python benchmarks/masking.py            # ~5 min on 2 cores
    python benchmarks/masking.py --seeds 1
"""
import argparse

import numpy as np

from mdlstm import Discretizer, LSTMEstimator, cv
from mdlstm._calibration import calibrate
from mdlstm.analysis import CVSeries
from mdlstm.model import prompts
from mdlstm.pipeline import learn
from mdlstm.systems import alanine_dipeptide, markov_chains
from mdlstm.validate import statistics

PER = 100_000


def alanine_phi():
    """20 periodic phi bins of the bundled trajectory; sets: phi < 0 and phi > 0."""
    u = alanine_dipeptide.universe()
    phi = CVSeries(u, cv.Dihedral(u.residues[1].phi_selection())).run().results.cv
    disc = Discretizer(n_states=20, periodic=2 * np.pi)
    dtraj = disc.fit_transform(phi)
    sets = [disc.states_between(-np.pi, 0).tolist(), disc.states_between(0, np.pi).tolist()]
    return dtraj, sets


def grid_chain():
    """The projected grid walker, one 4e5-frame walker."""
    chain = markov_chains.projected_grid_chain()
    return chain.simulate(400_000, seed=1)[0], chain.metastable_sets


SYSTEMS = {"alanine dipeptide phi (train on the first 40 %)": (alanine_phi, 0.4),
           "projected grid chain (train on the first 25 %)": (grid_chain, 0.25)}


def pairs(dtraj, n_states):
    counts = np.zeros((n_states, n_states))
    np.add.at(counts, (dtraj[:-1], dtraj[1:]), 1)
    np.fill_diagonal(counts, 0)
    return counts


def row(gen, train, whole, sets, n_states):
    gen_counts = sum(pairs(g, n_states) for g in gen)
    per_step = PER / sum(len(g) - 1 for g in gen)
    unseen = pairs(train, n_states) == 0
    real = pairs(whole, n_states) > 0
    data, lstm = (statistics(d, sets, n_states=n_states) for d in ([train], list(gen)))
    seen = data["mfpt_events"] > 0
    return {"invented": gen_counts[unseen & ~real].sum() * per_step,
            "real but unseen": gen_counts[unseen & real].sum() * per_step,
            "their rate in the whole data": pairs(whole, n_states)[unseen & real].sum()
            * PER / (len(whole) - 1),
            "state population": np.max(np.abs(lstm["populations"] - data["populations"])),
            "MFPT": np.max(np.abs(lstm["mfpt"][seen] / data["mfpt"][seen] - 1))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    for name, (make, fraction) in SYSTEMS.items():
        whole, sets = make()
        n_states = int(whole.max()) + 1
        train = whole[:int(fraction * len(whole))]
        print(f"\n## {name}\n")
        header = None
        for seed in range(args.seeds):
            estimator = LSTMEstimator(n_states=n_states, calibrate=False)
            network = learn(train, estimator, n_models=1, n_chains=1, n_steps=1,
                            seed=seed).models[0]
            calibrated = calibrate(network, [train], seed, estimator.seq_length)
            for label, model, mask in (("network", network, "states"),
                                       ("network", network, "transitions"),
                                       ("calibrated", calibrated, "transitions")):
                gen = model.generate(len(train), n_trajectories=16, seed=seed, mask=mask,
                                     prompt=prompts(train, 16, 100))
                numbers = row(gen.astype(np.int64), train, whole, sets, n_states)
                if header is None:
                    header = list(numbers)
                    print("| seed | model | mask | " + " | ".join(header) + " |")
                    print("|---" * (len(header) + 3) + "|")
                print(f"| {seed} | {label} | {mask} | "
                      + " | ".join(f"{numbers[k]:.3g}" for k in header) + " |", flush=True)


if __name__ == "__main__":
    main()
