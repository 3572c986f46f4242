"""Tests of mdlstm.report: files written, numbers kept, HTML self-contained and
rendered by a real browser, nothing overwritten."""

import base64
import json
import re
import shutil
import subprocess
from html import escape
from html.parser import HTMLParser

import numpy as np
import pytest
from deeptime.markov.msm import MarkovStateModel
from numpy.testing import assert_array_equal

from mdlstm.report import (_FIGURES, _free_energy_figure, _html_table, _timeseries_figure,
                           write_report)
from mdlstm.validate import compare

P = np.array([[0.95, 0.04, 0.01],
              [0.05, 0.90, 0.05],
              [0.02, 0.06, 0.92]])
PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = {"epoch": [1, 2, 3], "train_loss": [0.5, 0.4, 0.35], "val_loss": [0.45, 0.42, 0.43],
           "learning_rate": [1e-3, 5e-4, 2e-4], "time_s": [1.0, 1.0, 1.0]}
CV = {"type": "Coordinate", "name": "x", "units": "Angstrom"}
EMBEDDING = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]])
ALL_FIGURES = ["free_energy", "timeseries", "timescales", "ck_test", "transition_rates",
               "embedding", "training"]


def _comparison():
    msm = MarkovStateModel(P)
    # deeptime draws the first state at random unless it is given
    ref = msm.simulate(3000, seed=0, start=0)
    gen = np.stack([msm.simulate(1000, seed=s, start=0) for s in (1, 2)])
    return compare(ref, gen, dt=0.5, time_unit="ps", state_values=[-1.0, 0.0, 1.0],
                   lagtimes=[1, 2, 5])


@pytest.fixture(scope="module")
def comparison():
    return _comparison()


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    cmp = _comparison()
    paths = write_report(tmp_path_factory.mktemp("full") / "rep", cmp, history=HISTORY, cv=CV,
                         title="Three states & <more>", embedding=EMBEDDING)
    return cmp, paths


class _Cells(HTMLParser):
    """Text of every table row's cells, and every img src."""

    def __init__(self):
        super().__init__()
        self.rows, self.images, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.rows[-1].append(self._cell)
            self._cell = None


def _parse(html):
    parser = _Cells()
    parser.feed(html)
    return parser


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == PNG
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_every_file_is_written_and_substantial(full):
    cmp, paths = full
    assert list(paths) == ALL_FIGURES + ["json", "markdown", "html"]
    for key in ALL_FIGURES:
        assert paths[key].name == f"{key}.png"
        assert paths[key].stat().st_size > 10_000
        width, height = _png_size(paths[key])
        assert width > 400 and height > 300
    assert paths["html"].stat().st_size > sum(paths[k].stat().st_size for k in ALL_FIGURES)
    md = paths["markdown"].read_text()
    assert md.startswith("# Three states & <more>\n")
    assert ("CV: Coordinate `x` (Angstrom); one model step = 0.5 ps. 3 states; MSM lag = 1 "
            "steps (0.5 ps); metastable sets S0: states 0; S1: states 1-2.") in md
    assert "Held-out cross-entropy: 0.42000 nats per character (epoch 2)." in md
    assert cmp.format_summary() in md
    for key in ALL_FIGURES:
        title, caption, how = _FIGURES[key]
        assert f"### {title}\n\n![{key}]({key}.png)\n\n{caption.format(unit='ps')}" in md
        assert f"*How to read this.* {how}" in md


def test_results_json_holds_the_figures_numbers(full):
    cmp, paths = full
    numbers = json.loads(paths["json"].read_text())
    np.testing.assert_allclose(numbers["comparison"]["populations"]["MD"],
                               cmp.populations["MD"])
    assert numbers["history"]["val_loss"] == [0.45, 0.42, 0.43]
    assert numbers["cv"] == CV and numbers["title"] == "Three states & <more>"
    assert numbers["figures"] == {key: f"{key}.png" for key in ALL_FIGURES}
    # the CK test and the errors behind the figures, stored once
    np.testing.assert_allclose(numbers["comparison"]["ck"]["LSTM"]["estimates"],
                               cmp.ck["LSTM"]["estimates"])
    np.testing.assert_allclose(numbers["comparison"]["errors"]["free_energy"]["MD"],
                               cmp.errors["free_energy"]["MD"])
    assert "ck" not in numbers and "errors" not in numbers
    similarity = np.array(numbers["embedding"]["cosine_similarity"])
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(similarity, [[1, s, 0], [s, 1, -s], [0, -s, 1]], atol=1e-12)
    # pi_i P_ij between different states of the MD MSM (all 3 states are connected)
    msm = cmp.msm["MD"]
    expected = msm.stationary_distribution[:, None] * msm.transition_matrix
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(numbers["embedding"]["msm_flux"], expected, atol=1e-12)


