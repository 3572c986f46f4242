"""Wall time to a trained model with the defaults: ``benchmarks/training_time.py``.

One ``LSTMEstimator(n_states=..., seed=...).fit(train)`` per system and seed,
on the training replica of seed 0 of each system of
``benchmarks/fidelity.py`` (full sizes), one torch thread, nothing else set.
The data are built once and saved, so that the same arrays can be timed with
another version of mdlstm, for example the previous release, whose
``LSTMEstimator`` takes the same call::

    python benchmarks/training_time.py --save-data /tmp/fit_data.npz
    python benchmarks/training_time.py --data /tmp/fit_data.npz --out new.md
    PYTHONPATH=/path/to/old/checkout python benchmarks/training_time.py \\
        --data /tmp/fit_data.npz --out old.md

The timing mode imports only ``mdlstm.LSTMEstimator``. A fit's time
includes everything the estimator does (the held-out split, the optimizer
updates, the evaluations and, with ``selection="generated"``, the candidate
chains, the calibration of the kept model, whose share is its own column), not
the import of torch.
"""
import argparse
import dataclasses
import time

import numpy as np

SYSTEMS = ("four_state", "prinz_four_well", "hidden_dwell", "projected_grid",
           "alanine_dipeptide phi")


def build_data():
    """Seed 0's training replica of every system: name -> (list of dtrajs, n_states)."""
    import fidelity
    from mdlstm.systems import langevin

    sizes = dataclasses.replace(fidelity.FULL, seeds=1, ref_walkers=4)
    system = langevin.FOUR_STATE
    x_ref, x_replicas = fidelity.simulate_walkers(system, sizes, seed=0)
    cases = [fidelity.langevin_case(system, x_ref, x_replicas, sizes),
             fidelity.prinz_case(sizes, seed=0),
             *(fidelity.chain_case(name, sizes, seed=0) for name in fidelity.CHAINS),
             fidelity.alanine_cases(sizes)[0]]
    return {case.name: (case.replicas[0], case.n_states) for case in cases}


def save_data(path):
    arrays = {}
    for name, (dtrajs, n_states) in build_data().items():
        arrays[f"{name}|n_states"] = np.array(n_states)
        for k, dtraj in enumerate(dtrajs):
            arrays[f"{name}|{k}"] = np.asarray(dtraj)
    np.savez_compressed(path, **arrays)


def load_data(path):
    data = {}
    with np.load(path) as stored:
        for key in stored.files:
            name, part = key.split("|")
            dtrajs, n_states = data.setdefault(name, ([], None))
            if part == "n_states":
                data[name] = (dtrajs, int(stored[key]))
            else:
                dtrajs.append(stored[key])
    return data


def time_fits(data, seeds, systems=SYSTEMS):
    import torch

    import mdlstm
    from mdlstm import LSTMEstimator

    torch.set_num_threads(1)
    rows = []
    for name in systems:
        dtrajs, n_states = data[name]
        for seed in seeds:
            estimator = LSTMEstimator(n_states=n_states, seed=seed)
            start = time.perf_counter()
            estimator.fit(dtrajs)
            seconds = time.perf_counter() - start
            history = estimator.history
            updates = history["update"][-1] if "update" in history else "-"
            calibration = estimator.fetch_model().metadata.get("calibration", {})
            rows.append((name, sum(len(d) for d in dtrajs), seed, len(history["epoch"]),
                         updates, seconds, calibration.get("time_s")))
            print(f"{name} seed {seed}: {seconds:.1f} s", flush=True)
    return mdlstm.__file__, rows


def table(source, rows):
    lines = [f"mdlstm from {source}; torch threads 1", "",
             "| system | characters | seed | evaluations | updates | wall time (s) "
             "| of which calibration (s) |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {n} | {c:,} | {s} | {e} | {u} | {t:.1f} | "
              f"{'-' if k is None else f'{k:.1f}'} |" for n, c, s, e, u, t, k in rows]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--save-data", metavar="FILE.npz", help="build the data and save it")
    mode.add_argument("--data", metavar="FILE.npz", help="time the fits on saved data")
    parser.add_argument("--seeds", type=int, default=2, help="fits per system (default 2)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated subset of {','.join(SYSTEMS)} (timing mode)")
    parser.add_argument("--out", help="also write the Markdown table here")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(SYSTEMS))
    if unknown or not systems:
        parser.error(f"--systems must name some of {', '.join(SYSTEMS)}, got {unknown}")
    if args.save_data:
        save_data(args.save_data)
        return
    text = table(*time_fits(load_data(args.data), range(args.seeds), systems))
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
