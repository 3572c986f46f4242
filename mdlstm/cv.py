r"""Collective variables --- :mod:`mdlstm.cv`
==========================================

A collective variable (CV) reduces one frame of a trajectory to one number: a
backbone dihedral, a distance, a root mean square deviation.  :mod:`mdlstm`
projects the trajectory onto a CV, discretizes the values into states and
learns the dynamics of the state sequence, so the CV is the first thing to
choose.

Every CV in this module is a callable object built from
:class:`~MDAnalysis.core.groups.AtomGroup` s.  Calling it returns the value at
the frame the :class:`~MDAnalysis.core.universe.Universe` currently sits on;
:class:`mdlstm.analysis.LSTMDynamics` calls it once per analysed frame, so the
work that does not change between frames (index arrays, masses, the centred
reference structure) is done once in ``__init__``.

Example
-------
The backbone :math:`\phi` dihedral of the second residue of adenylate kinase
(AdK), in radians, over the test trajectory of MDAnalysis::

   import MDAnalysis as mda
   from MDAnalysisTests.datafiles import PSF, DCD
   from mdlstm import cv

   u = mda.Universe(PSF, DCD)
   phi = cv.Dihedral(u.residues[1].phi_selection(), name="phi")
   values = [phi() for ts in u.trajectory]

A CV that this module does not provide is one function away::

   ca = u.select_atoms("name CA")
   end_to_end = cv.Function(lambda ag: ag[-1].position[2] - ag[0].position[2],
                            ca, name="end-to-end z", units="Angstrom")

The command line builds CVs from short strings with :func:`from_spec`, for
example ``"phi:2"`` or ``"distance:resid 1 and name CA;resid 214 and name CA"``.

Units follow MDAnalysis: lengths in Angstrom, angles in radians.  A periodic
CV (a dihedral) carries its :attr:`~CollectiveVariable.period` so that the
discretizer can wrap its bins around the circle.

Classes and functions
---------------------
.. autoclass:: CollectiveVariable
   :members:
.. autoclass:: Dihedral
.. autoclass:: Distance
.. autoclass:: Coordinate
.. autoclass:: RMSD
.. autoclass:: RadiusOfGyration
.. autoclass:: Function
.. autoclass:: Features
.. autofunction:: from_spec

"""
import abc
import functools
import math

import numpy as np
from MDAnalysis.core.groups import AtomGroup
from MDAnalysis.core.universe import Universe
from MDAnalysis.exceptions import SelectionError
from MDAnalysis.lib import qcprot
from MDAnalysis.lib.distances import calc_bonds, calc_dihedrals

__all__ = [
    "CollectiveVariable",
    "Dihedral",
    "Distance",
    "Coordinate",
    "RMSD",
    "RadiusOfGyration",
    "Function",
    "Features",
    "from_spec",
]

_AXES = {"x": 0, "y": 1, "z": 2}


def _check_atomgroup(atomgroup, argname, n_atoms=None):
    """Raise unless `atomgroup` is a non-empty AtomGroup (of `n_atoms` atoms)."""
    if not isinstance(atomgroup, AtomGroup):
        hint = ""
        if atomgroup is None:
            # phi_selection()/psi_selection() return None at a chain end
            hint = (" (phi_selection() and psi_selection() return None for a "
                    "residue without a bonded neighbour)")
        raise TypeError(f"{argname} must be an MDAnalysis AtomGroup, got "
                        f"{type(atomgroup).__name__}{hint}")
    if atomgroup.n_atoms == 0:
        raise ValueError(f"{argname} must contain at least one atom, got an "
                         "empty AtomGroup")
    if n_atoms is not None and atomgroup.n_atoms != n_atoms:
        raise ValueError(f"{argname} must contain exactly {n_atoms} atoms, "
                         f"got {atomgroup.n_atoms}")


def _centre(atomgroup):
    """Position of a single atom, or the centre of geometry of a group (Angstrom)."""
    positions = atomgroup.positions
    if len(positions) == 1:
        return positions[0]
    return positions.mean(axis=0)


