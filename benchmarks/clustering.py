"""States from many frames of several features: ``benchmarks/clustering.py``.

Times ``Discretizer(n_states, method="kmeans", seed=0).fit_transform(x)`` on
``x`` of shape ``(frames, features)`` against deeptime's
:class:`~deeptime.clustering.KMeans` called directly, and prints a Markdown table.
The data are eight Gaussian basins (unit width, centres drawn with scale 3) in
``features`` dimensions, seed 0. Rows:

- ``Discretizer``: the whole call (checks, standardisation, k-means fitted to at
  most ``_features.KMEANS_MAX_FIT_FRAMES`` frames evenly spaced through the data,
  best of ``_features.KMEANS_N_INIT`` seeded starts, assignment of every frame,
  centres in feature units, state order);
- ``deeptime, same work``: the same standardised points, subsample, starts and
  tolerance, then ``ClusterModel.transform`` of every frame, i.e. what the
  Discretizer does minus its own code: the difference is its overhead;
- ``deeptime, all frames``: one seeded ``KMeans`` start with deeptime's default
  settings fitted to every frame, then ``transform`` (skipped with ``--no-full``).

Each row is one call (k-means iterations are seeded, so repeats take the same
path), after the imports; ``--threads`` limits BLAS/OpenMP threads. Usage::

    python benchmarks/clustering.py                         # 1e6 x 10 -> 100 states
    python benchmarks/clustering.py --frames 100000 --no-full
"""
import argparse
import os
import time


def basins(frames, features, seed=0):
    """``(frames, features)`` points around eight Gaussian basins."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = 3.0 * rng.normal(size=(8, features))
    return centres[rng.integers(0, 8, frames)] + rng.normal(size=(frames, features))


def timed(func):
    """(result, seconds) of one call."""
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def deeptime_same_work(x, n_states):
    """What the Discretizer runs, called on deeptime directly."""
    from deeptime.clustering import ClusterModel, KMeans

    from mdlstm import _features

    y = (x - x.mean(axis=0)) / x.std(axis=0)
    fit_points = y[::-(-len(y) // _features.KMEANS_MAX_FIT_FRAMES)]
    starts = [KMeans(n_states, fixed_seed=k, n_jobs=1, tolerance=_features.KMEANS_TOLERANCE)
              for k in range(_features.KMEANS_N_INIT)]
    best = min((km.fit(fit_points).fetch_model() for km in starts), key=lambda m: m.inertia)
    return ClusterModel(best.cluster_centers).transform(y)


def deeptime_all_frames(x, n_states):
    """One deeptime k-means start on every (standardised) frame."""
    from deeptime.clustering import KMeans

    y = (x - x.mean(axis=0)) / x.std(axis=0)
    model = KMeans(n_states, fixed_seed=0, n_jobs=1).fit(y).fetch_model()
    return model.transform(y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10**6)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--states", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-full", action="store_true",
                        help="skip deeptime k-means on all frames (minutes at 1e6 frames)")
    args = parser.parse_args(argv)

    import deeptime.clustering  # noqa: F401  (imported before the clock starts)
    from threadpoolctl import threadpool_limits

    from mdlstm import Discretizer

    x = basins(args.frames, args.features)
    rows = []
    with threadpool_limits(args.threads):
        disc = Discretizer(n_states=args.states, method="kmeans", seed=0)
        states, seconds = timed(lambda: disc.fit_transform(x))
        rows.append(("Discretizer(method='kmeans')", seconds, len(set(states.tolist()))))
        found, seconds = timed(lambda: deeptime_same_work(x, args.states))
        rows.append(("deeptime KMeans, same work", seconds, len(set(found.tolist()))))
        if not args.no_full:
            found, seconds = timed(lambda: deeptime_all_frames(x, args.states))
            rows.append(("deeptime KMeans, all frames, 1 start", seconds,
                         len(set(found.tolist()))))
    print(f"{args.frames:,} frames x {args.features} features -> {args.states} states, "
          f"{args.threads} thread(s), {os.cpu_count()} CPUs\n")
    print("| call | wall time (s) | states used |\n|---|---|---|")
    for name, seconds, used in rows:
        print(f"| {name} | {seconds:.1f} | {used} |")
    print(f"\nDiscretizer overhead over the same work: {rows[0][1] - rows[1][1]:+.1f} s "
          f"({rows[0][1] / rows[1][1] - 1:+.0%})")


if __name__ == "__main__":
    main()
