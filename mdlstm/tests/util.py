"""Helpers of the package tests: in-memory Universes and Markov chains."""

import MDAnalysis as mda
import numpy as np
from deeptime.markov.msm import MarkovStateModel
from MDAnalysis.coordinates.memory import MemoryReader


def make_universe(coordinates, dt=1.0, names=None, masses=None, dimensions=None,
                  residues=False):
    """An in-memory Universe with these coordinates.

    Parameters
    ----------
    coordinates : array_like, shape (n_frames, n_atoms, 3) or (n_atoms, 3)
        Angstrom; a 2-D array is one frame.
    dt : float
        ps between frames.
    names, masses : sequence, optional
        Per-atom topology attributes.
    dimensions : sequence of 6 float, optional
        Box of every frame.
    residues : bool
        One residue holding every atom, with a resname and resid (enough to
        write a PDB file).
    """
    coordinates = np.asarray(coordinates, dtype=np.float32)
    if coordinates.ndim == 2:
        coordinates = coordinates[None]
    n_atoms = coordinates.shape[1]
    if residues:
        u = mda.Universe.empty(n_atoms, n_residues=1, atom_resindex=[0] * n_atoms,
                               trajectory=True)
        u.add_TopologyAttr("resnames", ["XXX"])
        u.add_TopologyAttr("resids", [1])
    else:
        u = mda.Universe.empty(n_atoms, trajectory=True)
    if names is not None:
        u.add_TopologyAttr("names", list(names))
    if masses is not None:
        u.add_TopologyAttr("masses", list(masses))
    u.load_new(coordinates, format=MemoryReader, dt=dt, dimensions=dimensions)
    return u


def markov_chain(matrix, n_steps, seed, start=0):
    """A state sequence of the Markov chain `matrix` (deeptime draws an unset start at
    random from numpy's global generator: it is always set here)."""
    return MarkovStateModel(np.asarray(matrix)).simulate(n_steps, start=start, seed=seed)