def test_html_table_numbers_are_all_in_results_json(full):
    cmp, paths = full
    summary = json.loads(paths["json"].read_text())["comparison"]["summary"]
    header, *rows = _parse(paths["html"].read_text()).rows
    assert header == ["quantity", "unit", "MD", "LSTM", "MSM", "verdict"]
    assert len(rows) == len(summary) == 6
    by_quantity = {row["quantity"]: row for row in summary}
    number = r"[-+]?\d*\.?\d+(?:e[-+]?\d+)?"
    for quantity, unit, *values, verdict in rows:
        expected = by_quantity[quantity]
        assert unit == expected["unit"] and verdict == expected["verdict"]
        for src, cell in zip(("MD", "LSTM", "MSM"), values):
            value, se = re.fullmatch(f"({number}) \u00b1 ({number})", cell).groups()
            assert float(value) == pytest.approx(expected[src], rel=5e-4)
            assert float(se) == pytest.approx(expected[f"{src}_se"], rel=5e-2)
    assert rows[0][:3] == ["population S0", "fraction", f"{summary[0]['MD']:.4g} \u00b1 "
                           f"{summary[0]['MD_se']:.2g}"]
    html = paths["html"].read_text()
    for line in cmp.notes():   # what the sources invent, and disagreeing models
        assert f"<p>{escape(line)}</p>" in html


def test_html_embeds_every_png_and_loads_nothing_external(full):
    _, paths = full
    html = paths["html"].read_text()
    images = _parse(html).images
    pngs = sorted(paths["html"].parent.glob("*.png"))
    assert len(images) == html.count("data:image/png;base64,") == len(pngs) == 7
    prefix = "data:image/png;base64,"
    assert [base64.b64decode(src.removeprefix(prefix)) for src in images] == \
        [paths[key].read_bytes() for key in ALL_FIGURES]
    assert not re.search(r"https?://|<link|<script|@import|url\(", html)
    assert "<title>Three states &amp; &lt;more&gt;</title>" in html
    assert html.count('<p class="how"><strong>How to read this.</strong>') == 7


def test_free_energy_has_error_bands_when_the_comparison_has_errors(comparison):
    ax = _free_energy_figure(comparison, CV).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), comparison.free_energy["MD"])
    assert ax.get_xlabel() == "x (Angstrom)"
    assert len(ax.collections) == 3  # one band per source
    lower = ax.collections[1].get_paths()[0].vertices[:, 1].min()
    assert lower == pytest.approx(np.min(comparison.free_energy["LSTM"]
                                         - comparison.errors["free_energy"]["LSTM"]))


def test_timeseries_shows_cv_values_in_one_time_window(comparison):
    fig = _timeseries_figure(comparison, CV)
    # about five of the longest MD passage times, at least 100 steps
    mfpt = comparison.mfpt["MD"]
    window = max(5 * mfpt[np.isfinite(mfpt)].max(), 100 * comparison.dt)
    assert [ax.get_xlim() for ax in fig.axes] == [(0, pytest.approx(window))] * 3
    for ax in fig.axes:
        x, y = ax.lines[0].get_data()
        assert set(np.unique(y)) <= {-1.0, 0.0, 1.0}  # CV values, not state indices
        assert x[-1] == pytest.approx(window, abs=comparison.dt)


def test_report_without_optional_parts(comparison, tmp_path):
    paths = write_report(tmp_path / "rep", comparison)   # no history, no embedding
    assert list(paths) == ["free_energy", "timeseries", "timescales", "ck_test",
                           "transition_rates", "json", "markdown", "html"]
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 5
    assert "Held-out" not in html and "Training" not in html
    numbers = json.loads(paths["json"].read_text())
    assert numbers["history"] is None and "embedding" not in numbers


def test_table_without_standard_errors_or_verdicts():
    rows = [{"quantity": "population S0", "unit": "fraction", "MD": 0.25, "LSTM": 1 / 3},
            {"quantity": "MFPT S0->S1", "unit": "ps", "MD": 12345.678, "LSTM": np.inf,
             "MD_se": np.inf, "LSTM_se": 2.0}]
    header, *cells = _parse(_html_table(rows, ("MD", "LSTM"))).rows
    assert header == ["quantity", "unit", "MD", "LSTM"]
    assert cells == [["population S0", "fraction", "0.25", "0.3333"],
                     ["MFPT S0->S1", "ps", "1.235e+04", "\u221e"]]


def test_report_refuses_existing_directory(comparison, tmp_path):
    out = tmp_path / "rep"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="rep exists; choose a new directory"):
        write_report(out, comparison)
    assert list(out.iterdir()) == [out / "mine.txt"]
    write_report(out, comparison, history=HISTORY, overwrite=True)
    assert (out / "training.png").exists()
    # a figure the new report lacks is removed; other files stay
    write_report(out, comparison, overwrite=True)
    assert (out / "mine.txt").read_text() == "keep"
    assert (out / "report.html").exists() and not (out / "training.png").exists()


