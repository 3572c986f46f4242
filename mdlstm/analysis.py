r"""Learning the dynamics of a trajectory --- :mod:`mdlstm.analysis`
================================================================

:class:`LSTMDynamics` is the MDAnalysis face of mdlstm. It evaluates a
collective variable (CV) on every analysed frame, like any
:class:`~MDAnalysis.analysis.base.AnalysisBase`, and then, once, runs the
whole pipeline of Tsai, Kuo & Tiwary (2020) on the CV series:

1. cut the CV into states with a :class:`~mdlstm.discretize.Discretizer`
   (uniform bins by default; periodic CVs wrap around the circle);
2. train ``n_models`` Embedding -> LSTM -> Linear language models with
   independent seeds on the state sequence, in parallel processes on a CPU
   (:class:`~mdlstm.train.LSTMEstimator`, last 10 % of the frames held out);
3. generate ``n_trajectories`` new chains, shared among the models, each
   started from a window of the MD data (:func:`~mdlstm.model.prompts`,
   :meth:`~mdlstm.model.LSTMModel.generate`); states the MD never visited
   are never generated;
4. compare MD, LSTM and a Markov state model side by side
   (:func:`~mdlstm.validate.compare`), the LSTM's error bars holding the
   spread between the models, and models that disagree with the others
   named.

Example
-------
The backbone :math:`\phi` dihedral of alanine dipeptide::

    import MDAnalysis as mda
    from mdlstm import LSTMDynamics, cv
    from mdlstm.systems import alanine_dipeptide

    u = alanine_dipeptide.universe()
    phi = cv.Dihedral(u.residues[1].phi_selection(), name="phi")
    run = LSTMDynamics(u, phi, n_states=20, seed=0).run(verbose=True)
    print(run.results.comparison.format_summary())
    run.report("ala2-report")

One model step is one analysed frame, so ``run(step=10)`` learns the dynamics
at ten times the saving interval. Times are in ps, as everywhere in
MDAnalysis. The CV is computed in parallel with ``run(backend="multiprocessing",
n_workers=2)``, ``backend="dask"``, or on a ``dask.distributed`` cluster with
``run(client=client)``; training and generation run once, in the
main process, on the device chosen by ``device``.
"""

from __future__ import annotations

import warnings

import numpy as np
from MDAnalysis.analysis.backends import BackendBase
from MDAnalysis.analysis.base import AnalysisBase, ResultsGroup
from MDAnalysis.core.groups import AtomGroup
from MDAnalysis.core.universe import Universe

from ._checks import positive_float, positive_int, seed_value
from .cv import CollectiveVariable
from .discretize import Discretizer
from .structures import write_generated_trajectory

#: Values of ``mask`` (those of :data:`mdlstm.model.MASKS`, spelled out here
#: so that the frame loop does not import torch).
MASKS = (None, "states", "transitions")

# Every dask worker imports this module to unpickle the analysis. The frame
# loop needs only MDAnalysis and numpy, so torch and deeptime (several seconds
# of imports per worker) are imported in the methods that train and compare,
# which run once, in the main process.

__all__ = ["CVSeries", "LSTMDynamics", "DaskClientBackend"]


def _refuse_unknown(kwargs, owner):
    """TypeError naming keywords that are no parameter of `owner`."""
    if kwargs:
        names = ", ".join(map(repr, sorted(kwargs)))
        raise TypeError(f"unexpected keyword argument(s) {names}: not a parameter of {owner}")


