r"""Alanine dipeptide: the bundled default system
=============================================

:Author: mdlstm developers

Alanine dipeptide (ACE-ALA-NME, 22 atoms with hydrogens) is the smallest molecule
whose backbone dihedral :math:`\phi` switches between two metastable basins,
:math:`\phi < 0` (:math:`\beta`, C5, :math:`\alpha_R`) and :math:`\phi > 0`
(:math:`\alpha_L`), which makes it the standard test of a kinetic model. Tsai, Kuo
& Tiwary (2020) learned its :math:`\phi` dynamics at 450 K. mdlstm ships a real MD
trajectory of it, made with OpenMM by :func:`simulate` in this module, so that every
example runs without any download.

The bundled run is hotter than the paper's, 600 K, so that the ~4 MB of data hold about
90 basin changes: with this force field and solvent, short test runs gave about 0.3-1
changes per ns at 450 K, 0.5-1 at 500 K, 1.5 at 550 K and 4 at 600 K. The peptide
bonds stay trans and the C-alpha chirality stays L throughout.

The bundled files
-----------------
* ``mdlstm/data/alanine_dipeptide.pdb``: topology with hydrogens; its coordinates are
  the first saved frame.
* ``mdlstm/data/alanine_dipeptide.xtc``: :data:`N_FRAMES` = 22,000 frames every
  :data:`FRAME_INTERVAL` = 1 ps, times 0 to 21,999 ps (22 ns of production),
  3,776,684 bytes (172 bytes per frame).

They were made with ``python -m mdlstm.systems.alanine_dipeptide --out mdlstm/data``
(OpenMM 8.6.1), that is with these settings:

==================  =============================================================
force field         AMBER ff99SB-ILDN (OpenMM's ``amber99sbildn.xml``)
solvent             implicit GBSA-OBC (OpenMM's ``amber99_obc.xml``, i.e.
                    ``GBSAOBCForce``: OBC II Born radii, solvent dielectric
                    78.3, solute 1, ACE surface term 2.25936 kJ/mol/nm^2),
                    no cutoff, no periodic box
temperature         :data:`TEMPERATURE` = 600 K (the paper: 450 K, see above)
integrator          ``LangevinMiddleIntegrator``, friction :data:`FRICTION` = 1/ps
time step           :data:`TIME_STEP` = 2 fs
constraints         bonds to hydrogen (``HBonds``)
protocol            energy minimisation, :data:`EQUILIBRATION` = 100 ps at the
                    temperature (discarded), then production
length              22,000 frames x 1 ps = 22 ns
saving stride       every 500 steps (1 ps), XTC precision 0.001 nm
platform            OpenMM ``Reference``, one core: about 4,200 ns/day
                    (7.5 minutes for the whole run); for 22 atoms that is about
                    15-20 times faster than the ``CPU`` platform, whose per-step
                    overhead dominates so small a system
seed                0 (integrator noise and initial velocities)
==================  =============================================================

The starting structure (all 22 atoms, stored in this module) is the first frame of the
capped alanine of ``MDAnalysisTests`` (``Amber/capped-ala.prmtop``,
``capped-ala.mdcrd.bz2``), without its water.

In the bundled trajectory :math:`\phi` changes basin 94 times, counted between core
sets :math:`\phi \in (-180^\circ, -30^\circ)` and :math:`\phi \in (30^\circ,
120^\circ)` (the last core visited is kept until the other core is entered, so
recrossings of the barrier do not count). 92.2 % of the frames have
:math:`\phi < 0` and 7.8 % :math:`\phi > 0`; the cores hold 92.0 % and 7.3 %
(0.7 % in neither), and the mean stays between changes are 424 ps
(:math:`\phi < 0`) and 35 ps (:math:`\phi > 0`).

Using the data
--------------
::

    from MDAnalysis.analysis.dihedrals import Ramachandran
    from mdlstm.systems import alanine_dipeptide

    u = alanine_dipeptide.universe()            # 22 atoms, dt = 1 ps
    rama = Ramachandran(u.select_atoms("resname ALA")).run()
    phi = rama.results.angles[:, 0, 0]          # degrees

Regenerating or extending the data needs OpenMM (``pip install "mdlstm[md]"``)::

    python -m mdlstm.systems.alanine_dipeptide --frames 22000 --out mydata/

or from Python, :func:`simulate`. With the same settings, seed, platform and OpenMM
build the run is reproducible.

Functions and constants
-----------------------
.. autofunction:: files
.. autofunction:: universe
.. autofunction:: backbone_dihedrals
.. autofunction:: simulate
"""
import argparse
import math
import numbers
import os
from importlib import resources