def test_free_energy_map_of_states_on_two_cvs(comparison, tmp_path):
    centers = np.array([[-1.0, 0.5], [0.0, 0.0], [1.0, -0.5]])
    paths = write_report(tmp_path / "rep", comparison, state_centers=centers,
                         column_labels=["x (A)", "y (A)"])
    assert paths["free_energy_map"].stat().st_size > 10_000
    text = paths["markdown"].read_text()
    assert "Free energy over the first two CVs" in text
    # each set is located at the centre of its most populated MD state
    md = comparison.populations["MD"]
    for label, states in zip(comparison.set_names(), comparison.metastable_sets):
        x, y = centers[states[int(np.argmax(md[states]))]]
        assert f"{label}: states" in text
        assert f"most populated at x (A) {x:.3g}, y (A) {y:.3g})" in text
    # one time-series panel per CV column, each state at its centre
    fig = _timeseries_figure(comparison, CV, (centers, ["x (A)", "y (A)"]))
    assert [ax.get_title() for ax in fig.axes[:2]] == ["x (A)", "y (A)"]
    for row, src in enumerate(comparison.sources):
        states = np.asarray(comparison.trajectories[src][0])
        for col in range(2):
            _, y = fig.axes[2 * row + col].lines[0].get_data()
            assert_array_equal(y, centers[states[:y.size], col])
    plain = write_report(tmp_path / "plain", comparison)
    assert "free_energy_map" not in plain


@pytest.mark.parametrize("kwargs, error, message", [
    ({"comparison": "cmp"}, TypeError, "comparison must be an mdlstm.validate.Comparison"),
    ({"embedding": np.ones((2, 4))}, ValueError,
     r"embedding must be a finite array of shape \(n_states=3, dim\), got shape \(2, 4\)"),
    ({"embedding": np.full((3, 2), np.nan)}, ValueError, "embedding must be a finite array"),
    ({"history": {"epoch": [1]}}, ValueError, "history must be a dict with 'epoch'"),
    ({"cv": "phi"}, TypeError, r"cv must be a dict \(CollectiveVariable.describe\(\)\)"),
    ({"title": 3}, TypeError, "title must be a string, got int"),
    ({"state_centers": np.zeros((3, 1))}, ValueError,
     r"state_centers must have shape \(n_states=3, n_columns >= 2\), got \(3, 1\)"),
    ({"state_centers": np.zeros((3, 2)), "column_labels": ["phi"]}, ValueError,
     "column_labels must name the 2 columns"),
])
def test_bad_arguments_fail_before_writing(comparison, tmp_path, kwargs, error, message):
    arguments = {"comparison": comparison, **kwargs}
    with pytest.raises(error, match=message):
        write_report(tmp_path / "rep", **arguments)
    assert not (tmp_path / "rep").exists()


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _chromium(browser, profile, *arguments):
    done = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_report_renders_in_headless_chromium(full, tmp_path):
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); "
                    "it renders report.html in a real browser")
    from matplotlib.image import imread

    _, paths = full
    url = paths["html"].resolve().as_uri()
    dom = _parse(_chromium(browser, tmp_path / "profile-dom", "--dump-dom", url))
    assert [base64.b64decode(src.removeprefix("data:image/png;base64,"))
            for src in dom.images] == [paths[key].read_bytes() for key in ALL_FIGURES]
    assert dom.rows[0] == ["quantity", "unit", "MD", "LSTM", "MSM", "verdict"]

    shot = tmp_path / "shot.png"
    _chromium(browser, tmp_path / "profile-shot", f"--screenshot={shot}",
              "--window-size=1200,3000", url)
    pixels = imread(shot)[..., :3]
    assert pixels.shape == (3000, 1200, 3)
    assert pixels.std() > 0.1                      # not a blank page
    assert (pixels.mean(axis=2) < 0.3).mean() > 0.002   # text and axes
    red = (pixels[..., 0] > 0.7) & (pixels[..., 1] < 0.35) & (pixels[..., 2] < 0.35)
    assert red.sum() > 200                         # the LSTM curves: figures were drawn


def test_training_figure_shows_the_calibration_rounds():
    from mdlstm.report import _training_figure

    calibrated = {**HISTORY, "calibration": {"population_error": [0.02, 0.01, 0.005],
                                             "transition_error": [0.3, 0.1, 0.05]}}
    plain, both = _training_figure(HISTORY), _training_figure([HISTORY, calibrated])
    assert len(plain.axes) == 2 and len(both.axes) == 3
    rounds = both.axes[2]
    assert rounds.get_title() == "Calibration of one-step moves"
    # only the calibrated model (the second colour) has rounds: one line per error
    assert [list(line.get_ydata()) for line in rounds.lines] == [[0.02, 0.01, 0.005],
                                                                 [0.3, 0.1, 0.05]]
    assert {line.get_color() for line in rounds.lines} == {"C1"}