class CollectiveVariable(abc.ABC):
    """Base class: a scalar function of the current frame.

    Subclasses set the attributes below through ``super().__init__`` and
    implement :meth:`__call__`.

    Parameters
    ----------
    atomgroups : tuple of AtomGroup
        All AtomGroups whose positions the CV reads.
    name : str
        Human-readable label, used in plots and reports.
    units : str
        Units of the value, e.g. ``"rad"`` or ``"Angstrom"``.
    period : float or None
        Period of a periodic CV (:math:`2\\pi` for angles), ``None`` otherwise.

    Attributes
    ----------
    name : str
    units : str
    period : float or None
    atomgroups : tuple of AtomGroup
    n_values : int
        Values per frame: 1, except for :class:`Features`.
    """

    n_values = 1

    def __init__(self, atomgroups, name, units, period=None):
        if not isinstance(name, str):
            raise TypeError(f"name must be a str, got {type(name).__name__}")
        if period is not None:
            try:
                period = float(period)
            except (TypeError, ValueError):
                raise TypeError("period must be a positive number or None, "
                                f"got {period!r}") from None
            if not (math.isfinite(period) and period > 0):
                raise ValueError("period must be a positive finite number or "
                                 f"None, got {period}")
        self.atomgroups = tuple(atomgroups)
        self.name = name
        self.units = units
        self.period = period

    @property
    def universe(self):
        """The :class:`~MDAnalysis.core.universe.Universe` the CV's atoms belong to."""
        return self.atomgroups[0].universe

    @abc.abstractmethod
    def __call__(self):
        """Value of the CV at the current frame.

        Returns
        -------
        float
            The value, in :attr:`units`.
        """

    def _parameters(self):
        """Extra JSON-serialisable settings of a subclass for :meth:`describe`."""
        return {}

    def describe(self):
        """JSON-serialisable description, for reports and saved models.

        Returns
        -------
        dict
            ``type`` (class name), ``name``, ``units``, ``period``, ``atoms``
            (0-based atom indices of all AtomGroups, concatenated in order)
            and the settings particular to the CV type.
        """
        atoms = [int(i) for group in self.atomgroups for i in group.indices]
        return {"type": type(self).__name__, "name": self.name,
                "units": self.units, "period": self.period, "atoms": atoms,
                **self._parameters()}

    def __repr__(self):
        n_atoms = sum(group.n_atoms for group in self.atomgroups)
        return (f"<{type(self).__name__} {self.name!r} ({self.units}) "
                f"on {n_atoms} atoms>")


class Dihedral(CollectiveVariable):
    """Dihedral angle of four atoms, in radians in :math:`(-\\pi, \\pi]`.

    The angle is the one between the planes (1, 2, 3) and (2, 3, 4) of the
    atoms in the order of `atomgroup`, as
    :func:`MDAnalysis.lib.distances.calc_dihedrals` and
    :class:`MDAnalysis.analysis.dihedrals.Dihedral` compute it, with minimum
    image bond vectors when the frame has a box.

    Parameters
    ----------
    atomgroup : AtomGroup
        Exactly four distinct atoms in dihedral order, e.g.
        ``residue.phi_selection()``.
    name : str, optional
        Label; ``"dihedral"`` by default.

    Attributes
    ----------
    period : float
        :math:`2\\pi`.
    """

    def __init__(self, atomgroup, name=None):
        _check_atomgroup(atomgroup, "atomgroup", n_atoms=4)
        if len(set(atomgroup.indices)) != 4:
            raise ValueError("atomgroup must contain 4 distinct atoms, got "
                             f"indices {atomgroup.indices.tolist()}")
        super().__init__((atomgroup,), name or "dihedral", "rad", 2 * np.pi)

    def __call__(self):
        atomgroup = self.atomgroups[0]
        p = atomgroup.positions
        # (1, 3) slices are views and take calc_dihedrals' fastest path
        angle = float(calc_dihedrals(p[0:1], p[1:2], p[2:3], p[3:4],
                                     box=atomgroup.dimensions)[0])
        # atan2 may return -pi; the documented range is (-pi, pi]
        return np.pi if angle <= -np.pi else angle


class Distance(CollectiveVariable):
    """Distance between two atoms or the centres of geometry of two groups.

    Parameters
    ----------
    group1, group2 : AtomGroup
        Non-empty groups of the same Universe.  A group of one atom stands for
        that atom's position, a larger group for its centre of geometry.
    name : str, optional
        Label; ``"distance"`` by default.
    pbc : bool, optional
        Use the minimum image convention when the frame has a box (default).
        Centres of geometry are taken from the positions as stored, so make
        molecules whole (e.g. with :mod:`MDAnalysis.transformations`) before
        using groups that cross the box boundary.

    Attributes
    ----------
    units : str
        ``"Angstrom"``.
    """

    def __init__(self, group1, group2, name=None, pbc=True):
        _check_atomgroup(group1, "group1")
        _check_atomgroup(group2, "group2")
        if group1.universe is not group2.universe:
            raise ValueError("group1 and group2 must belong to the same "
                             "Universe, got groups from different Universes")
        super().__init__((group1, group2), name or "distance", "Angstrom")
        self.pbc = bool(pbc)

    def __call__(self):
        group1, group2 = self.atomgroups
        box = group1.dimensions if self.pbc else None
        return float(calc_bonds(_centre(group1), _centre(group2), box=box))

    def _parameters(self):
        return {"group_sizes": [g.n_atoms for g in self.atomgroups],
                "pbc": self.pbc}


