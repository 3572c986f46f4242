"""Make ``alanine_dipeptide_100ns.npz``: backbone (phi, psi) of a 100 ns run.

The fidelity benchmark's full mode learns alanine dipeptide from this run,
4.5 times longer than the bundled 22 ns and independent of it (seed 1, the
bundled run has seed 0), with the bundled run's settings otherwise
(:mod:`mdlstm.systems.alanine_dipeptide`: AMBER ff99SB-ILDN, GBSA-OBC, 600 K,
Langevin 1/ps, 2 fs steps, 100 ps equilibration, OpenMM ``Reference``
platform): 100,001 frames 1 ps apart. Only the two dihedrals are kept
(float32 radians, under 1 MB); the 17 MB XTC is not committed.

Made with (OpenMM 8.6.1, one core shared with other work: about 75 minutes)::

    python benchmarks/data/alanine_dipeptide_100ns.py --out benchmarks/data

or, from an existing run, ``--from DIR`` (the directory holding its
``alanine_dipeptide.pdb`` and ``.xtc``).
"""
import argparse
import tempfile
from pathlib import Path

import MDAnalysis as mda
import numpy as np

from mdlstm.systems import alanine_dipeptide

FRAMES = 100_001
SEED = 1
FILENAME = "alanine_dipeptide_100ns.npz"


def save(run_dir, out_dir):
    """Write the dihedrals of the run in `run_dir` to `out_dir`/:data:`FILENAME`."""
    run_dir = Path(run_dir)
    u = mda.Universe(str(run_dir / "alanine_dipeptide.pdb"),
                     str(run_dir / "alanine_dipeptide.xtc"))
    path = Path(out_dir) / FILENAME
    np.savez_compressed(path, phi_psi=alanine_dipeptide.backbone_dihedrals(u).astype(np.float32),
                        dt=u.trajectory.dt, seed=SEED,
                        temperature=alanine_dipeptide.TEMPERATURE)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent), help="output directory")
    parser.add_argument("--from", dest="run_dir",
                        help="existing run to read instead of simulating")
    args = parser.parse_args(argv)
    if args.run_dir:
        print(save(args.run_dir, args.out))
        return
    with tempfile.TemporaryDirectory() as tmp:
        alanine_dipeptide.simulate(FRAMES, tmp, seed=SEED)
        print(save(tmp, args.out))


if __name__ == "__main__":
    main()
