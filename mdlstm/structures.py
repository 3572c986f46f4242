r"""Structures for generated dynamics --- :mod:`mdlstm.structures`
==============================================================

A generated chain is a string of states, not of structures. To look at it in
VMD, PyMOL or NGLView, or to compute anything that needs coordinates, each
generated state is replaced by a real MD frame of that state: for every step
of the chain, a frame is drawn at random (seeded) among the analysed MD frames
whose state is the generated one. The result is a trajectory file that moves
between structures with the statistics of the generated dynamics. Within a
state the structures are drawn independently, so motion *inside* a state is
not meaningful: the file shows which states follow each other and for how
long, at the resolution of the states.

Example
-------
After an :class:`~mdlstm.analysis.LSTMDynamics` run the method
:meth:`~mdlstm.analysis.LSTMDynamics.write_generated` does this for one
generated chain::

    run = LSTMDynamics(u, phi, n_states=20, seed=0).run()
    run.write_generated("lstm-0.xtc", trajectory=0, n_frames=10_000)

The function below works from plain arrays, for a chain generated separately
(``model.generate``) from a model trained on the frames ``frames`` of ``u``::

    from mdlstm.structures import write_generated_trajectory

    write_generated_trajectory(u, dtraj, generated[0], "lstm-0.dcd",
                               frames=frames, select="protein", seed=0)

The format follows the file name's extension, as everywhere in MDAnalysis
(``.dcd``, ``.xtc``, ``.trr``, ``.pdb`` (one MODEL per step), ``.ncdf``, ...).
Frame ``k`` of the written file has time ``k * dt``, where ``dt`` is the time
of one model step (by default the time between analysed frames).

A generated state that no analysed MD frame is in has no structure to show:
that is a :class:`ValueError` naming the state (it happens only with a
discretizer fitted on other data). Existing files are never replaced unless
``overwrite=True``; a file is written under a temporary name and renamed when
complete, so an interrupted call leaves no partial trajectory behind.

Functions
---------

.. autofunction:: representative_frames
.. autofunction:: write_generated_trajectory
"""

import inspect
import os
from pathlib import Path

import MDAnalysis as mda
import warnings

import numpy as np
from MDAnalysis.coordinates.core import get_writer_for
from MDAnalysis.core.groups import AtomGroup
from MDAnalysis.core.universe import Universe

from ._checks import check_states, positive_float, positive_int, seed_value

__all__ = ["representative_frames", "write_generated_trajectory"]


def representative_frames(dtraj, n_states, seed=None):
    """The MD frames that belong to each state.

    Parameters
    ----------
    dtraj : array_like of int, shape (n_frames,)
        State of every analysed frame.
    n_states : int
        Number of states; every state in `dtraj` must be below it.
    seed : int, optional
        None: frames of each state in time order. An integer: each state's
        frames in a random order drawn with this seed, so that the first
        ``k`` are a random sample of ``k`` frames of the state.

    Returns
    -------
    list of numpy.ndarray of int
        ``n_states`` arrays; array ``s`` holds the indices into `dtraj` of
        the frames in state ``s`` (empty for a state never visited).

    Raises
    ------
    TypeError, ValueError
        If `dtraj` is not a 1-D sequence of states in ``[0, n_states)``.
    """
    dtraj = _as_states(dtraj, "dtraj")
    n_states = positive_int(n_states, "n_states")
    check_states(dtraj, n_states, "dtraj")
    # A stable sort keeps each state's frames in time order.
    order = np.argsort(dtraj, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(dtraj, minlength=n_states))[:-1])
    if seed is None:
        return groups
    rng = np.random.default_rng(seed_value(seed))
    return [rng.permutation(group) for group in groups]


def write_generated_trajectory(universe, dtraj, generated_chain, filename, frames=None,
                               seed=0, overwrite=False, select="all", dt=None,
                               state_values=None, period=None):
    """Write a generated state chain as a trajectory of MD structures.

    Parameters
    ----------
    universe : MDAnalysis.Universe or MDAnalysis.AtomGroup
        The system whose trajectory `dtraj` was computed from.
    dtraj : array_like of int, shape (n_analysed,)
        State of every analysed frame.
    generated_chain : array_like of int, shape (n_steps,)
        Generated states, one per model step.
    filename : str or os.PathLike
        Trajectory file to write; the extension picks the MDAnalysis writer.
    frames : array_like of int, shape (n_analysed,), optional
        Trajectory frame index of each analysed frame (``run.frames`` of an
        analysis); default: ``dtraj[i]`` is frame ``i``.
    seed : int
        Seed of the random choice of frames; same seed, same file.
    overwrite : bool
        Replace an existing `filename`; otherwise :class:`FileExistsError`.
    select : str
        Selection (on `universe`) of the atoms to write.
    dt : float, optional
        Time of one generated step (ps). Default: the time between analysed
        frames, the trajectory's ``dt`` times the spacing of `frames`.
    state_values : array_like of float, optional
        CV value of every state (``Discretizer.centers_``). When given, a
        generated state that no analysed frame is in is written as a frame of
        the visited state nearest in CV value, with a :class:`UserWarning`
        naming both; without it such a state is an error.
    period : float, optional
        Period of the CV (``2*pi`` for an angle), for the nearest state.

    Returns
    -------
    numpy.ndarray of int, shape (n_steps,)
        Trajectory frame written at each generated step.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, an extension without a trajectory writer, an empty
        selection, or a generated state that no analysed frame is in
        (named in the message); all before anything is written.
    FileExistsError
        If `filename` exists and `overwrite` is False.
    """
    if not isinstance(universe, (Universe, AtomGroup)):
        raise TypeError("universe must be an MDAnalysis Universe or AtomGroup, "
                        f"got {type(universe).__name__}")
    dtraj = _as_states(dtraj, "dtraj")
    chain = _as_states(generated_chain, "generated_chain")
    n_total = universe.universe.trajectory.n_frames
    frames = _check_frames(frames, len(dtraj), n_total)
    path, writer = _check_filename(filename, overwrite)
    atoms = universe.select_atoms(select)
    if atoms.n_atoms == 0:
        raise ValueError(f"select={select!r} matched no atoms")
    dt = _step_time(universe.universe.trajectory, frames) if dt is None else \
        positive_float(dt, "dt")
    rng = np.random.default_rng(seed_value(seed))

    pools = representative_frames(dtraj, max(dtraj.max(), chain.max()) + 1)
    sizes = np.array([len(pool) for pool in pools])
    unseen = np.unique(chain[sizes[chain] == 0])
    if unseen.size:
        if state_values is None:
            raise ValueError(f"generated_chain contains state(s) {unseen.tolist()} that no "
                             "analysed MD frame is in: there is no structure to write for "
                             "them (pass state_values to use the nearest visited state)")
        chain = _nearest_visited(chain, unseen, sizes, state_values, period)
    # One uniform draw per step among the frames of its state.
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = np.concatenate(pools)[offsets[chain] + rng.integers(0, sizes[chain])]
    source = frames[picks]
    _write(atoms, source, path, writer, dt)
    return source


