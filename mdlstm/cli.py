"""The ``mdlstm`` command.

``mdlstm demo``
    The whole pipeline on the bundled alanine dipeptide trajectory (CV: the
    backbone dihedral phi), report written to a new directory.
``mdlstm fit TOPOLOGY TRAJECTORY... --cv SPEC --out DIR``
    The same on your own files; several trajectory files are independent
    runs. ``SPEC`` is a short CV description, see :func:`mdlstm.cv.from_spec`
    (e.g. ``phi:2``, ``distance:resid 1 and name CA;resid 10 and name CA``).
``mdlstm maxcal MODEL TOPOLOGY TRAJECTORY... --cv SPEC --statistic NAME --target X --out FILE``
    The maximum-caliber correction (:mod:`mdlstm.maxcal`) of a saved model
    toward a known statistic: a corrected model file and the verdict table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _estimator_default(name):
    """The default of an LSTMEstimator parameter (one place for the CLI's defaults)."""
    import inspect

    from .train import LSTMEstimator   # imports no torch: `mdlstm --help` stays fast

    return inspect.signature(LSTMEstimator).parameters[name].default


def _common_options(parser):
    from .train import PRECISIONS

    parser.add_argument("--n-states", type=int, default=20, help="uniform CV bins (20)")
    parser.add_argument("--epochs", type=_epochs, default=_estimator_default("epochs"),
                        help="passes over the training data (auto: 60, within 1,000-5,000 "
                             "optimizer updates)")
    parser.add_argument("--validation-fraction", type=float,
                        default=_estimator_default("validation_fraction"),
                        help="fraction of the frames, at the end, held out and scored "
                             "(0.1); 0 trains on all frames")
    parser.add_argument("--architecture", choices=("lstm", "transformer"), default="lstm",
                        help="the network: lstm (default, the paper's) or a decoder-only "
                             "transformer with the defaults of mdlstm.TransformerEstimator")
    parser.add_argument("--n-models", type=int, default=3,
                        help="independently trained models, in parallel processes (3)")
    parser.add_argument("--mask", choices=("transitions", "states", "none"),
                        default="transitions",
                        help="never generate one-step transitions (default) or only states "
                             "the MD never showed; none: sample the model everywhere")
    parser.add_argument("--precision", choices=PRECISIONS,
                        default=_estimator_default("precision"),
                        help="training arithmetic (float32); bfloat16 is faster on GPUs "
                             "and CPUs with bfloat16 units")
    parser.add_argument("--n-trajectories", type=int, default=16,
                        help="generated chains (16)")
    parser.add_argument("--n-steps", type=int, default=None,
                        help="steps per generated chain (default: as many as MD frames)")
    parser.add_argument("--step", type=int, default=1,
                        help="analyse every STEP-th frame; one model step = STEP frames")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: the small LSTM's steps gain nothing from "
                             "more, and spinning threads on a busy machine cost up to 6x)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into an existing output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _epochs(text):
    """``--epochs``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer or auto, got {text!r}")


def _parser():
    parser = argparse.ArgumentParser(
        prog="mdlstm", description="Learn MD dynamics along a CV with an LSTM, generate "
        "new trajectories and compare them with MD and a Markov state model.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the pipeline on bundled alanine dipeptide MD")
    demo.add_argument("--out", default=None,
                      help="report directory (default: a new ./mdlstm-demo[-N])")
    _common_options(demo)
    fit = sub.add_parser("fit", help="run the pipeline on your own trajectory files")
    fit.add_argument("topology")
    fit.add_argument("trajectories", nargs="+")
    fit.add_argument("--cv", required=True, action="append",
                     help="CV spec, e.g. 'phi:2' or 'distance:SEL1;SEL2'; give --cv several "
                     "times for states from several CVs (k-means on all of them)")
    fit.add_argument("--out", required=True, help="report directory")
    _common_options(fit)
    _maxcal_options(sub.add_parser(
        "maxcal", help="correct a saved model toward a known statistic (maximum caliber)"))
    return parser


def _maxcal_options(parser):
    from .maxcal import STATISTICS

    parser.add_argument("model", help="the model file to correct (mdlstm fit writes "
                        "model.mdlstm)")
    parser.add_argument("topology")
    parser.add_argument("trajectories", nargs="+", help="the data the model learned from")
    parser.add_argument("--cv", required=True, action="append",
                        help="the model's CV spec(s), as given to mdlstm fit")
    parser.add_argument("--statistic", required=True, choices=STATISTICS,
                        help="path statistic whose mean over chains is corrected")
    parser.add_argument("--target", required=True, type=float,
                        help="the mean the statistic should have (e.g. a population ratio "
                        "from a longer run)")
    parser.add_argument("--sets", type=_state_sets, default=None,
                        help="two sets of states for population_ratio and transition_count, "
                        "e.g. '0-4;15-19' or '0,1;3'")
    parser.add_argument("--out", required=True, help="corrected model file to write")
    parser.add_argument("--n-chains", type=int, default=256,
                        help="chains generated before and after the correction (256)")
    parser.add_argument("--n-steps", type=int, default=None,
                        help="steps per chain (default: as many as analysed frames)")
    parser.add_argument("--n-select", type=int, default=None,
                        help="chains the corrected model trains on (default: --n-chains)")
    parser.add_argument("--step", type=int, default=1,
                        help="analyse every STEP-th frame, as when the model was trained")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing --out file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def _state_sets(text):
    """``--sets``: two ``;``-separated lists of states, each of numbers and ranges ``a-b``."""
    parts = text.split(";")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"must be two sets of states separated by ';', "
                                         f"e.g. '0-4;15-19', got {text!r}")
    sets = []
    for part in parts:
        states = []
        for item in filter(None, (x.strip() for x in part.split(","))):
            low, _, high = item.partition("-")
            try:
                low, high = int(low), int(high or low)
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"{item!r} is not a state or a range a-b of states (in {text!r})") from None
            states.extend(range(low, high + 1))
        if not states:
            raise argparse.ArgumentTypeError(f"both sets must hold states, got {text!r}")
        sets.append(states)
    return sets


def _free_directory(base):
    """``base``, or ``base-2``, ``base-3``, ... : the first that does not exist."""
    path, n = Path(base), 1
    while path.exists():
        n += 1
        path = Path(f"{base}-{n}")
    return path


def _run(universe, cv, out, args, title):
    from .analysis import LSTMDynamics
    from .report import held_out_line

    out = Path(out)
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; choose another --out or pass --overwrite")
    if args.threads < 1:
        raise ValueError(f"--threads must be a positive integer, got {args.threads}")
    import torch

    from .train import LSTMEstimator, TransformerEstimator

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    estimator = {"lstm": LSTMEstimator, "transformer": TransformerEstimator}[args.architecture]
    run = LSTMDynamics(universe, cv, estimator=estimator(), n_states=args.n_states,
                       epochs=args.epochs,
                       validation_fraction=args.validation_fraction,
                       precision=args.precision, n_steps=args.n_steps,
                       n_trajectories=args.n_trajectories, n_models=args.n_models,
                       mask=None if args.mask == "none" else args.mask,
                       device=args.device, seed=args.seed, verbose=not args.quiet)
    run.run(step=args.step, verbose=not args.quiet)
    paths = run.report(out, overwrite=args.overwrite)
    model_path = out / "model.mdlstm"
    run.results.model.save(model_path, overwrite=args.overwrite)
    r = run.results
    print(f"\n{title}")
    print(f"{len(r.dtraj)} frames, one model step = {r.dt:g} ps; "
          f"{r.generated.shape[0]} generated chains x {r.generated.shape[1]} steps "
          f"from {len(r.models)} model(s)")
    print(r.comparison.format_summary())
    print(held_out_line(r.comparison, r.history))
    print("\nwritten:")
    for path in list(paths.values()) + [model_path]:
        print(f"  {path}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    return run


def _maxcal(args):
    """``mdlstm maxcal``: the corrected model file and the verdict table."""
    import MDAnalysis as mda
    import numpy as np

    from . import cv as cvmod
    from ._format import _jsonable
    from .analysis import CVSeries
    from .discretize import Discretizer
    from .model import LSTMModel
    from .pipeline import correct
    from .train import LSTMEstimator

    out, model_path = Path(args.out), Path(args.model)
    if out.resolve() == model_path.resolve():
        raise ValueError(f"--out {out} is the model being corrected; write the corrected "
                         "model to another file")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"{out} exists; choose another --out or pass --overwrite")
    if args.statistic in ("population_ratio", "transition_count") and args.sets is None:
        raise ValueError(f"--statistic {args.statistic} needs --sets, two sets of states "
                         "such as '0-4;15-19'")
    for name in ("n_chains", "n_steps", "n_select", "step", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, "
                             f"got {getattr(args, name)}")
    model = LSTMModel.load(model_path, device=args.device)
    meta = model.metadata
    missing = [key for key in ("discretizer", "cv", "training") if key not in meta]
    if missing:
        raise ValueError(f"{model_path} lacks the metadata {', '.join(missing)} that "
                         "maxcal needs: correct a model written by mdlstm fit or LSTMDynamics")
    u = mda.Universe(args.topology, *args.trajectories)
    cvs = [cvmod.from_spec(u, spec) for spec in args.cv]
    saved = meta["cv"] if isinstance(meta["cv"], list) else [meta["cv"]]
    if [_jsonable(c.describe()) for c in cvs] != saved:
        raise ValueError(f"--cv {' '.join(args.cv)} is not the model's CV: the model was "
                         f"trained on {[(d['type'], d['name']) for d in saved]}")
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    series = CVSeries(u, cvs[0] if len(cvs) == 1 else cvs)
    series.run(step=args.step, verbose=not args.quiet)
    r = series.results
    if model.dt is not None and not np.isclose(r.dt, model.dt, rtol=1e-4):
        raise ValueError(f"one analysed step is {r.dt:g} ps with --step {args.step}, but "
                         f"the model's step is {model.dt:g} ps: give the --step it was "
                         "trained with")
    disc = Discretizer.from_dict(meta["discretizer"])
    dtrajs = disc.transform(np.split(r.cv, r.trajectory_starts[1:]))
    training = meta["training"]
    estimator = LSTMEstimator(**{k: training[k] for k in LSTMEstimator.param_names()
                                 if k in training and k not in ("device", "verbose")},
                              device=args.device)
    keep = {k: meta[k] for k in ("cv", "discretizer", "dt", "time_unit") if k in meta}
    verdict = correct(dtrajs, [model], estimator, args.statistic, args.target, sets=args.sets,
                      n_chains=args.n_chains, n_steps=args.n_steps, n_select=args.n_select,
                      metadata=keep, dt=r.dt, time_unit="ps", seed=args.seed,
                      progress=not args.quiet)
    verdict.correction.fetch_model().save(out, overwrite=args.overwrite)
    print(f"\n{model_path}: maximum-caliber correction on {len(np.concatenate(dtrajs))} "
          f"frames, one model step = {r.dt:g} ps")
    print(verdict.format_summary())
    failures = verdict.failures()
    print(f"\n{len(failures)} of {len(verdict.rows)} rows outside the tolerances"
          + (f": {', '.join(failures)}" if failures else ""))
    print(f"written: {out}")
    print(f"wall time {time.perf_counter() - t0:.0f} s")
    return verdict


def main(argv=None):
    """Entry point of the ``mdlstm`` command."""
    args = _parser().parse_args(argv)
    import MDAnalysis as mda

    from . import cv as cvmod

    try:
        if args.command == "maxcal":
            _maxcal(args)
        elif args.command == "demo":
            from .systems import alanine_dipeptide

            u = alanine_dipeptide.universe()
            phi = cvmod.Dihedral(u.residues[1].phi_selection(), name="phi")
            out = args.out or _free_directory("mdlstm-demo")
            _run(u, phi, out, args, "Alanine dipeptide (bundled MD), CV = phi")
        else:
            u = mda.Universe(args.topology, *args.trajectories)
            cvs = [cvmod.from_spec(u, spec) for spec in args.cv]
            _run(u, cvs[0] if len(cvs) == 1 else cvs, args.out, args,
                 f"{args.topology}: CV = {', '.join(args.cv)}")
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as err:
        print(f"mdlstm: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
