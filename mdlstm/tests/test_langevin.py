"""Tests of the paper's 2-D Langevin benchmarks (mdlstm.systems.langevin)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mdlstm import Discretizer
from mdlstm.systems import langevin
from mdlstm.systems.langevin import (FOUR_STATE, LINEAR_THREE_STATE, SYSTEMS,
                                     TRIANGULAR_THREE_STATE, LangevinSystem, simulate,
                                     to_universe)

BETA = 9.5
ALL_SYSTEMS = list(SYSTEMS.values())
IDS = list(SYSTEMS)


@pytest.fixture(scope="module")
def four_state_run():
    """8 walkers x 2e4 frames (1.6e7 steps) of the 4-state system, with velocities."""
    return langevin._simulate(FOUR_STATE, n_frames=20_000, n_walkers=8, seed=2020)


def test_registry():
    assert set(SYSTEMS) == {"four_state", "linear_three_state", "triangular_three_state"}
    assert SYSTEMS["four_state"] is FOUR_STATE
    assert FOUR_STATE.centers == (2.0, 0.5, -0.5, -2.0)
    assert FOUR_STATE.repulsive_origin and not LINEAR_THREE_STATE.repulsive_origin
    assert TRIANGULAR_THREE_STATE.minima[1] == (0.0, -1.0)


def test_potential_formula_at_a_point():
    # U(0, 0) of the 4-state system by hand: four wells and the repulsive origin.
    wells = sum(np.exp(-(x * x + y * y) / (2 * 0.8 ** 2)) for x, y in FOUR_STATE.minima)
    assert_allclose(FOUR_STATE.potential(0.0, 0.0), 1.0 - wells, rtol=1e-14)
    assert FOUR_STATE.potential(np.zeros((3, 1)), np.zeros(4)).shape == (3, 4)


@pytest.mark.parametrize("system", ALL_SYSTEMS, ids=IDS)
def test_force_is_minus_gradient(system):
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-3.5, 3.5, (2, 50))
    d = 1e-5
    gx = (system.potential(x + d, y) - system.potential(x - d, y)) / (2 * d)
    gy = (system.potential(x, y + d) - system.potential(x, y - d)) / (2 * d)
    fx, fy = system.force(x, y)
    assert_allclose(fx, -gx, atol=1e-8)
    assert_allclose(fy, -gy, atol=1e-8)
    # scalars and broadcasting keep their shapes
    assert system.force(1.0, np.zeros(3))[0].shape == (3,)


@pytest.mark.parametrize("system", ALL_SYSTEMS, ids=IDS)
def test_listed_minima_are_minima(system):
    for x0, y0 in system.minima:
        # Steepest descent from the listed point; the Gaussians overlap, so the
        # true minimum is shifted a little (0.08 at most, in the linear system).
        p = np.array([x0, y0])
        for _ in range(3000):
            p = p + 0.5 * np.array(system.force(*p))
        assert np.hypot(*system.force(*p)) < 1e-8
        assert np.hypot(p[0] - x0, p[1] - y0) < 0.1
        ring = 0.05 * np.exp(1j * np.linspace(0, 2 * np.pi, 16, endpoint=False))
        assert np.all(system.potential(p[0] + ring.real, p[1] + ring.imag)
                      > system.potential(*p))


@pytest.mark.parametrize("system, expected", [
    (FOUR_STATE, [0.270, 0.231, 0.230, 0.270]),
    (LINEAR_THREE_STATE, [0.288, 0.425, 0.287]),
    (TRIANGULAR_THREE_STATE, [0.320, 0.346, 0.334]),
], ids=IDS)
def test_boltzmann_populations_match_paper(system, expected):
    pops = system.boltzmann_populations(beta=BETA)
    assert pops.shape == (len(system.centers),)
    assert_allclose(pops.sum(), 1.0, rtol=1e-12)
    assert_allclose(pops, expected, atol=0.005)
    # converged in the grid
    assert_allclose(system.boltzmann_populations(beta=BETA, grid=500), pops, atol=1e-4)


def test_boltzmann_populations_bad_input():
    with pytest.raises(ValueError, match="beta"):
        FOUR_STATE.boltzmann_populations(beta=0)
    with pytest.raises(TypeError, match="grid"):
        FOUR_STATE.boltzmann_populations(grid=10.5)


def test_shapes_start_and_frames():
    pos = simulate(LINEAR_THREE_STATE, n_frames=5, n_walkers=3, seed=0)
    assert pos.shape == (3, 5, 2)
    assert pos.dtype == np.float64 and np.all(np.isfinite(pos))
    # With one step per frame and a tiny step, frame 0 is one step from the start.
    start = np.array([[0.0, 0.0], [1.0, -1.0]])
    pos = simulate("linear_three_state", n_frames=3, n_walkers=2, h=1e-6, stride=1,
                   start=start, seed=0)
    assert_allclose(pos[:, 0], start, atol=1e-5)
    assert not np.array_equal(pos[:, 0], start)


def test_same_seed_bit_identical_and_independent_of_walkers_and_blocks(monkeypatch):
    a = simulate(FOUR_STATE, n_frames=300, n_walkers=3, seed=7)
    b = simulate(FOUR_STATE, n_frames=300, n_walkers=3, seed=7)
    assert_array_equal(a, b)
    assert not np.array_equal(a, simulate(FOUR_STATE, n_frames=300, n_walkers=3, seed=8))
    # walkers differ from each other
    assert not np.array_equal(a[0], a[1])
    # Walker i's stream depends only on (seed, i): fewer walkers and much smaller
    # noise blocks (chunks of 7 frames) give the same bits.
    monkeypatch.setattr(langevin, "_NOISE_BLOCK", 7 * 100 * 4)
    assert_array_equal(simulate(FOUR_STATE, n_frames=300, n_walkers=2, seed=7), a[:2])


def test_verlet_part_conserves_energy():
    # Without friction or noise (c1 = 1, c2 = 0) OBABO is velocity Verlet:
    # energy fluctuates by O(h^2) and does not drift.
    params = FOUR_STATE._kernel_parameters()
    pos = np.array([[1.0, 0.5]])
    vel = np.array([[0.3, -0.2]])
    e0 = FOUR_STATE.potential(1.0, 0.5) + 0.5 * (0.3 ** 2 + 0.2 ** 2)
    n_frames, stride = 500, 20
    noise = np.zeros((1, n_frames * stride, 4))
    out_pos = np.empty((1, n_frames, 2))
    out_vel = np.empty((1, n_frames, 2))
    langevin._obabo(pos, vel, noise, out_pos, out_vel, stride, 0.01, 1.0, 0.0, *params)
    energy = (FOUR_STATE.potential(out_pos[0, :, 0], out_pos[0, :, 1])
              + 0.5 * (out_vel[0] ** 2).sum(axis=1))
    assert np.ptp(out_pos[0, :, 0]) > 0.5            # it really moved
    assert np.max(np.abs(energy - e0)) < 1e-4
    assert_array_equal(pos[0], out_pos[0, -1])       # state handed on for the next block


def test_equipartition(four_state_run):
    _, vel = four_state_run
    # <v^2> per degree of freedom = 1 / beta; 3.2e5 nearly independent samples
    # (frames are one friction time apart) give a 0.3 % standard error.
    kinetic_per_dof = 0.5 * np.mean(vel ** 2, axis=(0, 1))
    assert_allclose(kinetic_per_dof, 0.5 / BETA, rtol=0.02)


def test_four_state_kinetic_ring(four_state_run):
    pos, _ = four_state_run
    x = list(pos[..., 0])
    # The paper's preprocessing: running mean of 50 frames, nearest centre,
    # visits of at most 100 frames removed. (Raw labels cross every cell edge
    # on the way, so there 1 <-> 2 dominates and the ring cannot be seen.)
    disc = Discretizer(method="centers", centers=FOUR_STATE.centers,
                       smooth=50, min_dwell=100)
    counts = np.zeros((4, 4), dtype=int)
    for dtraj in disc.fit_transform(x):
        np.add.at(counts, (dtraj[:-1], dtraj[1:]), 1)
    link = counts + counts.T                         # both directions
    fast = [link[0, 2], link[1, 3]]
    slow = [link[0, 1], link[2, 3]]
    # 1.6e5 frames; the paper's MD has 62 fast and 10 slow transitions per 1e5
    # frames. Seed 2020 gives fast [65, 19] and slow [6, 9].
    assert 60 <= sum(fast) <= 140
    assert sum(fast) >= 4 * sum(slow) and sum(slow) >= 4
    assert min(fast) > max(slow)
    assert link[0, 3] == 0


def test_to_universe_round_trip():
    pos = simulate(TRIANGULAR_THREE_STATE, n_frames=20, seed=3)[0]
    u = to_universe(pos, dt=2.5)
    assert u.atoms.n_atoms == 1
    assert u.trajectory.n_frames == 20
    assert u.trajectory.dt == pytest.approx(2.5)
    times = [ts.time for ts in u.trajectory]
    assert_allclose(times, 2.5 * np.arange(20))
    coords = u.trajectory.timeseries(order="fac")[:, 0, :]
    assert_allclose(coords[:, :2], pos, rtol=1e-6, atol=1e-6)
    assert_array_equal(coords[:, 2], 0.0)


def test_to_universe_bad_input():
    with pytest.raises(ValueError, match=r"positions must have shape \(n_frames, 2\)"):
        to_universe(np.zeros((2, 5, 2)))
    with pytest.raises(ValueError, match="positions must have shape"):
        to_universe(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="dt"):
        to_universe(np.zeros((5, 2)), dt=0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(system="five_state"), ValueError, "system must be one of"),
    (dict(system=42), TypeError, "system must be a LangevinSystem"),
    (dict(n_frames=0), ValueError, "n_frames"),
    (dict(n_frames=2.5), TypeError, "n_frames"),
    (dict(n_walkers=0), ValueError, "n_walkers"),
    (dict(h=0.0), ValueError, "h must be"),
    (dict(h=-0.01), ValueError, "h must be"),
    (dict(beta=0), ValueError, "beta"),
    (dict(beta=-9.5), ValueError, "beta"),
    (dict(gamma=0), ValueError, "gamma"),
    (dict(stride=0), ValueError, "stride"),
    (dict(seed=-1), TypeError, "seed"),
    (dict(start=[1.0, 2.0, 3.0]), ValueError, r"start must have shape \(2,\) or"),
    (dict(start=np.zeros((3, 2)), n_walkers=2), ValueError, r"\(n_walkers, 2\) = \(2, 2\)"),
    (dict(start=[np.nan, 0.0]), ValueError, "start must hold finite"),
])
def test_simulate_bad_input(kwargs, error, match):
    args = dict(system=FOUR_STATE, n_frames=10)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        simulate(**args)


def test_system_is_frozen():
    with pytest.raises(AttributeError):
        FOUR_STATE.name = "other"
    custom = LangevinSystem(name="one_well", minima=((0.0, 0.0),), repulsive_origin=False,
                            centers=(0.0,))
    assert_allclose(custom.boltzmann_populations(), [1.0])


def test_without_numba_simulate_names_the_extra():
    """The potentials work without numba; simulate() says what to install."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['numba'] = None\n"
            "from mdlstm.systems import langevin\n"
            "print(round(langevin.FOUR_STATE.potential(2.0, -1.0), 6))\n"
            "langevin.simulate('four_state', n_frames=2)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "pip install 'mdlstm[systems]'" in proc.stderr and "ImportError" in proc.stderr
    assert float(proc.stdout) < 0