def _nearest_visited(chain, unseen, sizes, state_values, period):
    """`chain` with every unseen state replaced by the visited state nearest in CV value."""
    values = np.asarray(state_values, dtype=float)
    if values.ndim != 1 or values.size < sizes.size:
        raise ValueError(f"state_values must give the CV value of all {sizes.size} states, "
                         f"got shape {values.shape}")
    visited = np.flatnonzero(sizes > 0)
    gap = values[unseen][:, None] - values[visited][None, :]
    if period is not None:
        gap = (gap + period / 2) % period - period / 2
    nearest = visited[np.argmin(np.abs(gap), axis=1)]
    warnings.warn(f"generated state(s) {unseen.tolist()} have no MD frame; written as "
                  f"frames of the nearest visited state(s) {nearest.tolist()}", UserWarning,
                  stacklevel=3)
    mapping = np.arange(sizes.size)
    mapping[unseen] = nearest
    return mapping[chain]


def _as_states(values, name):
    """A non-empty 1-D array of non-negative integer states."""
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of states, "
                         f"got shape {arr.shape}")
    check_states(arr, None, name)
    return arr.astype(np.int64, copy=False)


def _check_frames(frames, n_analysed, n_total):
    """Trajectory frame of every analysed frame, as an int array."""
    if frames is None:
        if n_analysed > n_total:
            raise ValueError(f"dtraj has {n_analysed} states but the trajectory only "
                             f"{n_total} frames; pass frames=")
        return np.arange(n_analysed)
    frames = np.asarray(frames)
    if frames.shape != (n_analysed,) or not np.issubdtype(frames.dtype, np.integer):
        raise ValueError(f"frames must be {n_analysed} integer frame indices (one per "
                         f"dtraj state), got shape {frames.shape} of {frames.dtype}")
    if frames.min() < 0 or frames.max() >= n_total:
        raise ValueError(f"frames must lie in [0, {n_total}) (frames of the trajectory), "
                         f"got {frames.min()}..{frames.max()}")
    return frames.astype(np.int64, copy=False)


def _check_filename(filename, overwrite):
    """The output path and its multi-frame writer class."""
    path = Path(os.fspath(filename))
    try:
        writer = get_writer_for(str(path), multiframe=True)
    except (TypeError, ValueError):
        raise ValueError(f"filename must end in a trajectory format MDAnalysis can write "
                         f"(.dcd, .xtc, .trr, .pdb, .ncdf, ...), got {str(path)!r}") from None
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; choose a new file name or pass "
                              "overwrite=True")
    return path, writer


def _step_time(trajectory, frames):
    """Time between analysed frames (ps): trajectory dt times the frame spacing."""
    spacing = int(frames[1] - frames[0]) if len(frames) > 1 else 1
    return trajectory.dt * spacing


def _write(atoms, source_frames, path, writer, dt):
    """Write `atoms` at each of `source_frames`, frame k at time k * dt."""
    trajectory = atoms.universe.trajectory
    current = trajectory.frame
    # A copy of the atoms carries the output's frame number and time, so that
    # the user's trajectory is never modified.
    stage = mda.Merge(atoms)
    ts = stage.trajectory.ts
    # Formats with a time step in their header (DCD, XTC, TRR) take it here.
    options = {"dt": dt} if "dt" in inspect.signature(writer).parameters else {}
    partial = path.with_name(f".partial-{path.name}")
    try:
        with mda.Writer(str(partial), n_atoms=atoms.n_atoms, multiframe=True,
                        **options) as out:
            for k, frame in enumerate(source_frames):
                trajectory[frame]
                stage.atoms.positions = atoms.positions
                ts.dimensions = atoms.dimensions
                ts.frame, ts.time = k, k * dt
                out.write(stage.atoms)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        trajectory[current]
