r"""The paper's two-dimensional Langevin benchmarks --- :mod:`mdlstm.systems.langevin`
====================================================================================

:Author: mdlstm developers

Tsai, Kuo & Tiwary (2020) test the LSTM on Langevin dynamics of one particle on
three model potentials in the plane. Only the :math:`x` coordinate is shown to
the model; :math:`y` is the hidden degree of freedom that gives the projected
dynamics its memory. This module holds the three potentials and a fast,
reproducible integrator, so that every number of the paper's benchmarks can be
regenerated in seconds.

The potentials
--------------
In reduced units (:math:`k_B = 1`, mass 1; lengths, energies and times have no
dimension) every system is

.. math::

   U(x, y) = c\,(x^6 + y^6) - A \sum_k G(x - x_k)\,G(y - y_k)
             \;[\,+ A\,G(x)\,G(y)\,], \qquad G(u) = e^{-u^2 / (2 w^2)}

with confinement :math:`c = 10^{-4}`, depth :math:`A = 1` and width
:math:`w = 0.8`. The bracketed repulsive Gaussian at the origin exists only in the
4-state system.

==================================  ======================================  ================
system                              minima :math:`(x_k, y_k)`               centres in x
==================================  ======================================  ================
:data:`FOUR_STATE`                  (2, -1), (0.5, 2), (-0.5, -2), (-2, 1)  2, 0.5, -0.5, -2
:data:`LINEAR_THREE_STATE`          (1.5, 1.5), (0, 0), (-1.5, -1.5)        1.5, 0, -1.5
:data:`TRIANGULAR_THREE_STATE`      (1.5, 1.8), (0, -1), (-1.5, 1.5)        1.5, 0, -1.5
==================================  ======================================  ================

State ``i`` is the cell of points whose :math:`x` is nearest to ``centers[i]``
(the paper's order). The 4-state system is the interesting one: its minima form a
ring 0 - 2 - 3 - 1 - 0 in which the fast links 0 :math:`\leftrightarrow` 2 and
1 :math:`\leftrightarrow` 3 join states that are *not* neighbours along
:math:`x`, the slow links 0 :math:`\leftrightarrow` 1 and 2 :math:`\leftrightarrow`
3 join states that are, and 0 :math:`\leftrightarrow` 3 never happens directly.

:meth:`LangevinSystem.boltzmann_populations` integrates
:math:`e^{-\beta U}` over the plane on a grid; at :math:`\beta = 9.5` it gives the
paper's populations (4-state .270/.231/.230/.270, linear .288/.425/.287,
triangular .320/.346/.334).

The integrator
--------------
:func:`simulate` integrates Langevin dynamics with friction :math:`\gamma` in both
directions by the splitting O-B-A-B-O ("OBABO"): a half step of the exact
Ornstein-Uhlenbeck velocity update, a velocity-Verlet step, another half OU step.
With :math:`c_1 = e^{-\gamma h / 2}` one step of length :math:`h` is

.. math::

   v &\leftarrow c_1 v + \sqrt{(1 - c_1^2)/\beta}\;\xi, &\quad
   v &\leftarrow v + \tfrac{h}{2} F(x), &\quad
   x &\leftarrow x + h v, \\
   v &\leftarrow v + \tfrac{h}{2} F(x), &\quad
   v &\leftarrow c_1 v + \sqrt{(1 - c_1^2)/\beta}\;\xi', &&

with independent standard normal :math:`\xi, \xi'` per component. The defaults
are the paper's: :math:`\beta = 9.5`, :math:`\gamma = 1`, :math:`h = 0.01`, a frame
saved every 100 steps, so one frame is one time unit.

The step loop is compiled with numba (no ``fastmath``, so results are exact
IEEE arithmetic) and runs the walkers in parallel threads. The noise comes from
NumPy's :class:`~numpy.random.Generator`, one independent stream per walker
(:class:`~numpy.random.SeedSequence` spawned from `seed`), so a walker's
trajectory depends only on the seed, its index and its start: it is bit-identical
from run to run and whatever the number of threads or the number of walkers.

Making the paper's 4-state data set
-----------------------------------
Nine independent runs of :math:`10^7` steps (:math:`9 \times 10^5` frames; about
15 s on two cores)::

   from mdlstm.systems import langevin

   pos = langevin.simulate(langevin.FOUR_STATE, n_frames=100_000, n_walkers=9,
                           seed=0, progress=True)       # (9, 100000, 2)
   x = list(pos[..., 0])                                # the CV: 9 trajectories

and the paper's states with its preprocessing::

   from mdlstm import Discretizer

   disc = Discretizer(method="centers", centers=langevin.FOUR_STATE.centers,
                      smooth=50, min_dwell=100)
   dtrajs = disc.fit_transform(x)

To analyse a walker with MDAnalysis (and :class:`mdlstm.LSTMDynamics`), make it a
one-atom :class:`~MDAnalysis.core.universe.Universe`::

   from mdlstm import cv
   u = langevin.to_universe(pos[0])                     # dt = 1 per frame
   x_cv = cv.Coordinate(u.atoms, axis="x")

Classes, functions and constants
--------------------------------
.. autoclass:: LangevinSystem
   :members:
.. autofunction:: simulate
.. autofunction:: to_universe
.. autodata:: FOUR_STATE
.. autodata:: LINEAR_THREE_STATE
.. autodata:: TRIANGULAR_THREE_STATE
.. autodata:: SYSTEMS
"""
import dataclasses
import math
import os