class CVSeries(AnalysisBase):
    """A collective variable on every analysed frame: the frame loop alone.

    What :class:`LSTMDynamics` computes before it learns, for a CV series
    to look at, to save, or to discretize and learn from with
    :mod:`mdlstm.pipeline` yourself.

    Parameters
    ----------
    atomgroup : Universe or AtomGroup
        The system whose trajectory is analysed.
    cv : mdlstm.cv.CollectiveVariable or list of them
        The collective variable, built on atoms of the same Universe, or
        several of them (one column each, e.g. ``[phi, psi]``; a
        :class:`~mdlstm.cv.Features` gives one column per value).
    verbose : bool
        Progress bar over the frames.

    Attributes
    ----------
    results.cv : numpy.ndarray, shape (n_frames,) or (n_frames, n_cv)
        CV value per analysed frame (in ``cv.units``); one column per CV when
        a list of CVs is given, each in its own units.
    results.times : numpy.ndarray, shape (n_frames,)
        Time of every analysed frame (ps).
    results.dt : float
        Time between analysed frames (ps).
    results.trajectory_starts : numpy.ndarray of int
        Index of the first analysed frame of every trajectory file (a
        Universe built from several files holds independent trajectories).

    Examples
    --------
    ::

        phi = cv.Dihedral(u.residues[1].phi_selection(), name="phi")
        series = CVSeries(u, phi).run(step=2)
        series.results.cv, series.results.dt
    """

    _analysis_algorithm_is_parallelizable = True
    #: Fewest analysed frames accepted (two make one time step).
    _min_frames = 2

    @classmethod
    def get_supported_backends(cls):
        return ("serial", "multiprocessing", "dask")

    def __init__(self, atomgroup, cv, verbose=False, **kwargs):
        if isinstance(atomgroup, Universe):
            universe = atomgroup
        elif isinstance(atomgroup, AtomGroup):
            universe = atomgroup.universe
        else:
            raise TypeError("atomgroup must be an MDAnalysis Universe or AtomGroup, "
                            f"got {type(atomgroup).__name__}")
        self._cvs = _as_cv_list(cv, universe)
        # one scalar CV (also a list of one) keeps 1-D results
        single = len(self._cvs) == 1 and self._cvs[0].n_values == 1
        self._cv = self._cvs[0] if single else None
        stops = np.cumsum([c.n_values for c in self._cvs])
        self._columns = [(c, slice(stop - c.n_values, stop)) for c, stop in zip(self._cvs, stops)]
        # AnalysisBase accepts and ignores any keyword: a misspelt one would vanish
        _refuse_unknown(kwargs, type(self).__name__)
        super().__init__(universe.trajectory, verbose=verbose)

    # ------------------------------------------------------------ frame loop
    def run(self, start=None, stop=None, step=None, frames=None, verbose=None,
            n_workers=None, n_parts=None, backend=None, client=None, **kwargs):
        """Compute the CV on every selected frame (and what a subclass does next).

        Parameters are those of :meth:`MDAnalysis.analysis.base.AnalysisBase.run`;
        the selected frames must be evenly spaced in time.

        Parameters
        ----------
        client : distributed.Client, optional
            Compute the CV on this ``dask.distributed`` cluster (with
            ``backend="dask"`` or no backend), in ``n_parts`` parts (default:
            one per worker of the cluster); see :class:`DaskClientBackend`.
        """
        if client is not None:
            if backend not in (None, "dask") or n_workers is not None:
                raise ValueError("client runs the dask backend on its cluster's workers: "
                                 "pass neither another backend nor n_workers")
            backend = DaskClientBackend(client)
            kwargs["unsupported_backend"] = True
        if backend in (None, "serial") and max(n_workers or 1, n_parts or 1) > 1:
            # MDAnalysis would split the serial run into parts that overwrite each other
            raise ValueError("n_workers/n_parts > 1 need backend='multiprocessing' or "
                             "'dask'; the serial backend runs one part")
        n_selected = _selected_frames(self._universe.trajectory, start, stop, step, frames)
        if n_selected < self._min_frames:
            raise ValueError(f"the frame selection has {n_selected} frames; "
                             f"{self._why_min_frames()}")
        return super().run(start=start, stop=stop, step=step, frames=frames,
                           verbose=verbose, n_workers=n_workers, n_parts=n_parts,
                           backend=backend, **kwargs)

    @property
    def _universe(self):
        return self._cvs[0].universe

    def _prepare(self):
        # a plain attribute: the frame loop skips the Results lookup on every frame
        width = self._columns[-1][1].stop
        shape = self.n_frames if self._cv is not None else (self.n_frames, width)
        self._values = self.results.cv = np.empty(shape)

    def _single_frame(self):
        if self._cv is not None:
            self._values[self._frame_index] = self._cv()
            return
        row = self._values[self._frame_index]
        for cv, columns in self._columns:
            row[columns] = cv()

    def _expanded_columns(self):
        """(CV, index of its value) of every column of ``results.cv``."""
        return [(cv, k) for cv, _ in self._columns for k in range(cv.n_values)]

    def _column_periods(self):
        """The period (or None) of every column of ``results.cv``."""
        return [cv.period for cv, _ in self._expanded_columns()]

    def _column_names(self):
        return [cv.name if cv.n_values == 1 else f"{cv.name}[{k}]"
                for cv, k in self._expanded_columns()]

    def _get_aggregator(self):
        # parts are joined in frame order: along the first axis, also for columns
        join = ResultsGroup.ndarray_hstack if self._cv is not None else ResultsGroup.ndarray_vstack
        return ResultsGroup(lookup={"cv": join})

    def _describe_cvs(self):
        """``describe()`` of the CV, or a list of them for several."""
        return self._cv.describe() if self._cv is not None else [c.describe() for c in self._cvs]

    def _why_min_frames(self):
        return f"at least {self._min_frames} are needed (one time step)"

    def _conclude(self):
        _check_finite(self.results.cv, self.frames, self._column_names())
        cuts = _file_boundaries(self._universe.trajectory, self.frames)
        self.results.times = self.times
        self.results.dt = _frame_interval(np.split(self.times, cuts))
        self.results.trajectory_starts = np.concatenate([[0], cuts]).astype(int)