import MDAnalysis as mda
import numpy as np
from tqdm import tqdm

__all__ = ["TEMPERATURE", "FRAME_INTERVAL", "N_FRAMES", "TIME_STEP", "FRICTION",
           "EQUILIBRATION", "FORCE_FIELD", "files", "universe", "backbone_dihedrals",
           "simulate"]

#: Temperature of the bundled simulation (K).
TEMPERATURE = 600.0
#: Time between saved frames of the bundled trajectory (ps).
FRAME_INTERVAL = 1.0
#: Number of frames in the bundled trajectory.
N_FRAMES = 22000
#: Integrator time step (ps).
TIME_STEP = 0.002
#: Langevin friction coefficient (1/ps).
FRICTION = 1.0
#: Equilibration run before production, discarded (ps).
EQUILIBRATION = 100.0
#: OpenMM force-field files: protein force field and implicit solvent.
FORCE_FIELD = ("amber99sbildn.xml", "amber99_obc.xml")

_TOPOLOGY = "alanine_dipeptide.pdb"
_TRAJECTORY = "alanine_dipeptide.xtc"

# ACE-ALA-NME (Angstrom), first frame of MDAnalysisTests' Amber/capped-ala, with
# OpenMM's atom names. All hydrogens are given: Modeller.addHydrogens would place
# them with Python's global random generator and break reproducibility.
_ATOMS = (
    ("ACE", "H1", "H", 22.499, 16.108, 21.215),
    ("ACE", "CH3", "C", 21.802, 16.777, 20.711),
    ("ACE", "H2", "H", 20.916, 16.879, 21.338),
    ("ACE", "H3", "H", 21.474, 16.456, 19.722),
    ("ACE", "C", "C", 22.515, 18.133, 20.700),
    ("ACE", "O", "O", 23.677, 18.058, 21.033),
    ("ALA", "N", "N", 21.803, 19.190, 20.454),
    ("ALA", "H", "H", 20.815, 19.086, 20.270),
    ("ALA", "CA", "C", 22.336, 20.557, 20.281),
    ("ALA", "HA", "H", 23.174, 20.773, 20.944),
    ("ALA", "CB", "C", 22.921, 20.696, 18.794),
    ("ALA", "HB1", "H", 22.338, 20.092, 18.099),
    ("ALA", "HB2", "H", 22.774, 21.749, 18.552),
    ("ALA", "HB3", "H", 23.951, 20.368, 18.650),
    ("ALA", "C", "C", 21.126, 21.534, 20.491),
    ("ALA", "O", "O", 19.963, 21.170, 20.600),
    ("NME", "N", "N", 21.435, 22.836, 20.684),
    ("NME", "H", "H", 22.399, 23.069, 20.492),
    ("NME", "C", "C", 20.476, 23.944, 20.990),
    ("NME", "H1", "H", 20.528, 24.289, 22.023),
    ("NME", "H2", "H", 20.806, 24.825, 20.441),
    ("NME", "H3", "H", 19.430, 23.753, 20.748),
)


def files():
    """Paths of the bundled alanine dipeptide topology and trajectory.

    Returns
    -------
    topology : str
        PDB file, 22 atoms with hydrogens.
    trajectory : str
        XTC file, :data:`N_FRAMES` frames every :data:`FRAME_INTERVAL` ps.
    """
    data = resources.files("mdlstm").joinpath("data")
    return (os.fspath(data.joinpath(_TOPOLOGY)), os.fspath(data.joinpath(_TRAJECTORY)))


def universe():
    """The bundled alanine dipeptide trajectory as a Universe.

    Returns
    -------
    MDAnalysis.core.universe.Universe
        22 atoms, :data:`N_FRAMES` frames, ``trajectory.dt`` equal to
        :data:`FRAME_INTERVAL` (ps).
    """
    return mda.Universe(*files())


def backbone_dihedrals(u):
    """Backbone dihedrals phi and psi of the alanine on every frame.

    Parameters
    ----------
    u : MDAnalysis.core.universe.Universe
        An alanine dipeptide system with the bundled topology's residues
        (ACE, ALA, NME), e.g. :func:`universe` or a run of :func:`simulate`.

    Returns
    -------
    numpy.ndarray, shape (n_frames, 2)
        phi and psi of residue 1 (radians, in (-pi, pi]).
    """
    from mdlstm import cv
    from mdlstm.analysis import CVSeries

    residue = u.residues[1]
    dihedrals = [cv.Dihedral(residue.phi_selection(), name="phi"),
                 cv.Dihedral(residue.psi_selection(), name="psi")]
    return CVSeries(u, dihedrals).run().results.cv