import numpy as np
from tqdm import tqdm

try:
    import numba
except ImportError:   # the optional extra mdlstm[systems]: simulate() says so
    numba = None

from .._checks import positive_float, positive_int, seed_value

# numba's default OpenMP threading layer leaves its threads spinning after a
# parallel loop, which made torch in the same process 3-4x slower (measured);
# the workqueue layer does not, unless the user chose a layer themselves.
if numba is not None and "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"


def njit(**options):
    """numba's ``njit``; without numba the plain function (simulate() refuses to run)."""
    return (lambda func: func) if numba is None else numba.njit(**options)


prange = range if numba is None else numba.prange

__all__ = ["LangevinSystem", "simulate", "to_universe", "FOUR_STATE",
           "LINEAR_THREE_STATE", "TRIANGULAR_THREE_STATE", "SYSTEMS"]

# Normal variates per walker per noise block: bounds the noise buffer to about
# 8 MB per walker (or 256 MB in all for many walkers) whatever the run length.
_NOISE_BLOCK = 2 ** 20
_NOISE_TOTAL = 2 ** 25
# Four normal variates per step: x and y in each of the two OU half steps.
_NOISE_PER_STEP = 4


@dataclasses.dataclass(frozen=True)
class LangevinSystem:
    r"""A 2-D potential of the paper's family (reduced units).

    .. math::

       U(x, y) = c\,(x^6 + y^6) - A \sum_k G(x - x_k)\,G(y - y_k)
                 \;[\,+ A\,G(x)\,G(y)\,], \qquad G(u) = e^{-u^2 / (2 w^2)}

    Parameters
    ----------
    name : str
        Key of the system in :data:`SYSTEMS`.
    minima : tuple of (float, float)
        Centres :math:`(x_k, y_k)` of the attractive Gaussians (length units);
        the first is the default start of :func:`simulate`.
    repulsive_origin : bool
        Whether a repulsive Gaussian of height :math:`A` sits at the origin.
    centers : tuple of float
        :math:`x` of the states' centres in the paper's order (length units);
        state ``i`` is the cell nearest to ``centers[i]`` along :math:`x`.
    depth : float
        :math:`A` (energy units).
    width : float
        :math:`w` (length units).
    confinement : float
        :math:`c` (energy per length to the sixth).
    """

    name: str
    minima: tuple
    repulsive_origin: bool
    centers: tuple
    depth: float = 1.0
    width: float = 0.8
    confinement: float = 1e-4

    def _gaussians(self):
        """Centres ``(gx, gy)`` and signed heights ``ga`` of all Gaussian terms."""
        points = list(self.minima)
        heights = [-self.depth] * len(points)
        if self.repulsive_origin:
            points.append((0.0, 0.0))
            heights.append(self.depth)
        gx, gy = np.array(points, dtype=np.float64).T
        return gx.copy(), gy.copy(), np.array(heights, dtype=np.float64)

    def _kernel_parameters(self):
        """Arguments that describe the potential to the compiled force."""
        gx, gy, ga = self._gaussians()
        return gx, gy, ga, 1.0 / self.width ** 2, self.confinement

    def potential(self, x, y):
        """Potential energy :math:`U(x, y)`.

        Parameters
        ----------
        x, y : array_like
            Coordinates (length units); broadcast against each other.

        Returns
        -------
        numpy.ndarray
            :math:`U` (energy units), the broadcast shape of `x` and `y`.
        """
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                   np.asarray(y, dtype=np.float64))
        gx, gy, ga = self._gaussians()
        u = self.confinement * (x ** 6 + y ** 6)
        for cx, cy, a in zip(gx, gy, ga):
            u = u + a * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * self.width ** 2))
        return u

    def force(self, x, y):
        """Force :math:`-\\nabla U` (the one the integrator uses).

        Parameters
        ----------
        x, y : array_like
            Coordinates (length units); broadcast against each other.

        Returns
        -------
        fx, fy : numpy.ndarray
            Components of the force (energy per length), the broadcast shape of
            `x` and `y`.
        """
        x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64),
                                   np.asarray(y, dtype=np.float64))
        fx, fy = _force_array(x.ravel(), y.ravel(), *self._kernel_parameters())
        return fx.reshape(x.shape), fy.reshape(x.shape)

    def boltzmann_populations(self, beta=9.5, grid=1000, extent=6.0):
        r"""Equilibrium populations of the states by grid integration.

        Integrates :math:`e^{-\beta U}` over each nearest-centre cell along
        :math:`x`, cut to the square :math:`[-\mathrm{extent}, \mathrm{extent}]^2`,
        with the midpoint rule. Each cell gets its own grid, so no grid point
        sits on a cell edge. The default square holds all but :math:`e^{-40}`
        of the weight at :math:`\beta = 9.5`.

        Parameters
        ----------
        beta : float
            Inverse temperature :math:`1 / k_B T` (inverse energy units).
        grid : int
            Grid points per axis over the whole square (each cell gets its
            share along :math:`x`, at least one).
        extent : float
            Half width of the integration square (length units).

        Returns
        -------
        numpy.ndarray
            ``(len(centers),)`` populations in the order of :attr:`centers`,
            summing to 1.
        """
        beta = positive_float(beta, "beta")
        grid = positive_int(grid, "grid")
        extent = positive_float(extent, "extent")
        spacing = 2.0 * extent / grid
        y = -extent + spacing * (np.arange(grid) + 0.5)
        centers = np.asarray(self.centers, dtype=np.float64)
        order = np.argsort(centers)
        edges = np.clip(np.concatenate(
            ([-extent], 0.5 * (centers[order][1:] + centers[order][:-1]), [extent])),
            -extent, extent)
        energies, areas = [], []
        for lo, hi in zip(edges[:-1], edges[1:]):
            n = max(1, math.ceil((hi - lo) / spacing))
            x = lo + (hi - lo) / n * (np.arange(n) + 0.5)
            energies.append(self.potential(x[:, None], y[None, :]))
            areas.append((hi - lo) / n * spacing)
        # Shifting by the lowest energy keeps exp() finite at any beta.
        u_min = min(e.min() for e in energies)
        weight = np.empty(centers.size)
        weight[order] = [np.exp(-beta * (e - u_min)).sum() * a
                         for e, a in zip(energies, areas)]
        return weight / weight.sum()