class Coordinate(CollectiveVariable):
    """Centre of geometry of a group along one Cartesian axis (Angstrom).

    Parameters
    ----------
    atomgroup : AtomGroup
        Non-empty group; one atom gives that atom's coordinate.
    axis : {"x", "y", "z"}, optional
        Axis of the coordinate; ``"x"`` by default.
    name : str, optional
        Label; the axis name by default.

    Attributes
    ----------
    axis : str
    units : str
        ``"Angstrom"``.
    """

    def __init__(self, atomgroup, axis="x", name=None):
        _check_atomgroup(atomgroup, "atomgroup")
        if axis not in _AXES:
            raise ValueError(f"axis must be one of 'x', 'y', 'z', got {axis!r}")
        super().__init__((atomgroup,), name or axis, "Angstrom")
        self.axis = axis
        self._column = _AXES[axis]

    def __call__(self):
        return float(self.atomgroups[0].positions[:, self._column].mean())

    def _parameters(self):
        return {"axis": self.axis}


def _positions_at_frame(atomgroup, frame):
    """Copy of `atomgroup`'s positions at `frame`; the trajectory is put back."""
    trajectory = atomgroup.universe.trajectory
    current = trajectory.ts.frame
    trajectory[frame]
    positions = atomgroup.positions.copy()
    trajectory[current]
    return positions


class RMSD(CollectiveVariable):
    """Root mean square deviation from a reference after optimal superposition.

    Both structures are centred on their centres of geometry and the mobile
    one is rotated onto the reference (QCP method, :mod:`MDAnalysis.lib.qcprot`);
    all atoms weigh the same, as in :class:`MDAnalysis.analysis.rms.RMSD` with
    its defaults.

    Parameters
    ----------
    atomgroup : AtomGroup
        The atoms whose deviation is measured at each frame.
    reference : AtomGroup, optional
        Reference atoms, matched to `atomgroup` by order, possibly from another
        Universe; their positions at the time the CV is built are used.
        ``None`` (default) takes `atomgroup` itself at frame 0 of its
        trajectory, like ``rms.RMSD(atomgroup, ref_frame=0)``.
    name : str, optional
        Label; ``"rmsd"`` by default.

    Attributes
    ----------
    units : str
        ``"Angstrom"``.
    """

    def __init__(self, atomgroup, reference=None, name=None):
        _check_atomgroup(atomgroup, "atomgroup")
        if reference is not None:
            _check_atomgroup(reference, "reference", n_atoms=atomgroup.n_atoms)
        super().__init__((atomgroup,), name or "rmsd", "Angstrom")
        if reference is None:
            reference_positions = _positions_at_frame(atomgroup, 0)
        else:
            reference_positions = reference.positions
        reference_positions = reference_positions.astype(np.float64)
        self._reference = reference_positions - reference_positions.mean(axis=0)

    def __call__(self):
        mobile = self.atomgroups[0].positions.astype(np.float64)
        mobile -= mobile.mean(axis=0)
        return float(qcprot.CalcRMSDRotationalMatrix(
            self._reference, mobile, len(mobile), None, None))


class RadiusOfGyration(CollectiveVariable):
    """Mass-weighted radius of gyration (Angstrom).

    The same quantity as :meth:`AtomGroup.radius_of_gyration`, with the
    masses read once at construction.

    Parameters
    ----------
    atomgroup : AtomGroup
        Non-empty group with a positive total mass.
    name : str, optional
        Label; ``"rgyr"`` by default.

    Attributes
    ----------
    units : str
        ``"Angstrom"``.
    """

    def __init__(self, atomgroup, name=None):
        _check_atomgroup(atomgroup, "atomgroup")
        masses = atomgroup.masses.astype(np.float64)
        if not masses.sum() > 0:
            raise ValueError("atomgroup must have a positive total mass, got "
                             f"{masses.sum()} (are masses in the topology?)")
        super().__init__((atomgroup,), name or "rgyr", "Angstrom")
        self._weights = masses / masses.sum()

    def __call__(self):
        positions = self.atomgroups[0].positions.astype(np.float64)
        positions -= self._weights @ positions
        return float(np.sqrt(self._weights @ np.einsum("ij,ij->i", positions,
                                                       positions)))


