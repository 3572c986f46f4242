"""Tests for mdlstm.cv against MDAnalysis's own analyses on its test files."""
import itertools
import json
import pickle

import MDAnalysis as mda
import numpy as np
import pytest
from MDAnalysis.analysis import dihedrals, rms
from MDAnalysis.lib.distances import calc_bonds
from MDAnalysisTests.datafiles import DCD, GRO, PSF, XTC

from mdlstm import cv
from mdlstm.tests.util import make_universe

# DCDReader warns about its timestep copies on every open; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:DCDReader currently makes")


@pytest.fixture(scope="module")
def adk():
    """Adenylate kinase in vacuum: 98 frames, no box."""
    return mda.Universe(PSF, DCD)


@pytest.fixture(scope="module")
def adk_box():
    """Solvated adenylate kinase: 10 frames, triclinic box."""
    return mda.Universe(GRO, XTC)


def _series(universe, *cvs):
    """Values of `cvs` at every frame, shape (n_frames, len(cvs))."""
    return np.array([[c() for c in cvs] for _ in universe.trajectory])


def _angle_difference(a, b):
    """a - b wrapped into [-pi, pi] (radians)."""
    return np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b))))


def _empty_universe(positions, masses=None):
    """One-frame Universe with atoms at `positions` (Angstrom)."""
    return make_universe(positions, masses=masses)


# ---------------------------------------------------------------- Dihedral

def test_dihedral_matches_ramachandran(adk):
    residues = adk.residues[1:6]
    ram = dihedrals.Ramachandran(residues.atoms).run()
    cvs = [cv.Dihedral(r.phi_selection(), name="phi") for r in residues]
    cvs += [cv.Dihedral(r.psi_selection(), name="psi") for r in residues]
    values = _series(adk, *cvs)
    expected = np.deg2rad(np.concatenate([ram.results.angles[:, :, 0],
                                          ram.results.angles[:, :, 1]], axis=1))
    assert values.shape == (98, 10)
    np.testing.assert_allclose(_angle_difference(values, expected), 0, atol=1e-5)


def test_dihedral_matches_dihedral_analysis_with_box(adk_box):
    groups = [r.psi_selection() for r in adk_box.residues[4:9]]
    reference = dihedrals.Dihedral(groups).run()
    values = _series(adk_box, *[cv.Dihedral(g) for g in groups])
    expected = np.deg2rad(reference.results.angles)
    assert values.shape == (10, 5)
    np.testing.assert_allclose(_angle_difference(values, expected), 0, atol=1e-5)


def test_dihedral_range_is_half_open(adk):
    values = _series(adk, *[cv.Dihedral(r.psi_selection())
                            for r in adk.residues[1:40]])
    assert np.all(values > -np.pi) and np.all(values <= np.pi)
    assert values.min() < -2.5 and values.max() > 2.5  # both sides are reached


def test_dihedral_maps_minus_pi_to_pi():
    # a planar trans quadruplet for which calc_dihedrals returns atan2(-0., x<0)
    u = _empty_universe(np.array([[-1, -1, -1], [-1, -1, 0], [-1, 0, -1],
                                  [-1, -1, 1]], dtype=np.float32))
    assert cv.Dihedral(u.atoms)() == np.pi


# ---------------------------------------------------------------- Distance

def _minimum_image_distance(a, b, box):
    """Shortest |b - a + lattice vector| over the 27 nearest images (Angstrom)."""
    vectors = mda.lib.mdamath.triclinic_vectors(box).astype(np.float64)
    shifts = np.array(list(itertools.product([-1, 0, 1], repeat=3))) @ vectors
    return np.linalg.norm(b - a + shifts, axis=1).min()


def test_distance_minimum_image(adk_box):
    atom = adk_box.atoms[[0]]
    water = adk_box.select_atoms("resname SOL and name OW")
    # the water oxygen farthest from atom 0 in the stored (wrapped) coordinates
    far = water[[np.argmax(np.linalg.norm(water.positions - atom.positions,
                                          axis=1))]]
    periodic = cv.Distance(atom, far)
    direct = cv.Distance(atom, far, pbc=False)
    values = _series(adk_box, periodic, direct)
    for _, (value, value_direct) in zip(adk_box.trajectory, values):
        a, b = atom.positions[0], far.positions[0]
        box = adk_box.dimensions
        assert value == pytest.approx(_minimum_image_distance(a, b, box), abs=1e-4)
        assert value == pytest.approx(calc_bonds(a, b, box=box), abs=1e-6)
        assert value_direct == pytest.approx(np.linalg.norm(b - a), abs=1e-4)
    # waters diffuse, so the image is only sure to matter at frame 0
    assert values[0, 0] < values[0, 1] - 30