#: The 4-state system (repulsive origin; kinetic graph a ring).
FOUR_STATE = LangevinSystem(
    name="four_state",
    minima=((2.0, -1.0), (0.5, 2.0), (-0.5, -2.0), (-2.0, 1.0)),
    repulsive_origin=True,
    centers=(2.0, 0.5, -0.5, -2.0))
#: Three minima on the diagonal.
LINEAR_THREE_STATE = LangevinSystem(
    name="linear_three_state",
    minima=((1.5, 1.5), (0.0, 0.0), (-1.5, -1.5)),
    repulsive_origin=False,
    centers=(1.5, 0.0, -1.5))
#: Three minima on a triangle.
TRIANGULAR_THREE_STATE = LangevinSystem(
    name="triangular_three_state",
    minima=((1.5, 1.8), (0.0, -1.0), (-1.5, 1.5)),
    repulsive_origin=False,
    centers=(1.5, 0.0, -1.5))
#: The systems by name.
SYSTEMS = {s.name: s for s in (FOUR_STATE, LINEAR_THREE_STATE, TRIANGULAR_THREE_STATE)}


# --------------------------------------------------------------------------
# compiled kernels
# --------------------------------------------------------------------------
@njit(cache=True)
def _force_at(x, y, gx, gy, ga, inv_w2, confinement):
    """Force at one point; see :class:`LangevinSystem` for the potential."""
    fx = -6.0 * confinement * x ** 5
    fy = -6.0 * confinement * y ** 5
    for j in range(gx.size):
        dx = x - gx[j]
        dy = y - gy[j]
        # -d/dx [a exp(-r^2 / 2w^2)] = a exp(...) dx / w^2
        e = ga[j] * math.exp(-0.5 * (dx * dx + dy * dy) * inv_w2) * inv_w2
        fx += e * dx
        fy += e * dy
    return fx, fy