class LSTMDynamics(CVSeries):
    """Learn and regenerate the dynamics of a trajectory projected on a CV.

    Parameters
    ----------
    atomgroup : Universe or AtomGroup
        The system whose trajectory is analysed.
    cv : mdlstm.cv.CollectiveVariable or list of them
        The collective variable, built on atoms of the same Universe, or
        several (``[phi, psi]``): one column each, states from all of them.
    n_states : int
        Number of states (ignored when ``discretizer`` is given): uniform bins
        of one CV, k-means clusters of several.
    discretizer : mdlstm.Discretizer, optional
        A configured discretizer: fitted, its bins are used as they are;
        unfitted, a copy is fitted to the analysed frames of every
        :meth:`run` (the object passed in is never changed). For several CVs
        its ``periodic`` must give each CV's period (None for a non-periodic
        one). Default: one CV, ``n_states`` uniform bins over the data range,
        wrapping over the CV's period if it has one; several CVs,
        ``Discretizer(n_states, method="kmeans", periodic=[each CV's period],
        seed=seed)`` (periodic CVs embedded as cos and sin, every feature
        standardised).
    estimator : mdlstm.LSTMEstimator or mdlstm.TransformerEstimator, optional
        The network and training settings (default: ``LSTMEstimator()``, the
        library's defaults). It is cloned, never fitted itself; its ``seed``
        and ``n_states`` are this run's.
    **kwargs
        Shortcuts: any other parameter of the estimator's class
        (:class:`~mdlstm.train.LSTMEstimator`: ``embedding_dim``,
        ``hidden_size``, ``seq_length``, ``epochs``, ``validation_fraction``,
        ``device``, ``precision``, ...; :class:`~mdlstm.train.TransformerEstimator`
        also ``d_model``, ``context_length``, ...) replaces the estimator's in
        the clone, so ``LSTMDynamics(u, cv, epochs=20)`` and
        ``LSTMDynamics(u, cv, estimator=LSTMEstimator(epochs=20))`` are the
        same run. Any other keyword is a TypeError (naming it).
    n_steps : int, optional
        Characters generated per chain; default: as many as analysed frames.
    n_trajectories : int
        Number of generated chains, shared as evenly as possible among the
        models; at least ``n_models``.
    n_models : int
        Independently trained models (seeds drawn from ``seed``), in
        parallel processes on a CPU (:func:`~mdlstm.train.fit_many`).
    mask : {"transitions", "states", None}
        What generation never produces because the MD never showed it, see
        :meth:`~mdlstm.model.LSTMModel.generate`.
    temperature : float
        Sampling temperature (1.0 samples the learned distribution).
    lagtimes : list of int, optional
        Lag times (steps) of the implied-timescale comparison.
    metastable_sets : list of list of int, or callable, optional
        At least two disjoint sets of states between which the comparison
        measures populations, rates and MFPTs (states may belong to none);
        or a function of the fitted discretizer that returns them, for
        states known only once they are fitted (k-means), e.g. by their
        centres: ``lambda disc: [np.flatnonzero(disc.centers_[:, 0] < 0),
        np.flatnonzero(disc.centers_[:, 0] >= 0)]``. Checked before training.
        Default: PCCA+ of the MD MSM (:func:`mdlstm.compare`).
    seed : int, optional
        Seeds training, prompts and sampling; drawn at random (and stored in
        ``results.seed``) when None.
    verbose : bool
        Progress bars for the frames, training and generation.

    Attributes
    ----------
    results.cv : numpy.ndarray, shape (n_frames,) or (n_frames, n_cv)
        CV value per analysed frame (in ``cv.units``); one column per CV for
        several.
    results.times : numpy.ndarray, shape (n_frames,)
        Time of every analysed frame (ps).
    results.dt : float
        Time between analysed frames = one model step (ps).
    results.dtraj : numpy.ndarray, shape (n_frames,)
        State of every analysed frame.
    results.trajectory_starts : numpy.ndarray of int
        Index of the first analysed frame of every trajectory file (a
        Universe built from several files holds independent trajectories; no
        transition is counted across their boundaries).
    results.discretizer : mdlstm.Discretizer
        The fitted discretizer.
    results.models : list of mdlstm.LSTMModel
        The trained models.
    results.model : mdlstm.LSTMModel
        The first of them.
    results.histories : list of dict
        Training history of every model (:attr:`LSTMEstimator.history`:
        losses in nats per character, and the generated statistics of the
        candidates).
    results.history : dict
        The first model's.
    results.generated : numpy.ndarray, shape (n_trajectories, n_steps)
        Generated states.
    results.generated_models : numpy.ndarray of int, shape (n_trajectories,)
        The model that generated each chain.
    results.comparison : mdlstm.validate.Comparison
        MD vs LSTM vs MSM.
    results.seed : int
        The seed used.
    results.maxcal : mdlstm.maxcal.MaxCalVerdict
        After :meth:`maxcal`: the correction and its verdict.
    """

    def __init__(self, atomgroup, cv, n_states=20, discretizer=None, estimator=None,
                 n_steps=None, n_trajectories=16, n_models=3, temperature=1.0, lagtimes=None,
                 mask="transitions", metastable_sets=None, seed=None, verbose=False, **kwargs):
        # train.py imports no torch: unpickling this analysis on a dask worker stays light
        from .train import LSTMEstimator

        if estimator is None:
            estimator = LSTMEstimator()
        elif not isinstance(estimator, LSTMEstimator):
            raise TypeError("estimator must be an mdlstm.LSTMEstimator, got "
                            f"{type(estimator).__name__}")
        # the shortcuts of the estimator's own class (a TransformerEstimator's d_model)
        names = set(estimator.param_names()) - {"n_states", "seed", "verbose"}
        shortcuts = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        _refuse_unknown(kwargs, f"LSTMDynamics or {type(estimator).__name__}")
        super().__init__(atomgroup, cv, verbose=verbose)
        # one seed for training, prompts and sampling, so results.seed reproduces the run
        self._seed = seed_value(seed)
        self._discretizer = self._checked_discretizer(discretizer, n_states)
        self._estimator = estimator.clone(**shortcuts, seed=self._seed, verbose=verbose)
        self._estimator._check_params()
        self._n_steps = None if n_steps is None else positive_int(n_steps, "n_steps")
        self._n_trajectories = positive_int(n_trajectories, "n_trajectories")
        self._n_models = positive_int(n_models, "n_models")
        if self._n_trajectories < self._n_models:
            raise ValueError(f"n_trajectories ({n_trajectories}) must be at least n_models "
                             f"({n_models}): every model generates chains")
        if not (mask is None or isinstance(mask, str)) or mask not in MASKS:
            raise ValueError(f"mask must be 'states', 'transitions' or None, got {mask!r}")
        self._mask = mask
        self._temperature = positive_float(temperature, "temperature")
        if lagtimes is not None:
            lagtimes = [positive_int(lag, "lagtimes") for lag in lagtimes]
        self._lagtimes = lagtimes
        if not (metastable_sets is None or callable(metastable_sets)
                or isinstance(metastable_sets, (list, tuple))):
            raise TypeError("metastable_sets must be a list of sets of states or a function "
                            f"of the fitted discretizer, got {type(metastable_sets).__name__}")
        self._metastable_sets = metastable_sets
        self._min_frames = self._estimator.seq_length + 1

    def _why_min_frames(self):
        return f"training needs at least seq_length+1 = {self._min_frames}"

    def _checked_discretizer(self, discretizer, n_states):
        """The discretizer to fit: the default for the CV(s), or the user's, checked."""
        periods = self._column_periods()
        if discretizer is None:
            if self._cv is not None:
                return Discretizer(n_states=n_states, method="uniform", periodic=periods[0])
            # several CVs: k-means in the standardised (cos, sin)-embedded feature space
            return Discretizer(n_states=n_states, method="kmeans", periodic=periods,
                               seed=self._seed)
        if not isinstance(discretizer, Discretizer):
            raise TypeError("discretizer must be an mdlstm.Discretizer, got "
                            f"{type(discretizer).__name__}")
        cv = self._cv
        if cv is not None:
            if cv.period is not None and discretizer.periodic is None:
                warnings.warn(f"cv {cv.name!r} is periodic (period {cv.period:g} {cv.units}) "
                              "but the discretizer is not: states on either side of the "
                              "period boundary will not be neighbours; pass "
                              "periodic=cv.period", UserWarning, stacklevel=3)
            return discretizer
        given = discretizer.periodic
        if given is None or not np.ndim(given) or len(given) != len(periods):
            raise ValueError(f"discretizer.periodic must give one period per CV column "
                             f"({len(periods)} of them: {periods}), got {given!r}")
        names = self._column_names()
        for j, (period, expected) in enumerate(zip(given, periods)):
            if (expected is None) != (period is None) or (
                    period is not None and not np.isclose(period, expected)):
                raise ValueError(f"discretizer.periodic[{j}] is {period!r}, but cv "
                                 f"{names[j]!r} (column {j}) has period {expected!r}")
        return discretizer

    # ------------------------------------------------------------ the pipeline
    def _conclude(self):
        from .pipeline import evaluate, learn
        from .validate._statistics import _check_metastable_sets

        super()._conclude()
        self.results.seed = self._seed
        pieces = np.split(self.results.cv, self.results.trajectory_starts[1:])
        # a fitted discretizer gives its bins; an unfitted one is fitted as a
        # copy, so that every run() fits its own frames and the object passed
        # in is never changed
        disc = self._discretizer
        if not hasattr(disc, "n_states_"):
            disc = disc.clone().fit(pieces)
        dtrajs = disc.transform(pieces)
        self.results.discretizer = disc
        self.results.dtraj = np.concatenate(dtrajs)
        sets = self._metastable_sets
        if callable(sets):
            sets = sets(disc)
        if sets is not None:  # before training: a bad set costs no training time
            sets = _check_metastable_sets(sets, disc.n_states_)

        meta = {"cv": self._describe_cvs(), "discretizer": disc.to_dict(),
                "dt": self.results.dt, "time_unit": "ps"}
        learned = learn(dtrajs, self._estimator.clone(n_states=disc.n_states_),
                        n_models=self._n_models,
                        n_chains=self._n_trajectories, n_steps=self._n_steps,
                        temperature=self._temperature, mask=self._mask, metadata=meta,
                        seed=self._seed, progress=self._verbose)
        self.results.models, self.results.model = learned.models, learned.models[0]
        self.results.histories = [est.history for est in learned.estimators]
        self.results.history = self.results.histories[0]
        self.results.generated = learned.generated
        self.results.generated_models = learned.generated_models
        self.results.comparison = evaluate(dtrajs, learned, dt=self.results.dt, time_unit="ps",
                                           lagtimes=self._lagtimes,
                                           state_values=self._state_values(),
                                           metastable_sets=sets, seed=self._seed)

    def maxcal(self, statistic, target, sets=None, n_chains=256, n_steps=None, n_select=None,
               reference="data", seed=None):
        """Correct this run's models toward a known statistic by maximum caliber.

        The ps-LSTM correction (:mod:`mdlstm.maxcal`, :func:`mdlstm.pipeline.correct`):
        the run's models generate `n_chains` chains, which are weighted toward
        `target` and drawn from; a model with this run's training settings is
        trained on the drawn chains and generates `n_chains` new ones. Both
        sets of chains are compared with `reference` on the run's metastable
        sets and lag times.

        Parameters
        ----------
        statistic : {"population_ratio", "hop_fraction", "transition_count"} or callable
            The path statistic, see :func:`mdlstm.maxcal.path_statistic`.
        target : float
            The mean of the statistic over chains that the correction aims at,
            e.g. a population ratio from a longer run or an experiment.
        sets : list of two lists of int, optional
            States (of ``results.discretizer``) of ``"population_ratio"`` and
            ``"transition_count"``.
        n_chains : int
            Chains generated before and after the correction.
        n_steps : int, optional
            Steps per chain; default: as many as ``results.generated`` has.
        n_select : int, optional
            Chains the corrected model is trained on; default `n_chains`.
        reference : "data", None, or array_like of int, or list of them
            What the verdict judges against: this run's states (default),
            None (the uncorrected chains), or states of another run.
        seed : int, optional
            Default: this run's seed.

        Returns
        -------
        mdlstm.maxcal.MaxCalVerdict
            Also stored as ``results.maxcal``; ``.correction.fetch_model()`` is
            the corrected model.

        Examples
        --------
        ::

            run = LSTMDynamics(u, phi, seed=0).run()
            verdict = run.maxcal("population_ratio", 0.5, sets=[range(0, 10), range(10, 20)])
            print(verdict.format_summary())
            verdict.correction.fetch_model().save("corrected.mdlstm")
        """
        if "comparison" not in self.results:
            raise RuntimeError("maxcal() needs results: call run() first")
        from .pipeline import correct

        r = self.results
        dtrajs = np.split(r.dtraj, r.trajectory_starts[1:])
        meta = {"cv": self._describe_cvs(), "discretizer": r.discretizer.to_dict(),
                "dt": r.dt, "time_unit": "ps"}
        r.maxcal = correct(
            dtrajs, r.models, self._estimator, statistic, target, sets=sets, n_chains=n_chains,
            n_steps=r.generated.shape[1] if n_steps is None else n_steps, n_select=n_select,
            temperature=self._temperature, mask=self._mask, metadata=meta,
            reference=reference, dt=r.dt, time_unit="ps", lagtimes=self._lagtimes,
            metastable_sets=r.comparison.metastable_sets,
            seed=self._seed if seed is None else seed, progress=self._verbose)
        return r.maxcal

    def _state_values(self):
        """CV value of each state for the 1-D figures and nearest-state fallbacks (one CV)."""
        return self.results.discretizer.centers_ if self._cv is not None else None

    def report(self, directory, overwrite=False):
        """Write figures and a Markdown report of this run.

        Parameters
        ----------
        directory : str or os.PathLike
            New directory to create.
        overwrite : bool
            Replace the files of an existing report; otherwise
            :class:`FileExistsError`.

        Returns
        -------
        dict
            Paths of the files written, by kind.
        """
        if "comparison" not in self.results:
            raise RuntimeError("report() needs results: call run() first")
        from .report import write_report
        several = self._cv is None
        labels = [f"{name} ({cv.units})" if cv.units else name
                  for (cv, _), name in zip(self._expanded_columns(), self._column_names())]
        return write_report(directory, self.results.comparison, history=self.results.histories,
                            embedding=self.results.model.embedding,
                            cv=None if several else self._cv.describe(), overwrite=overwrite,
                            state_centers=self.results.discretizer.centers_ if several else None,
                            column_labels=labels if several else None)

    def write_generated(self, filename, trajectory=0, n_frames=None, overwrite=False):
        """Write a generated chain as a trajectory of MD structures.

        Each generated state becomes an analysed MD frame of that state, drawn
        at random with this run's seed; frame ``k`` has time ``k * dt``. A
        state the MD never visited is written as the nearest visited state
        (with a warning). See :func:`mdlstm.structures.write_generated_trajectory`.

        Parameters
        ----------
        filename : str or os.PathLike
            Trajectory file to write; the extension picks the format
            (``.dcd``, ``.xtc``, ``.trr``, ``.pdb``, ...).
        trajectory : int
            Which generated chain (row of ``results.generated``).
        n_frames : int, optional
            Write only the first `n_frames` steps; default: the whole chain.
        overwrite : bool
            Replace an existing file; otherwise :class:`FileExistsError`.

        Returns
        -------
        numpy.ndarray of int
            The trajectory frame written at each generated step.
        """
        if "generated" not in self.results:
            raise RuntimeError("write_generated() needs results: call run() first")
        n_chains = len(self.results.generated)
        if isinstance(trajectory, bool) or not isinstance(trajectory, (int, np.integer)) \
                or not 0 <= trajectory < n_chains:
            raise ValueError(f"trajectory must be the index of a generated chain, in "
                             f"[0, {n_chains}), got {trajectory!r}")
        chain = self.results.generated[trajectory]
        if n_frames is not None:
            chain = chain[:positive_int(n_frames, "n_frames")]
        return write_generated_trajectory(
            self._universe, self.results.dtraj, chain, filename, frames=self.frames,
            seed=self._seed, overwrite=overwrite, dt=self.results.dt,
            state_values=self._state_values(), period=self._cvs[0].period if self._cv else None)