def _steps_per_frame(frame_interval):
    """Integrator steps per saved frame; `frame_interval` (ps) must be a multiple."""
    steps = round(frame_interval / TIME_STEP)
    if steps < 1 or not math.isclose(steps * TIME_STEP, frame_interval, rel_tol=1e-9):
        raise ValueError(f"frame_interval must be a positive multiple of the "
                         f"{TIME_STEP} ps time step, got {frame_interval!r}")
    return steps


def _check_arguments(n_frames, out_dir, temperature, frame_interval, seed, platform,
                     threads):
    """Raise TypeError/ValueError for bad :func:`simulate` arguments."""
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a str or os.PathLike, got {type(out_dir).__name__}")
    for name, value in (("n_frames", n_frames), ("seed", seed), ("threads", threads)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    for name, value in (("temperature", temperature), ("frame_interval", frame_interval)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not isinstance(platform, str):
        raise TypeError(f"platform must be a str, got {type(platform).__name__}")
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive (K), got {temperature!r}")
    _steps_per_frame(frame_interval)


def _import_openmm():
    """Import OpenMM, or explain how to install it."""
    try:
        import openmm
        from openmm import app, unit
    except ImportError as err:
        raise ImportError('simulate() needs OpenMM: pip install "mdlstm[md]"') from err
    return openmm, app, unit


def _get_platform(openmm, name):
    """The OpenMM platform called `name`, or ValueError listing the available ones."""
    names = [openmm.Platform.getPlatform(i).getName()
             for i in range(openmm.Platform.getNumPlatforms())]
    if name not in names:
        raise ValueError(f"platform must be one of {names}, got {name!r}")
    return openmm.Platform.getPlatformByName(name)


def _build_model(openmm, app, unit):
    """OpenMM topology and positions of the starting structure `_ATOMS`."""
    topology = app.Topology()
    chain = topology.addChain()
    residues = {}
    positions = []
    for resname, name, element, x, y, z in _ATOMS:
        if resname not in residues:
            residues[resname] = topology.addResidue(resname, chain)
        topology.addAtom(name, app.Element.getBySymbol(element), residues[resname])
        positions.append(openmm.Vec3(x, y, z))
    topology.createStandardBonds()
    return topology, positions * unit.angstrom


def simulation_of(topology, positions, temperature=TEMPERATURE, seed=0, platform="Reference",
                  threads=1):
    """An OpenMM simulation of alanine dipeptide with the settings of the bundled data.

    AMBER ff99SB-ILDN, implicit GBSA-OBC solvent, no cutoff, bonds to hydrogen
    constrained, Langevin (middle) integrator with friction :data:`FRICTION` and
    time step :data:`TIME_STEP`, at the given positions; velocities are not set.

    Parameters
    ----------
    topology : openmm.app.Topology
    positions : openmm positions (e.g. ``PDBFile.positions``)
    temperature : float
        Thermostat temperature (K).
    seed : int
        Seed of the integrator noise.
    platform : str or openmm.Platform
        Platform, by name or object.
    threads : int
        Threads of the "CPU" platform (ignored by the others).

    Returns
    -------
    openmm.app.Simulation
    """
    openmm, app, unit = _import_openmm()
    if isinstance(platform, str):
        platform = _get_platform(openmm, platform)
    system = app.ForceField(*FORCE_FIELD).createSystem(
        topology, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
    integrator = openmm.LangevinMiddleIntegrator(
        temperature * unit.kelvin, FRICTION / unit.picosecond, TIME_STEP * unit.picosecond)
    # OpenMM reads a seed of 0 as "pick one at random", so shift by one.
    integrator.setRandomNumberSeed(seed + 1)
    properties = {"Threads": str(threads)} if platform.getName() == "CPU" else {}
    simulation = app.Simulation(topology, system, integrator, platform, properties)
    simulation.context.setPositions(positions)
    return simulation


def simulate(n_frames, out_dir, *, temperature=TEMPERATURE, frame_interval=FRAME_INTERVAL,
             seed=0, platform="Reference", threads=1, overwrite=False, progress=True):
    """Run alanine dipeptide MD with OpenMM and write a topology and a trajectory.

    The settings are those of the bundled data (see the module docstring): AMBER
    ff99SB-ILDN, implicit GBSA-OBC solvent, no cutoff, Langevin (middle) integrator
    with friction :data:`FRICTION`, :data:`TIME_STEP` time step, bonds to hydrogen
    constrained. The starting structure is energy-minimised and equilibrated for
    :data:`EQUILIBRATION` ps at `temperature` (discarded); frame 0 is the state after
    equilibration, and the first production step follows it.

    Parameters
    ----------
    n_frames : int
        Number of frames to save (the run is ``(n_frames - 1) * frame_interval`` ps).
    out_dir : str or os.PathLike
        Directory for ``alanine_dipeptide.pdb`` and ``alanine_dipeptide.xtc``;
        created if missing.
    temperature : float, optional
        Thermostat temperature (K).
    frame_interval : float, optional
        Time between saved frames (ps); a multiple of :data:`TIME_STEP`.
    seed : int, optional
        Seed of the initial velocities and of the integrator noise. The same seed,
        platform and OpenMM build give the same trajectory.
    platform : str, optional
        OpenMM platform name ("Reference", "CPU", "CUDA", "OpenCL").
    threads : int, optional
        Threads of the "CPU" platform (ignored by the others).
    overwrite : bool, optional
        Replace existing output files; otherwise they raise FileExistsError.
    progress : bool, optional
        Show a progress bar over the production frames.

    Returns
    -------
    topology : str
        Path of the PDB file (with hydrogens; coordinates of frame 0, Angstrom).
    trajectory : str
        Path of the XTC file; frame ``i`` has time ``i * frame_interval`` ps.

    Raises
    ------
    TypeError, ValueError
        For bad arguments, before any simulation work (an unknown `platform` once
        OpenMM is imported).
    FileExistsError
        If an output file exists and `overwrite` is False.
    ImportError
        If OpenMM is not installed.
    """
    _check_arguments(n_frames, out_dir, temperature, frame_interval, seed, platform, threads)
    stride = _steps_per_frame(frame_interval)
    out_dir = os.fspath(out_dir)
    paths = (os.path.join(out_dir, _TOPOLOGY), os.path.join(out_dir, _TRAJECTORY))
    for path in paths:
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    openmm, app, unit = _import_openmm()
    openmm_platform = _get_platform(openmm, platform)

    topology, positions = _build_model(openmm, app, unit)
    simulation = simulation_of(topology, positions, temperature, seed, openmm_platform,
                               threads)
    simulation.minimizeEnergy()
    simulation.context.setVelocitiesToTemperature(temperature * unit.kelvin, seed + 1)
    simulation.step(round(EQUILIBRATION / TIME_STEP))

    os.makedirs(out_dir, exist_ok=True)
    _run_production(simulation, app, unit, paths, n_frames, stride, frame_interval, progress)
    return paths


def _run_production(simulation, app, unit, paths, n_frames, stride, frame_interval,
                    progress):
    """Write frame 0 as PDB, then stream `n_frames` frames, `stride` steps apart, to XTC."""
    from MDAnalysis.lib.formats.libmdaxdr import XTCFile

    def positions_nm():
        state = simulation.context.getState(getPositions=True)
        return state.getPositions(asNumpy=True).value_in_unit(unit.nanometer)

    with open(paths[0], "w") as pdb:
        app.PDBFile.writeFile(simulation.topology, positions_nm() * unit.nanometer, pdb)
    no_box = np.zeros((3, 3), dtype=np.float32)  # no periodic box: XTC stores zeros
    with XTCFile(paths[1], "w") as xtc:
        for frame in tqdm(range(n_frames), disable=not progress, unit="frame"):
            if frame:
                simulation.step(stride)
            # XTC stores nanometres and picoseconds, OpenMM's own units.
            xtc.write(positions_nm().astype(np.float32), no_box, frame * stride,
                      frame * frame_interval)


def _main(argv=None):
    """Command line: regenerate the bundled data (or more of it)."""
    parser = argparse.ArgumentParser(
        prog="python -m mdlstm.systems.alanine_dipeptide",
        description="Simulate alanine dipeptide with OpenMM (settings of mdlstm's "
                    "bundled data) and write alanine_dipeptide.pdb/.xtc.")
    parser.add_argument("--frames", type=int, default=N_FRAMES, help="frames to save")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--temperature", type=float, default=TEMPERATURE, help="K")
    parser.add_argument("--frame-interval", type=float, default=FRAME_INTERVAL,
                        help="ps between saved frames")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--platform", default="Reference")
    parser.add_argument("--threads", type=int, default=1, help="CPU platform threads")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    paths = simulate(args.frames, args.out, temperature=args.temperature,
                     frame_interval=args.frame_interval, seed=args.seed,
                     platform=args.platform, threads=args.threads,
                     overwrite=args.overwrite, progress=not args.quiet)
    print("\n".join(paths))


if __name__ == "__main__":
    _main()