@njit(cache=True)
def _force_array(x, y, gx, gy, ga, inv_w2, confinement):
    fx = np.empty_like(x)
    fy = np.empty_like(y)
    for i in range(x.size):
        fx[i], fy[i] = _force_at(x[i], y[i], gx, gy, ga, inv_w2, confinement)
    return fx, fy


@njit(cache=True, parallel=True)
def _obabo(pos, vel, noise, out_pos, out_vel, stride, h, c1, c2,
           gx, gy, ga, inv_w2, confinement):
    """Advance every walker by ``out_pos.shape[1] * stride`` OBABO steps.

    ``pos`` and ``vel`` (n_walkers, 2) are updated in place so that blocks chain;
    ``noise`` (n_walkers, >= n_steps, 4) holds standard normals; the state after
    every `stride` steps goes to ``out_pos`` and ``out_vel``
    (n_walkers, n_frames, 2).
    """
    half_h = 0.5 * h
    for w in prange(out_pos.shape[0]):
        x, y = pos[w, 0], pos[w, 1]
        vx, vy = vel[w, 0], vel[w, 1]
        fx, fy = _force_at(x, y, gx, gy, ga, inv_w2, confinement)
        k = 0
        for frame in range(out_pos.shape[1]):
            for _ in range(stride):
                vx = c1 * vx + c2 * noise[w, k, 0]
                vy = c1 * vy + c2 * noise[w, k, 1]
                vx += half_h * fx
                vy += half_h * fy
                x += h * vx
                y += h * vy
                fx, fy = _force_at(x, y, gx, gy, ga, inv_w2, confinement)
                vx += half_h * fx
                vy += half_h * fy
                vx = c1 * vx + c2 * noise[w, k, 2]
                vy = c1 * vy + c2 * noise[w, k, 3]
                k += 1
            out_pos[w, frame, 0] = x
            out_pos[w, frame, 1] = y
            out_vel[w, frame, 0] = vx
            out_vel[w, frame, 1] = vy
        pos[w, 0], pos[w, 1] = x, y
        vel[w, 0], vel[w, 1] = vx, vy


# --------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------
def _as_system(system):
    if isinstance(system, LangevinSystem):
        return system
    if isinstance(system, str):
        if system not in SYSTEMS:
            raise ValueError(f"system must be one of {sorted(SYSTEMS)}, got {system!r}")
        return SYSTEMS[system]
    raise TypeError(f"system must be a LangevinSystem or one of {sorted(SYSTEMS)}, "
                    f"got {type(system).__name__}")


def _start_positions(start, system, n_walkers):
    if start is None:
        start = system.minima[0]
    start = np.asarray(start, dtype=np.float64)
    if start.shape not in ((2,), (n_walkers, 2)):
        raise ValueError(f"start must have shape (2,) or (n_walkers, 2) = ({n_walkers}, 2), "
                         f"got {start.shape}")
    if not np.all(np.isfinite(start)):
        raise ValueError("start must hold finite coordinates")
    return np.array(np.broadcast_to(start, (n_walkers, 2)))