class Function(CollectiveVariable):
    """A user-supplied function of an AtomGroup.

    Parameters
    ----------
    func : callable
        ``func(atomgroup) -> float``, called once per frame.
    atomgroup : AtomGroup
        Non-empty group passed to `func`.
    period : float, optional
        Period of a periodic CV (e.g. :math:`2\\pi` for an angle in radians);
        ``None`` (default) for a non-periodic one.
    name : str, optional
        Label; the function's ``__name__`` by default (``"function"`` for a
        lambda).
    units : str, optional
        Units of the value; ``""`` (unknown) by default.

    Notes
    -----
    A non-scalar return value raises :class:`TypeError`.  Finite values are
    not checked here: the caller that knows the frame index reports NaN.
    """

    def __init__(self, func, atomgroup, period=None, name=None, units=None):
        if not callable(func):
            raise TypeError("func must be callable as func(atomgroup) -> float, "
                            f"got {type(func).__name__}")
        _check_atomgroup(atomgroup, "atomgroup")
        default_name = getattr(func, "__name__", "function")
        if default_name == "<lambda>":
            default_name = "function"
        super().__init__((atomgroup,), name or default_name, units or "",
                         period)
        self.func = func

    def __call__(self):
        value = self.func(self.atomgroups[0])
        if np.ndim(value) != 0:
            raise TypeError(f"func {self.name!r} must return a scalar, got "
                            f"shape {np.shape(value)}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TypeError(f"func {self.name!r} must return a number, got "
                            f"{type(value).__name__}") from None

    def _parameters(self):
        return {"function": getattr(self.func, "__qualname__",
                                    type(self.func).__name__)}


class Features(CollectiveVariable):
    """A user-supplied vector-valued function of an AtomGroup: several CVs at once.

    Each value is one column of the CV series (and of the features the
    states are clustered on), e.g. all heavy-atom distances of a group::

        from MDAnalysis.lib.distances import self_distance_array
        heavy = u.select_atoms("not name H*")
        n = heavy.n_atoms * (heavy.n_atoms - 1) // 2
        distances = cv.Features(lambda ag: self_distance_array(ag.positions), heavy,
                                n_features=n, name="d", units="Angstrom")

    Parameters
    ----------
    func : callable
        ``func(atomgroup) -> array of n_features floats``, called once per
        frame.
    atomgroup : AtomGroup
        Non-empty group passed to `func`.
    n_features : int
        Length of every value of `func`.
    period : float, optional
        Period shared by every feature (e.g. :math:`2\\pi` for angles in
        radians); ``None`` (default) for non-periodic features.
    name : str, optional
        Label; column ``k`` is named ``"name[k]"``. Default: the function's
        ``__name__`` (``"features"`` for a lambda).
    units : str, optional
        Units of the values; ``""`` (unknown) by default.
    """

    def __init__(self, func, atomgroup, n_features, period=None, name=None, units=None):
        if not callable(func):
            raise TypeError("func must be callable as func(atomgroup) -> array, "
                            f"got {type(func).__name__}")
        _check_atomgroup(atomgroup, "atomgroup")
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)) \
                or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        default_name = getattr(func, "__name__", "features")
        if default_name == "<lambda>":
            default_name = "features"
        super().__init__((atomgroup,), name or default_name, units or "", period)
        self.func = func
        self.n_values = int(n_features)

    def __call__(self):
        try:
            value = np.asarray(self.func(self.atomgroups[0]), dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"func {self.name!r} must return an array of numbers") from None
        if value.shape != (self.n_values,):
            raise ValueError(f"func {self.name!r} must return {self.n_values} values "
                             f"(n_features), got shape {value.shape}")
        return value

    def _parameters(self):
        return {"function": getattr(self.func, "__qualname__", type(self.func).__name__),
                "n_features": self.n_values}


def _split(args, n):
    """Split `args` at ';' into exactly `n` non-empty stripped fields."""
    fields = [field.strip() for field in args.split(";")]
    if len(fields) != n or not all(fields):
        raise ValueError(f"expected {n} non-empty ';'-separated field(s), "
                         f"got {args!r}")
    return fields


def _select(universe, selection, n_atoms=None):
    """Atoms of `selection`; selection errors become ValueError."""
    try:
        group = universe.select_atoms(selection)
    except SelectionError as err:
        raise ValueError(f"bad selection {selection!r}: {err}") from err
    if n_atoms is not None and group.n_atoms != n_atoms:
        raise ValueError(f"selection {selection!r} must match {n_atoms} "
                         f"atom(s), matched {group.n_atoms}")
    return group