class DaskClientBackend(BackendBase):
    """MDAnalysis backend that runs the parts of a frame loop on a dask cluster.

    MDAnalysis' own ``backend="dask"`` starts a local process pool for every
    run; this backend submits the parts to an existing
    ``dask.distributed.Client`` instead: a ``LocalCluster`` on a workstation,
    or the workers of a cluster (``dask-jobqueue`` on SLURM/PBS, ...). Each
    part is one task; the trajectory files must be readable at the same paths
    on every worker.

    Parameters
    ----------
    client : distributed.Client
        A connected client; ``n_workers`` is the number of workers it has.

    Examples
    --------
    ::

        from dask.distributed import Client, LocalCluster

        if __name__ == "__main__":
            with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, \\
                    Client(cluster) as client:
                run = LSTMDynamics(u, phi, seed=0).run(client=client)
    """

    def __init__(self, client):
        if not all(hasattr(client, name) for name in ("map", "gather", "scheduler_info")):
            raise TypeError("client must be a dask.distributed Client, got "
                            f"{type(client).__name__}")
        self.client = client
        super().__init__(n_workers=max(1, len(client.scheduler_info()["workers"])))

    def apply(self, func, computations):
        """Run ``func`` on every part as a task of the cluster; results in order."""
        # pure=False: equal-looking parts of two runs are still computed, not reused
        return self.client.gather(self.client.map(func, computations, pure=False))