def test_distance_between_centres_of_geometry(adk):
    group1 = adk.select_atoms("resid 1-10 and name CA")
    group2 = adk.select_atoms("resid 200-214 and name CA")
    values = _series(adk, cv.Distance(group1, group2))[:, 0]
    expected = [np.linalg.norm(group1.center_of_geometry()
                               - group2.center_of_geometry())
                for _ in adk.trajectory]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


# ------------------------------------------------------------- Coordinate

@pytest.mark.parametrize("axis, column", [("x", 0), ("y", 1), ("z", 2)])
def test_coordinate_is_centre_of_geometry(adk, axis, column):
    group = adk.select_atoms("resid 50-60")
    coordinate = cv.Coordinate(group, axis=axis)
    values = _series(adk, coordinate)[:, 0]
    expected = [group.center_of_geometry()[column] for _ in adk.trajectory]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)
    assert coordinate.name == axis


# ------------------------------------------------------------------- RMSD

def test_rmsd_matches_rms_rmsd_to_frame_0(adk):
    ca = adk.select_atoms("name CA")
    expected = rms.RMSD(ca, ref_frame=0).run().results.rmsd[:, 2]
    values = _series(adk, cv.RMSD(ca))[:, 0]
    np.testing.assert_allclose(values, expected, atol=1e-5)
    assert values[-1] > 5  # AdK closes -> opens: a real test, not ~0


def test_rmsd_reference_from_other_universe(adk):
    ca = adk.select_atoms("name CA")
    reference = mda.Universe(PSF, DCD)
    expected = rms.RMSD(ca, reference.select_atoms("name CA"),
                        ref_frame=50).run().results.rmsd[:, 2]
    reference.trajectory[50]  # positions at construction time are used
    values = _series(adk, cv.RMSD(ca, reference=reference.select_atoms("name CA")))
    np.testing.assert_allclose(values[:, 0], expected, atol=1e-5)


def test_rmsd_restores_current_frame(adk):
    adk.trajectory[7]
    cv.RMSD(adk.select_atoms("name CA"))
    assert adk.trajectory.ts.frame == 7


# -------------------------------------------------------- RadiusOfGyration

def test_radius_of_gyration(adk):
    protein = adk.select_atoms("protein")
    values = _series(adk, cv.RadiusOfGyration(protein))[:, 0]
    expected = [protein.radius_of_gyration() for _ in adk.trajectory]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


# --------------------------------------------------------------- Function

def test_function_with_lambda(adk):
    group = adk.select_atoms("resid 1-20")
    function = cv.Function(lambda ag: ag.center_of_mass()[2], group,
                           units="Angstrom")
    values = _series(adk, function)[:, 0]
    expected = [group.center_of_mass()[2] for _ in adk.trajectory]
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert (function.name, function.units, function.period) == (
        "function", "Angstrom", None)


def test_function_named_and_periodic(adk):
    def end_angle(ag):
        return np.arctan2(*ag.positions[0, :2])

    function = cv.Function(end_angle, adk.atoms, period=2 * np.pi)
    assert function.name == "end_angle" and function.units == ""
    assert function.period == 2 * np.pi
    assert function() == pytest.approx(np.arctan2(*adk.atoms.positions[0, :2]))
    assert function.describe()["function"].endswith("end_angle")


@pytest.mark.parametrize("returned, match", [
    (np.zeros(3), r"func 'bad' must return a scalar, got shape \(3,\)"),
    ("1.0x", "func 'bad' must return a number, got str"),
])
def test_function_bad_return_value(adk, returned, match):
    function = cv.Function(lambda ag: returned, adk.atoms, name="bad")
    with pytest.raises(TypeError, match=match):
        function()


# ------------------------------------------------ attributes and describe

def _all_cvs(u):
    ca = u.select_atoms("name CA")
    return [
        cv.Dihedral(u.residues[1].phi_selection()),
        cv.Distance(ca[[0]], ca[[-1]]),
        cv.Coordinate(ca, axis="y"),
        cv.RMSD(ca),
        cv.RadiusOfGyration(ca),
        cv.Function(len, ca, period=3.0, name="count", units="atoms"),
    ]