def _backbone_dihedral(kind, universe, args):
    """Dihedral for ``phi:RESID`` / ``psi:RESID``."""
    try:
        resid = int(args)
    except ValueError:
        raise ValueError(f"expected an integer resid, got {args!r}") from None
    residues = universe.residues[universe.residues.resids == resid]
    if len(residues) != 1:
        raise ValueError(f"resid {resid} must match exactly one residue, "
                         f"matched {len(residues)}")
    selection = getattr(residues[0], f"{kind}_selection")()
    if selection is None:
        raise ValueError(f"residue {resid} has no {kind} dihedral (chain end?)")
    return Dihedral(selection, name=kind)


def _dihedral(universe, args):
    groups = [_select(universe, sel, n_atoms=1) for sel in _split(args, 4)]
    return Dihedral(sum(groups[1:], groups[0]))


def _distance(universe, args):
    sel1, sel2 = _split(args, 2)
    return Distance(_select(universe, sel1), _select(universe, sel2))


def _coordinate(universe, args):
    selection, axis = _split(args, 2)
    return Coordinate(_select(universe, selection), axis=axis)


def _rmsd(universe, args):
    return RMSD(_select(universe, _split(args, 1)[0]))


def _rgyr(universe, args):
    return RadiusOfGyration(_select(universe, _split(args, 1)[0]))


# kind -> (usage shown in error messages, parser(universe, arguments))
_SPECS = {
    "phi": ("phi:RESID", functools.partial(_backbone_dihedral, "phi")),
    "psi": ("psi:RESID", functools.partial(_backbone_dihedral, "psi")),
    "dihedral": ("dihedral:SEL1;SEL2;SEL3;SEL4", _dihedral),
    "distance": ("distance:SEL1;SEL2", _distance),
    "coordinate": ("coordinate:SEL;AXIS", _coordinate),
    "rmsd": ("rmsd:SEL", _rmsd),
    "rgyr": ("rgyr:SEL", _rgyr),
}


def from_spec(universe, spec):
    """Build a CV from a short string, as given on the command line.

    A spec is ``KIND:ARGUMENTS``; arguments that are several selections (in
    the MDAnalysis selection language) are separated by ``;``:

    ======================================  ====================================
    spec                                    CV
    ======================================  ====================================
    ``phi:RESID``                           :class:`Dihedral` of the residue's
                                            ``phi_selection()``, named "phi"
    ``psi:RESID``                           :class:`Dihedral` of the residue's
                                            ``psi_selection()``, named "psi"
    ``dihedral:SEL1;SEL2;SEL3;SEL4``        :class:`Dihedral` of four one-atom
                                            selections, in that order
    ``distance:SEL1;SEL2``                  :class:`Distance`
    ``coordinate:SEL;AXIS``                 :class:`Coordinate` (AXIS x, y or z)
    ``rmsd:SEL``                            :class:`RMSD` to frame 0
    ``rgyr:SEL``                            :class:`RadiusOfGyration`
    ======================================  ====================================

    RESID is the residue number of the topology and must name one residue.

    Parameters
    ----------
    universe : Universe
        The Universe the selections are made in.
    spec : str
        The specification, e.g. ``"psi:10"`` or
        ``"distance:resid 1 and name CA;resid 214 and name CA"``.

    Returns
    -------
    CollectiveVariable

    Raises
    ------
    ValueError
        For an unknown kind, malformed arguments or a selection that does not
        fit; the message quotes `spec` and lists the valid kinds.

    Examples
    --------
    >>> phi = from_spec(u, "phi:2")              # doctest: +SKIP
    >>> end = from_spec(u, "distance:bynum 5;bynum 3000")  # doctest: +SKIP
    """
    if not isinstance(universe, Universe):
        raise TypeError("universe must be an MDAnalysis Universe, got "
                        f"{type(universe).__name__}")
    if not isinstance(spec, str):
        raise TypeError(f"spec must be a str, got {type(spec).__name__}")
    kind, sep, args = spec.partition(":")
    usage = ", ".join(usage for usage, _ in _SPECS.values())
    if not sep or kind.strip().lower() not in _SPECS:
        raise ValueError(f"CV spec {spec!r}: expected KIND:ARGUMENTS with one "
                         f"of the kinds {usage}")
    parser = _SPECS[kind.strip().lower()][1]
    try:
        return parser(universe, args.strip())
    except ValueError as err:
        raise ValueError(f"CV spec {spec!r}: {err} (valid kinds: {usage})"
                         ) from err