def _selected_frames(trajectory, start, stop, step, frames):
    """Number of frames a selection analyses, checked to be one fixed time step apart."""
    if frames is None:
        if step is not None and step < 1:
            raise ValueError(f"step must be a positive integer (frames in time order), "
                             f"got {step}")
        return len(range(*trajectory.check_slice_indices(start, stop, step)))
    index = np.arange(trajectory.n_frames)[np.asarray(frames)]
    diffs = np.diff(index)
    if index.size > 1 and (diffs[0] < 1 or np.any(diffs != diffs[0])):
        raise ValueError("frames must be evenly spaced and increasing (the model's step "
                         "is one fixed time interval); use start/stop/step instead")
    return int(index.size)


def _as_cv_list(cv, universe):
    """The CV(s) as a list, each checked to be a CV on `universe`."""
    cvs = list(cv) if isinstance(cv, (list, tuple)) else [cv]
    if not cvs:
        raise ValueError("cv is an empty list: give at least one CollectiveVariable")
    for i, item in enumerate(cvs):
        name = "cv" if not isinstance(cv, (list, tuple)) else f"cv[{i}]"
        if not isinstance(item, CollectiveVariable):
            raise TypeError(f"{name} must be an mdlstm.cv.CollectiveVariable (e.g. "
                            f"cv.Dihedral(...)), got {type(item).__name__}")
        if item.universe is not universe:
            raise ValueError(f"{name} is built on atoms of another Universe than the one "
                             "analysed; build every CV from this Universe's atoms")
    return cvs