def _simulate(system, n_frames, n_walkers=1, beta=9.5, gamma=1.0, h=0.01, stride=100,
              seed=0, start=None, progress=False):
    """:func:`simulate` that also returns the velocities at the saved frames."""
    if numba is None:
        raise ImportError("mdlstm.systems.langevin.simulate needs numba, which is not "
                          "installed: pip install 'mdlstm[systems]' (or numba)")
    system = _as_system(system)
    n_frames = positive_int(n_frames, "n_frames")
    n_walkers = positive_int(n_walkers, "n_walkers")
    beta = positive_float(beta, "beta")
    gamma = positive_float(gamma, "gamma")
    h = positive_float(h, "h")
    stride = positive_int(stride, "stride")
    seed = seed_value(seed)
    pos = _start_positions(start, system, n_walkers)

    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n_walkers)]
    # Maxwell-Boltzmann start velocities (mass 1), first draws of each stream.
    vel = np.array([rng.normal(0.0, math.sqrt(1.0 / beta), 2) for rng in rngs])
    c1 = math.exp(-0.5 * gamma * h)
    c2 = math.sqrt((1.0 - c1 * c1) / beta)
    params = system._kernel_parameters()

    positions = np.empty((n_walkers, n_frames, 2))
    velocities = np.empty((n_walkers, n_frames, 2))
    per_walker = min(_NOISE_BLOCK, max(_NOISE_TOTAL // n_walkers, 1))
    block = max(1, per_walker // (_NOISE_PER_STEP * stride))
    noise = np.empty((n_walkers, min(block, n_frames) * stride, _NOISE_PER_STEP))
    with tqdm(total=n_frames, unit="frame", disable=not progress) as bar:
        for first in range(0, n_frames, block):
            last = min(first + block, n_frames)
            steps = (last - first) * stride
            for rng, walker_noise in zip(rngs, noise):
                rng.standard_normal(out=walker_noise[:steps])
            _obabo(pos, vel, noise, positions[:, first:last], velocities[:, first:last],
                   stride, h, c1, c2, *params)
            bar.update(last - first)
    return positions, velocities


def simulate(system, n_frames, n_walkers=1, beta=9.5, gamma=1.0, h=0.01, stride=100,
             seed=0, start=None, progress=False):
    """Langevin dynamics on a benchmark potential (OBABO integrator).

    Parameters
    ----------
    system : LangevinSystem or str
        The potential, or its name in :data:`SYSTEMS`.
    n_frames : int
        Frames saved per walker; the run is ``n_frames * stride`` steps.
    n_walkers : int
        Independent trajectories, run in parallel threads.
    beta : float
        Inverse temperature :math:`1 / k_B T` (inverse energy units).
    gamma : float
        Friction coefficient in :math:`x` and :math:`y` (inverse time units).
    h : float
        Time step (time units).
    stride : int
        Steps between saved frames; one frame is ``stride * h`` time units.
    seed : int or None
        Seed of the noise; walker ``i`` uses the ``i``-th stream spawned from it,
        so its trajectory does not depend on `n_walkers`. ``None`` draws a fresh
        seed.
    start : array_like, optional
        Start positions (length units), shape ``(2,)`` for all walkers or
        ``(n_walkers, 2)``; default the first of ``system.minima``. Start
        velocities are drawn from the Maxwell-Boltzmann distribution.
    progress : bool
        Show a progress bar (frames per walker).

    Returns
    -------
    numpy.ndarray
        ``(n_walkers, n_frames, 2)`` positions :math:`(x, y)` (length units)
        after ``stride, 2 * stride, ..., n_frames * stride`` steps; the start is
        not included.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before any step is taken.
    ImportError
        Without numba, which the optional extra ``mdlstm[systems]`` installs.

    Notes
    -----
    The first call compiles the step loop (a few seconds; cached on disk for
    later sessions). Then 9 walkers of :math:`10^7` steps take 10-20 s on two
    cores.

    Examples
    --------
    >>> pos = simulate("linear_three_state", n_frames=100, n_walkers=2, seed=1)
    >>> pos.shape
    (2, 100, 2)
    """
    return _simulate(system, n_frames, n_walkers, beta, gamma, h, stride, seed, start,
                     progress)[0]


def to_universe(positions, dt=1.0):
    """One walker's trajectory as a one-atom MDAnalysis Universe.

    The atom's :math:`x` and :math:`y` are the 2-D position and :math:`z = 0`; the
    trajectory lives in memory (:class:`~MDAnalysis.coordinates.memory.MemoryReader`,
    float32 coordinates). MDAnalysis reads the reduced length as Angstrom and the
    reduced time as ps. For several walkers make one Universe each:
    ``[to_universe(p) for p in simulate(..., n_walkers=9)]``.

    Parameters
    ----------
    positions : array_like
        ``(n_frames, 2)`` positions of one walker (length units).
    dt : float
        Time between frames (time units; 1.0 for the paper's settings).

    Returns
    -------
    MDAnalysis.core.universe.Universe
        One atom (name ``X``, residue ``LAN``), ``n_frames`` frames ``dt`` apart,
        starting at time 0.
    """
    import MDAnalysis as mda
    from MDAnalysis.coordinates.memory import MemoryReader

    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 2 or positions.shape[1] != 2 or positions.shape[0] < 1:
        raise ValueError("positions must have shape (n_frames, 2) for one walker (make one "
                         f"Universe per walker), got {positions.shape}")
    dt = positive_float(dt, "dt")
    coordinates = np.zeros((positions.shape[0], 1, 3), dtype=np.float32)
    coordinates[:, 0, :2] = positions
    u = mda.Universe.empty(1, n_residues=1, atom_resindex=[0], trajectory=False)
    u.add_TopologyAttr("name", ["X"])
    u.add_TopologyAttr("resname", ["LAN"])
    u.load_new(coordinates, format=MemoryReader, order="fac", dt=dt)
    return u