def test_units_periods_and_names(adk):
    got = [(c.name, c.units, c.period) for c in _all_cvs(adk)]
    assert got == [("dihedral", "rad", 2 * np.pi), ("distance", "Angstrom", None),
                   ("y", "Angstrom", None), ("rmsd", "Angstrom", None),
                   ("rgyr", "Angstrom", None), ("count", "atoms", 3.0)]


def test_describe_round_trips_through_json(adk):
    ca = adk.select_atoms("name CA")
    descriptions = [json.loads(json.dumps(c.describe())) for c in _all_cvs(adk)]
    assert [d["type"] for d in descriptions] == [
        "Dihedral", "Distance", "Coordinate", "RMSD", "RadiusOfGyration",
        "Function"]
    assert descriptions[0] == {
        "type": "Dihedral", "name": "dihedral", "units": "rad",
        "period": 2 * np.pi,
        "atoms": adk.residues[1].phi_selection().indices.tolist()}
    assert descriptions[1]["atoms"] == [ca[0].index, ca[-1].index]
    assert descriptions[1]["group_sizes"] == [1, 1]
    assert descriptions[1]["pbc"] is True
    assert descriptions[2]["axis"] == "y"
    assert descriptions[3]["atoms"] == ca.indices.tolist()


def test_universe_atomgroups_and_repr(adk):
    phi = cv.Dihedral(adk.residues[1].phi_selection(), name="phi")
    assert phi.universe is adk
    assert len(phi.atomgroups) == 1 and phi.atomgroups[0].n_atoms == 4
    assert repr(phi) == "<Dihedral 'phi' (rad) on 4 atoms>"


def test_pickle_round_trip(adk):
    # the multiprocessing and dask backends of AnalysisBase pickle the CV
    adk.trajectory[3]
    phi = cv.Dihedral(adk.residues[1].phi_selection())
    copy = pickle.loads(pickle.dumps(phi))
    assert copy.universe.trajectory.ts.frame == 3
    assert copy() == phi()


# -------------------------------------------------------------- validation

def test_validation_errors(adk):
    ca = adk.select_atoms("name CA")
    other = mda.Universe(PSF, DCD)
    cases = [
        (TypeError, "atomgroup must be an MDAnalysis AtomGroup, got Residue",
         lambda: cv.Dihedral(adk.residues[1])),
        (TypeError, "got NoneType.*phi_selection",
         lambda: cv.Dihedral(adk.residues[0].phi_selection())),
        (TypeError, "group2 must be an MDAnalysis AtomGroup, got ndarray",
         lambda: cv.Distance(ca, ca.positions)),
        (ValueError, "atomgroup must contain at least one atom",
         lambda: cv.RadiusOfGyration(ca[[]])),
        (ValueError, "group1 must contain at least one atom",
         lambda: cv.Distance(ca[[]], ca)),
        (ValueError, "atomgroup must contain exactly 4 atoms, got 3",
         lambda: cv.Dihedral(ca[:3])),
        (ValueError, r"atomgroup must contain 4 distinct atoms, got indices "
                     r"\[4, 4, 21, 40\]",
         lambda: cv.Dihedral(adk.atoms[[4, 4, 21, 40]])),
        (ValueError, "group1 and group2 must belong to the same Universe",
         lambda: cv.Distance(ca, other.select_atoms("name CA"))),
        (ValueError, "reference must contain exactly 214 atoms, got 213",
         lambda: cv.RMSD(ca, reference=ca[1:])),
        (ValueError, "axis must be one of 'x', 'y', 'z', got 'w'",
         lambda: cv.Coordinate(ca, axis="w")),
        (TypeError, "func must be callable .* got float",
         lambda: cv.Function(1.0, ca)),
        (ValueError, "period must be a positive finite number or None, got 0",
         lambda: cv.Function(len, ca, period=0)),
        (ValueError, "period must be a positive finite number or None, got -1",
         lambda: cv.Function(len, ca, period=-1)),
        (ValueError, "period must be a positive finite number or None, got inf",
         lambda: cv.Function(len, ca, period=np.inf)),
        (TypeError, "period must be a positive number or None, got 'a'",
         lambda: cv.Function(len, ca, period="a")),
        (TypeError, "name must be a str, got int",
         lambda: cv.Coordinate(ca, name=3)),
    ]
    for error, match, build in cases:
        with pytest.raises(error, match=match):
            build()