def _check_finite(values, frames, names):
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        which = "the CV" if values.ndim == 1 else f"CV {names[bad[0][1]]!r}"
        n_bad = np.count_nonzero(~np.isfinite(values).all(axis=-1) if values.ndim == 2
                                 else ~np.isfinite(values))
        raise ValueError(f"{which} is not finite (NaN or inf) at frame {frames[bad[0][0]]} "
                         f"({n_bad} frame(s) in all); check the coordinates there")


def _file_boundaries(trajectory, frames):
    """Indices into the analysed frames where an independent trajectory starts.

    A Universe built from several files (a ChainReader) holds independent
    runs, except where a file's own time starts one step after the previous
    file's ends: one run split over several files. With ``continuous=True``
    the reader joins the files into one run itself (and drops overlapping
    frames). Only public reader API is used (``readers``, ``n_frames``,
    indexing, ``time`` and ``dt``).
    """
    readers = getattr(trajectory, "readers", None)
    if not readers or sum(r.n_frames for r in readers) != trajectory.n_frames:
        return np.empty(0, dtype=int)   # one file, or a continuous chain that dropped frames
    file_starts = np.cumsum([0] + [r.n_frames for r in readers])
    file_index = np.searchsorted(file_starts, frames, side="right") - 1
    cuts = np.flatnonzero(np.diff(file_index)) + 1
    current = trajectory.ts.frame
    joined = np.array([_continues(readers[k - 1], readers[k]) for k in file_index[cuts]],
                      dtype=bool)
    trajectory[current]   # the probes moved the readers: back to where the chain was
    return cuts[~joined]


def _continues(before, after):
    """Whether file `after`'s own time starts one step after file `before`'s ends."""
    end, step = before[-1].time, before.dt
    return bool(np.isclose(after[0].time, end + step, rtol=1e-6, atol=1e-6))


def _frame_interval(pieces):
    """Time between analysed frames (ps); equal within and across trajectories."""
    steps = np.concatenate([np.diff(t) for t in pieces])
    if steps.size == 0 or steps[0] <= 0 or not np.allclose(steps, steps[0], rtol=1e-4,
                                                           atol=1e-6):
        raise ValueError("frame times must increase in equal steps (the model's step is "
                         "one fixed interval); found intervals between "
                         f"{steps.min():g} and {steps.max():g} ps")
    return float(steps[0])