def test_radius_of_gyration_needs_mass():
    u = _empty_universe(np.eye(3, dtype=np.float32), masses=np.zeros(3))
    with pytest.raises(ValueError, match="atomgroup must have a positive total mass"):
        cv.RadiusOfGyration(u.atoms)


# --------------------------------------------------------------- from_spec

@pytest.mark.parametrize("spec, build", [
    ("phi:2", lambda u: cv.Dihedral(u.residues[1].phi_selection())),
    ("psi:2", lambda u: cv.Dihedral(u.residues[1].psi_selection())),
    ("dihedral:bynum 18; bynum 20; bynum 22; bynum 42",
     lambda u: cv.Dihedral(u.atoms[[17, 19, 21, 41]])),
    ("distance:resid 1 and name CA;resid 214 and name CA",
     lambda u: cv.Distance(u.atoms[[4]], u.select_atoms("resid 214 and name CA"))),
    ("coordinate:name CA;z", lambda u: cv.Coordinate(u.select_atoms("name CA"), "z")),
    ("rmsd:name CA", lambda u: cv.RMSD(u.select_atoms("name CA"))),
    ("rgyr:protein", lambda u: cv.RadiusOfGyration(u.select_atoms("protein"))),
])
def test_from_spec(adk, spec, build):
    adk.trajectory[60]
    parsed, direct = cv.from_spec(adk, spec), build(adk)
    assert type(parsed) is type(direct)
    assert parsed.describe()["atoms"] == direct.describe()["atoms"]
    assert parsed() == pytest.approx(direct(), abs=1e-6)


def test_from_spec_names_backbone_dihedrals(adk):
    assert cv.from_spec(adk, "phi:10").name == "phi"
    assert cv.from_spec(adk, "psi:10").name == "psi"


@pytest.mark.parametrize("spec, match", [
    ("foo:1", "CV spec 'foo:1': expected KIND:ARGUMENTS with one of the kinds "
              "phi:RESID, psi:RESID, dihedral:SEL1;SEL2;SEL3;SEL4, "
              "distance:SEL1;SEL2, coordinate:SEL;AXIS, rmsd:SEL, rgyr:SEL"),
    ("rgyr", "CV spec 'rgyr': expected KIND:ARGUMENTS"),
    ("phi:two", "CV spec 'phi:two': expected an integer resid, got 'two' "
                r"\(valid kinds: phi:RESID"),
    ("phi:1", "CV spec 'phi:1': residue 1 has no phi dihedral"),
    ("psi:999", "CV spec 'psi:999': resid 999 must match exactly one residue, "
                "matched 0"),
    ("dihedral:name CA;bynum 1;bynum 2;bynum 3",
     "selection 'name CA' must match 1 atom\\(s\\), matched 214"),
    ("distance:name CA", "expected 2 non-empty ';'-separated field\\(s\\)"),
    ("coordinate:name CA;w", "axis must be one of 'x', 'y', 'z', got 'w'"),
    ("rmsd:resname XXX", "CV spec 'rmsd:resname XXX': atomgroup must contain "
                         "at least one atom"),
    ("rgyr:(((", r"CV spec 'rgyr:\(\(\(': bad selection"),
])
def test_from_spec_errors(adk, spec, match):
    with pytest.raises(ValueError, match=match):
        cv.from_spec(adk, spec)


def test_from_spec_argument_types(adk):
    with pytest.raises(TypeError, match="universe must be an MDAnalysis Universe, "
                                        "got AtomGroup"):
        cv.from_spec(adk.atoms, "phi:2")
    with pytest.raises(TypeError, match="spec must be a str, got int"):
        cv.from_spec(adk, 2)


def test_features_return_their_vector(adk):
    u = adk
    f = cv.Features(lambda ag: ag.positions[0], u.atoms, n_features=3, name="p", units="A")
    np.testing.assert_array_equal(f(), u.atoms.positions[0])
    assert f.n_values == 3 and f.describe()["n_features"] == 3
    wrong = cv.Features(lambda ag: ag.positions[0], u.atoms, n_features=2)
    with pytest.raises(ValueError, match=r"must return 2 values \(n_features\), got shape"):
        wrong()
    with pytest.raises(ValueError, match="n_features must be a positive integer"):
        cv.Features(lambda ag: 0.0, u.atoms, n_features=0)
    with pytest.raises(TypeError, match="func must be callable"):
        cv.Features(3, u.atoms, n_features=1)
