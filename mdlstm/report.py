r"""Figures and a written report of a comparison --- :mod:`mdlstm.report`
=====================================================================

:func:`write_report` turns a :class:`~mdlstm.validate.Comparison` (MD vs LSTM
vs MSM) into a directory that can be read without Python: PNG figures, a
Markdown summary, a self-contained HTML page (figures embedded, no external
resources, so it can be mailed or archived as one file) and ``results.json``
with every number the page shows.

Example
-------
::

    from mdlstm import compare
    from mdlstm.report import write_report

    cmp = compare(dtraj, generated, dt=0.5, state_values=disc.centers_)
    paths = write_report("ala2-report", cmp, history=estimator.history,
                         cv=phi.describe(), embedding=model.embedding)
    paths["html"]        # open in any browser

:meth:`mdlstm.analysis.LSTMDynamics.report` calls it for a finished run.

The report directory
--------------------

========================  ===================================================
file                      content
========================  ===================================================
``free_energy.png``       free energy along the CV (kT), MD vs LSTM vs MSM,
                          with bands of one standard error where the
                          comparison has them
``free_energy_map.png``   several CVs: the free energy of every state at
                          its centre over the first two CVs, MD, LSTM and
                          MSM side by side on one colour scale, metastable
                          sets marked (when ``state_centers`` is given)
``timeseries.png``        the same time window of MD, LSTM and MSM chains,
                          each state drawn at its CV value
``timescales.png``        implied timescales vs lag time of MSMs estimated
                          on the MD and on the LSTM data
``ck_test.png``           Chapman-Kolmogorov test between the metastable
                          sets (when the comparison has one)
``transition_rates.png``  observed transitions per unit time between states
``embedding.png``         cosine similarity of the learned state embeddings
                          next to the MD MSM's flux (when ``embedding`` is
                          given)
``training.png``          training and held-out loss per epoch (when
                          ``history`` is given)
``report.md``             settings, summary table and figures in Markdown
``report.html``           the same in one self-contained page
``results.json``          every number of the comparison and the figures
========================  ===================================================

Each figure comes with a caption and a short "how to read this" paragraph in
``report.md`` and ``report.html``. Figures are drawn with matplotlib's
object-oriented API (no pyplot, no GUI backend), so reports can be written on
headless cluster nodes.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._format import _format_states, _jsonable
from ._maps import free_energy_map, set_locations
from .validate import Comparison, embedding_similarity, msm_flux

__all__ = ["write_report"]

_COLOURS = {"MD": "black", "LSTM": "tab:red", "MSM": "tab:blue"}
_MARKERS = {"MD": "o", "LSTM": "s", "MSM": "^"}
_LINES = {"MD": "-", "LSTM": "--", "MSM": ":"}
# Cells never observed are drawn grey, distinct from the smallest rate.
_LOG_CMAP = colormaps["viridis"].with_extremes(bad="0.88")

#: Figure key (the PNG is ``<key>.png``) -> (title, caption, how to read it);
#: ``{unit}`` is the comparison's time unit. The order is the report's.
_FIGURES = {
    "free_energy": (
        "Free energy along the CV",
        "Free energy -ln p (kT, minimum 0) of each state along the CV, from the MD data, "
        "the LSTM-generated chains and chains simulated from the MD MSM. Shaded bands, "
        "where present, are plus or minus one standard error.",
        "The three curves should lie on top of each other within their bands. Minima are "
        "the metastable states and the barriers between them set the kinetics. A generated "
        "curve flatter than MD puts too much weight in the barriers (often an undertrained "
        "model); a missing point is a state that source never visited."),
    "free_energy_map": (
        "Free energy over the first two CVs",
        "Every state at its centre in the plane of the first two CVs, coloured by its free "
        "energy -ln p (kT, minimum 0), from the MD data, the LSTM-generated chains and chains "
        "simulated from the MD MSM, on one colour scale; the edge colour marks the metastable "
        "set of a state, an open grey circle a state that source never visited.",
        "The three panels should look alike: the same basins dark, the same barrier states "
        "light. A basin lighter in the LSTM panel than in MD is under-populated by the model."),
    "timeseries": (
        "Time-series excerpts",
        "The same time window at the start of the first MD trajectory, LSTM chain and MSM "
        "chain, each state drawn at its representative CV value (states on several CVs: "
        "one panel per CV column, each state at its centre); shared axes.",
        "Compare the kind of dynamics, not the path: dwell times in each basin, how often "
        "the chain jumps, which states follow each other. A generated chain that dwells "
        "much longer or shorter than MD, or jumps between states that MD never connects "
        "directly, has the wrong kinetics."),
    "timescales": (
        "Implied timescales",
        "Implied timescales -lag/ln(eigenvalue) ({unit}, log scale) of MSMs estimated at "
        "each lag time on the MD data and on the LSTM chains. Grey: timescales shorter "
        "than the lag time, which an MSM at that lag cannot resolve; dotted line: the MSM "
        "lag of the comparison.",
        "Timescales that level off as the lag grows mean an MSM is Markovian at that lag; "
        "choose the lag where the MD curves become flat. The LSTM curves should follow the "
        "MD curves: a lower slowest timescale means generated transitions between "
        "metastable states are too fast, a higher one too slow. Curves inside the grey "
        "area carry no information."),
    "ck_test": (
        "Chapman-Kolmogorov test",
        "Probability to be in set j (column) a lag time after starting in set i (row). "
        "Markers: estimated from the trajectories at that lag; lines: predicted by "
        "propagating the MSM of the same source at its own lag.",
        "Markers should fall on the line of their colour; a systematic deviation means "
        "that source's MSM is not Markovian at its lag. Diagonal panels decay as the "
        "system leaves a set, off-diagonal panels rise towards the equilibrium "
        "population. MD and LSTM markers should agree with each other: that compares the "
        "generated kinetics with MD without any Markov assumption."),
    "transition_rates": (
        "Transitions between states",
        "Observed transitions from state i (row) to state j (column) per {unit}, counted "
        "between consecutive steps, on one logarithmic colour scale for MD, LSTM and MSM. "
        "Grey cells were never observed (the diagonal is not counted).",
        "The pattern of coloured cells is the kinetic graph: which states exchange "
        "directly. The LSTM panel should show MD's pattern and colours; extra cells far "
        "from the diagonal are jumps MD never makes, missing cells are paths the model "
        "lost. The MSM panel shows what a memoryless model at the MSM lag makes of the "
        "same data (with a lag above one step it misses fast recrossings)."),
    "embedding": (
        "State embeddings and kinetic connectivity",
        "Left: cosine similarity of the learned embedding vectors of the states. Right: "
        "equilibrium flux pi_i P_ij of the MD MSM between different states, per MSM lag "
        "(log scale; grey: no flux, and the diagonal, which is not shown).",
        "Tsai, Kuo and Tiwary observed that states exchanging often (large flux) end up "
        "with similar embeddings. Blocks of high similarity that coincide with blocks of "
        "high flux mean the model has encoded which states are kinetically close, beyond "
        "being neighbours along the CV. Embeddings are defined only up to a rotation: "
        "compare patterns, not values."),
    "training": (
        "Training",
        "Left: cross-entropy of the next state (nats per character) on the training windows "
        "and on the held-out block of the data, per optimizer update, one colour per "
        "model. Right: how far the chains generated at each candidate checkpoint are from "
        "the data (total variation of the state populations, and relative error of the "
        "one-step transition frequencies); the filled marker is the checkpoint kept. "
        "Third panel, for calibrated models: the same two errors of the calibration's "
        "chains, before the calibration, after each round, and with the bias kept.",
        "The losses should fall and level off. A held-out loss that rises while the "
        "training loss keeps falling is overfitting; a held-out loss far above the "
        "training loss means the held-out block differs from the training data (a state "
        "visited only there, or a drift). On the right, errors of a few hundredths are "
        "the noise of the chains; a model whose errors stay well above the others' has "
        "learned other dynamics. The calibration should bring the transition error down to "
        "the noise of its chains within a few rounds."),
}

_CSS = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       background: #fff; margin: 0; }
main { max-width: 1000px; margin: 0 auto; padding: 1.5em; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
.settings { color: #555; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0; }
img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 0.92em; color: #444; margin-top: 0.4em; }
.how { background: #f6f8fa; border-left: 4px solid #8aa; padding: 0.5em 0.9em; }
code { font-size: 0.92em; }
footer { margin-top: 2em; color: #666; font-size: 0.9em; }
"""


def write_report(directory, comparison, history=None, cv=None, title="mdlstm report",
                 overwrite=False, embedding=None, state_centers=None, column_labels=None):
    """Write figures, ``report.md``, ``report.html`` and ``results.json``.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory to create.
    comparison : mdlstm.validate.Comparison
        MD vs LSTM vs MSM, as returned by :func:`mdlstm.validate.compare`;
        its standard errors are drawn as bands.
    history : dict or list of dict, optional
        Training history (:attr:`mdlstm.LSTMEstimator.history`), or one per
        model.
    cv : dict, optional
        CV description (``CollectiveVariable.describe()``) for axis labels.
    title : str
        Heading of the report.
    overwrite : bool
        Write into an existing directory, replacing a previous report's files
        (figures this report does not have are removed; other files are
        kept); otherwise :class:`FileExistsError`.
    embedding : array_like of float, shape (n_states, dim), optional
        Learned state embeddings (``LSTMModel.embedding``); adds the
        embedding-similarity figure.
    state_centers : array_like of float, shape (n_states, n_columns), optional
        States defined on several CVs: each state's centre
        (``Discretizer.centers_``); adds the free-energy map over the first
        two columns.
    column_labels : list of str, optional
        Axis label of each column of `state_centers` (default ``"CV 0"``,
        ``"CV 1"``, ...).

    Returns
    -------
    dict of pathlib.Path
        Paths of the written files: one per figure, keyed by its name
        (``"free_energy"``, ``"timeseries"``, ``"timescales"``,
        ``"ck_test"``, ``"transition_rates"``, ``"embedding"``,
        ``"training"``; see the module documentation for when each is
        drawn), then ``"json"``, ``"markdown"`` and ``"html"``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments, before anything is written.
    FileExistsError
        If `directory` exists and `overwrite` is False.
    """
    _check_arguments(comparison, history, cv, title, embedding)
    columns = _check_centers(comparison, state_centers, column_labels)
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} exists; choose a new directory or pass "
                              "overwrite=True")
    directory.mkdir(parents=True, exist_ok=True)
    cv = cv or {}
    similarity = None if embedding is None else _embedding_numbers(comparison, embedding)
    figures = {key: _save(draw(), directory / f"{key}.png") for key, draw in
               _figure_makers(comparison, history, cv, similarity, columns).items()}
    for key in _FIGURES.keys() - figures.keys():
        # A previous report's figure that this report lacks would mislead.
        (directory / f"{key}.png").unlink(missing_ok=True)
    results = _results(comparison, history, cv, title, similarity, figures)
    paths = dict(figures)
    paths["json"] = _write(directory / "results.json",
                           json.dumps(results, indent=1, allow_nan=False))
    paths["markdown"] = _write(directory / "report.md",
                               _markdown(title, comparison, history, cv, figures, columns))
    paths["html"] = _write(directory / "report.html",
                           _html(title, comparison, history, cv, figures, columns))
    return paths


# -- arguments and output -------------------------------------------------------


def _check_arguments(comparison, history, cv, title, embedding):
    if not isinstance(comparison, Comparison):
        raise TypeError("comparison must be an mdlstm.validate.Comparison (from "
                        f"compare()), got {type(comparison).__name__}")
    if history is not None and not all(
            isinstance(h, dict) and {"epoch", "train_loss", "val_loss"} <= h.keys()
            for h in _histories(history)) or history == []:
        raise ValueError("history must be a dict with 'epoch', 'train_loss' and 'val_loss' "
                         "(LSTMEstimator.history), a non-empty list of them, or None")
    if cv is not None and not isinstance(cv, dict):
        raise TypeError(f"cv must be a dict (CollectiveVariable.describe()) or None, "
                        f"got {type(cv).__name__}")
    if not isinstance(title, str):
        raise TypeError(f"title must be a string, got {type(title).__name__}")
    if embedding is not None:
        shape = np.shape(embedding)
        if len(shape) != 2 or shape[0] != comparison.n_states or shape[1] < 1 or \
                not np.all(np.isfinite(np.asarray(embedding, dtype=float))):
            raise ValueError(f"embedding must be a finite array of shape (n_states="
                             f"{comparison.n_states}, dim), got shape {shape}")


def _save(fig, path):
    fig.savefig(path, dpi=120)
    return path


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _results(cmp, history, cv, title, similarity, figures):
    """Every number of the report, JSON-ready (inf -> None)."""
    numbers = {"title": title, "comparison": cmp.to_dict(), "cv": cv, "history": history,
               "figures": {key: path.name for key, path in figures.items()}}
    if similarity is not None:
        numbers["embedding"] = similarity
    return _jsonable(numbers)


# -- numbers behind the figures ------------------------------------------------


def _standard_error(cmp, quantity, source):
    """Standard error of ``cmp.<quantity>[source]``, None for a source without one."""
    se = cmp.errors[quantity].get(source)
    return None if se is None else np.asarray(se, dtype=float)


def _step_time(cmp, source):
    """Physical time of one step of `source`'s trajectories (MSM: one lag)."""
    return cmp.dt * (cmp.msm_lag if source == "MSM" else 1)


def _embedding_numbers(cmp, embedding):
    """Cosine similarity of the embeddings and the MD MSM's flux between states."""
    return {"cosine_similarity": embedding_similarity(embedding)["cosine"],
            "msm_flux": msm_flux(cmp.msm["MD"], cmp.n_states)}


def _log_norm(values):
    """A logarithmic colour scale over the positive `values`."""
    positive = values[values > 0]
    if positive.size == 0:
        return LogNorm(1e-3, 1.0)
    low, high = positive.min(), positive.max()
    return LogNorm(low, high) if high > low else LogNorm(low / 2, high * 2)


# -- figures (one function each) -------------------------------------------------


def _check_centers(cmp, centers, labels):
    """(centres, labels) of states on several CVs, or None."""
    if centers is None:
        return None
    centers = np.asarray(centers, dtype=float)
    if centers.ndim != 2 or centers.shape[0] != cmp.n_states or centers.shape[1] < 2:
        raise ValueError(f"state_centers must have shape (n_states={cmp.n_states}, "
                         f"n_columns >= 2), got {centers.shape}")
    labels = [f"CV {j}" for j in range(centers.shape[1])] if labels is None else list(labels)
    if len(labels) != centers.shape[1]:
        raise ValueError(f"column_labels must name the {centers.shape[1]} columns of "
                         f"state_centers, got {len(labels)}")
    return centers, labels


def _figure_makers(cmp, history, cv, similarity, columns=None):
    """Drawing function of each figure this report has, in report order."""
    makers = {"free_energy": lambda: _free_energy_figure(cmp, cv),
              "free_energy_map": lambda: free_energy_map(cmp, *columns),
              "timeseries": lambda: _timeseries_figure(cmp, cv, columns),
              "timescales": lambda: _timescales_figure(cmp),
              "ck_test": lambda: _ck_figure(cmp),
              "transition_rates": lambda: _transition_rates_figure(cmp),
              "embedding": lambda: _embedding_figure(similarity),
              "training": lambda: _training_figure(history)}
    present = {"embedding": similarity is not None, "training": bool(history),
               "free_energy_map": columns is not None}
    return {key: draw for key, draw in makers.items() if present.get(key, True)}


def _style(source):
    """Colour, marker and line style of a source's curves."""
    return {"color": _COLOURS.get(source), "marker": _MARKERS.get(source, "o"),
            "ls": _LINES.get(source, "-")}


def _integer_ticks(ax):
    """State indices on both axes of a heatmap."""
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True))


def _axis_label(cmp, cv):
    """The CV's name and units, or "state" when states have no CV values."""
    if cmp.state_values is None:
        return "state"
    name = cv.get("name") or "CV"
    return f"{name} ({cv['units']})" if cv.get("units") else name


def _free_energy_figure(cmp, cv):
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    x = cmp.state_values if cmp.state_values is not None else np.arange(cmp.n_states)
    for src in cmp.sources:
        energy = np.asarray(cmp.free_energy[src], dtype=float)
        seen = np.isfinite(energy)
        ax.plot(x[seen], energy[seen], **_style(src), label=src, ms=4, lw=1.5)
        se = _standard_error(cmp, "free_energy", src)
        if se is not None:
            band = seen & np.isfinite(se)
            ax.fill_between(x[band], energy[band] - se[band], energy[band] + se[band],
                            color=_COLOURS.get(src), alpha=0.2, lw=0)
    # Bands of rarely visited states can be huge: scale the axis to the curves.
    top = max(np.max(e[np.isfinite(e)]) for e in cmp.free_energy.values())
    ax.set_ylim(-0.1 * top - 0.3, 1.1 * top + 0.3)
    ax.set_xlabel(_axis_label(cmp, cv))
    ax.set_ylabel("free energy (kT)")
    ax.set_title("Free energy along the CV")
    ax.legend()
    return fig


def _timeseries_window(cmp, max_steps=10_000):
    """Time shown: about five of the longest MD passage times between metastable
    sets (so that switches are seen), 100 to `max_steps` steps, no longer than
    the shortest first chain of any source."""
    mfpt = np.asarray(cmp.mfpt["MD"], dtype=float)
    slowest = float(np.max(mfpt[np.isfinite(mfpt)], initial=0.0))
    wanted = np.clip(5 * slowest, 100 * cmp.dt, max_steps * cmp.dt)
    available = min((len(cmp.trajectories[src][0]) - 1) * _step_time(cmp, src)
                    for src in cmp.sources)
    return max(min(wanted, available), cmp.dt)


def _timeseries_figure(cmp, cv, columns=None):
    """Excerpts, one row per source; with states on several CVs one panel per column."""
    window = _timeseries_window(cmp)
    if columns is None:
        values_of = [cmp.state_values]
        labels = [_axis_label(cmp, cv)]
    else:
        values_of = list(columns[0].T)
        labels = columns[1]
    fig = Figure(figsize=(8 if columns is None else 4.2 * len(labels),
                          1.4 * len(cmp.sources) + 0.8), layout="constrained")
    axes = fig.subplots(len(cmp.sources), len(labels), sharex=True, sharey="col",
                        squeeze=False)
    for row, src in zip(axes, cmp.sources):
        step = _step_time(cmp, src)
        states = np.asarray(cmp.trajectories[src][0][:int(round(window / step)) + 1])
        for ax, values in zip(row, values_of):
            ax.step(np.arange(states.size) * step, states if values is None else
                    values[states], where="post", lw=0.7, color=_COLOURS.get(src))
        row[-1].text(1.01, 0.5, src, transform=row[-1].transAxes, rotation=90,
                     va="center", fontweight="bold")
    for j, label in enumerate(labels):
        axes[-1][j].set_xlim(0, window)
        axes[-1][j].set_xlabel(f"time ({cmp.time_unit})")
        if columns is not None:
            axes[0][j].set_title(label)
    if columns is None:
        fig.supylabel(labels[0])
    return fig


def _timescales_figure(cmp):
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    lags = np.asarray(cmp.lagtimes) * cmp.dt
    drawn = [lags]
    for src, scales in cmp.timescales.items():
        scales = np.asarray(scales, dtype=float)
        se = _standard_error(cmp, "timescales", src)
        for k in range(scales.shape[1]):
            # 0 marks a process the connected set is too small to have.
            ok = scales[:, k] > 0
            ax.plot(lags[ok], scales[ok, k], **_style(src), ms=4,
                    label=src if k == 0 else None)
            if se is not None:
                band = ok & np.isfinite(se[:, k])
                ax.fill_between(lags[band], np.maximum(scales - se, scales / 10)[band, k],
                                (scales + se)[band, k], color=_COLOURS.get(src), alpha=0.15,
                                lw=0)
            drawn.append(scales[ok, k])
    every = np.concatenate(drawn)
    low, high = every.min() / 2, every.max() * 2
    # The lag = timescale line is curved on a log axis: fill on a fine grid.
    grid = np.linspace(0, lags.max() * 1.05, 300)
    ax.fill_between(grid, low, np.maximum(grid, low), color="0.85", lw=0, zorder=0,
                    label="timescale < lag")
    ax.axvline(cmp.msm_lag * cmp.dt, color="0.4", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlim(0, grid[-1])
    ax.set_ylim(low, high)
    ax.set_xlabel(f"lag time ({cmp.time_unit})")
    ax.set_ylabel(f"implied timescale ({cmp.time_unit})")
    ax.set_title("Implied timescales")
    ax.legend()
    return fig


def _ck_figure(cmp):
    tests = cmp.ck
    n_sets = np.shape(next(iter(tests.values()))["predictions"])[1]
    fig = Figure(figsize=(2.2 * n_sets + 1.0, 2.0 * n_sets + 1.0), layout="constrained")
    axes = fig.subplots(n_sets, n_sets, sharex=True, sharey=True, squeeze=False)
    for src, test in tests.items():
        lags = np.asarray(test["lagtimes"]) * cmp.dt
        predicted, estimated = np.asarray(test["predictions"]), np.asarray(test["estimates"])
        for (a, b), ax in np.ndenumerate(axes):
            ax.plot(lags, predicted[:, a, b], ls=_LINES.get(src, "-"),
                    color=_COLOURS.get(src), lw=1.3, label=f"{src}: MSM prediction")
            ax.plot(lags, estimated[:, a, b], "o", mfc="none", color=_COLOURS.get(src),
                    ms=5, label=f"{src}: estimate")
    for (a, b), ax in np.ndenumerate(axes):
        ax.set_title(f"S{a} \u2192 S{b}", fontsize=10)
    for ax in axes[-1]:
        ax.set_xlabel(f"lag time ({cmp.time_unit})")
    for ax in axes[:, 0]:
        ax.set_ylabel("probability")
    axes[0, 0].set_ylim(-0.05, 1.05)
    # One column per source: prediction above estimate.
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside upper center",
               ncol=len(tests), fontsize=9)
    return fig


def _transition_rates_figure(cmp):
    rates = {src: np.asarray(cmp.transition_rates[src], dtype=float) for src in cmp.sources}
    norm = _log_norm(np.concatenate([r.ravel() for r in rates.values()]))
    fig = Figure(figsize=(3.6 * len(rates) + 1.2, 3.9), layout="constrained")
    axes = fig.subplots(1, len(rates), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (src, rate) in zip(axes, rates.items()):
        image = ax.imshow(np.ma.masked_less_equal(rate, 0), cmap=_LOG_CMAP, norm=norm,
                          interpolation="nearest")
        ax.set_title(src)
        ax.set_xlabel("to state")
        _integer_ticks(ax)
    axes[0].set_ylabel("from state")
    fig.colorbar(image, ax=axes, label=f"transitions per {cmp.time_unit}")
    return fig


def _embedding_figure(similarity):
    fig = Figure(figsize=(9.6, 4.2), layout="constrained")
    left, right = fig.subplots(1, 2)
    image = left.imshow(similarity["cosine_similarity"], cmap="RdBu_r", vmin=-1, vmax=1,
                        interpolation="nearest")
    fig.colorbar(image, ax=left, label="cosine similarity of embeddings")
    left.set_title("LSTM state embeddings")
    flux = similarity["msm_flux"]
    image = right.imshow(np.ma.masked_less_equal(flux, 0), cmap=_LOG_CMAP,
                         norm=_log_norm(flux), interpolation="nearest")
    fig.colorbar(image, ax=right, label="flux $\\pi_i P_{ij}$ per MSM lag")
    right.set_title("MD MSM flux between states")
    for ax in (left, right):
        ax.set_xlabel("state j")
        _integer_ticks(ax)
    left.set_ylabel("state i")
    return fig


def _histories(history):
    """`history` as a list of per-model histories."""
    return history if isinstance(history, list) else [history]


def _training_figure(history):
    calibrated = any("calibration" in h for h in _histories(history))
    fig = Figure(figsize=(14.4 if calibrated else 9.6, 3.8), layout="constrained")
    losses, errors, *rounds = fig.subplots(1, 3 if calibrated else 2)
    for k, h in enumerate(_histories(history)):
        colour = f"C{k}"
        x = h.get("update", h["epoch"])
        losses.plot(x, h["train_loss"], "o-", color=colour, ms=3, label=f"model {k}, training")
        if any(v is not None for v in h["val_loss"]):
            held_out = [np.nan if v is None else v for v in h["val_loss"]]
            losses.plot(x, held_out, "s--", color=colour, ms=3, label=f"model {k}, held out")
        rows = [i for i, c in enumerate(h.get("candidate", [])) if c]
        kept = [i for i in rows if h.get("kept", [False] * len(x))[i]]
        for key, marker in (("population_error", "o"), ("transition_error", "^")):
            if rows and h[key][rows[0]] is not None:
                errors.plot([x[i] for i in rows], [h[key][i] for i in rows], marker + "-",
                            color=colour, mfc="none",
                            label=f"model {k}, {key.replace('_', ' ')}")
                errors.plot([x[i] for i in kept], [h[key][i] for i in kept], marker,
                            color=colour)
    losses.set_xlabel("optimizer update" if "update" in _histories(history)[0] else "epoch")
    losses.set_ylabel("cross-entropy (nats/character)")
    losses.set_title("Losses")
    losses.legend(fontsize="x-small")
    errors.set_xlabel("optimizer update")
    errors.set_ylabel("generated vs data")
    errors.set_title("Candidates: generated chains")
    if errors.lines:
        errors.legend(fontsize="x-small")
    if rounds:
        _calibration_panel(rounds[0], _histories(history))
    return fig


def _calibration_panel(ax, histories):
    """The calibration's chains against the data, round by round, per model."""
    for k, h in enumerate(histories):
        for key, marker in (("population_error", "o"), ("transition_error", "^")):
            values = h.get("calibration", {}).get(key)
            if values:
                ax.plot(np.arange(len(values)), values, marker + "-", color=f"C{k}",
                        mfc="none", label=f"model {k}, {key.replace('_', ' ')}")
    ax.set_xlabel("calibration round (0: before; last: the bias kept)")
    ax.set_ylabel("generated vs data")
    ax.set_title("Calibration of one-step moves")
    ax.legend(fontsize="x-small")


# -- text: Markdown and HTML -------------------------------------------------------


def _figure_text(key, cmp):
    """Title, caption and how-to-read paragraph of a figure."""
    return tuple(text.format(unit=cmp.time_unit) for text in _FIGURES[key])


def _settings_line(cmp, cv, quote, columns=None):
    """One paragraph: CV, time step, states, MSM lag and metastable sets.

    With states on several CVs (`columns`: centres and labels) each set is also
    located by the centre of its most populated MD state.
    """
    line = ""
    if cv:
        line = (f"CV: {cv.get('type', '')} {quote}{cv.get('name', '')}{quote} "
                f"({cv.get('units', '')}); ")
    where = [""] * len(cmp.metastable_sets or [])
    if columns is not None:
        where = [f" (most populated at {text})" for text in set_locations(cmp, *columns)]
    sets = "; ".join(f"{label}: states {_format_states(states)}{at}" for label, states, at
                     in zip(cmp.set_names(), cmp.metastable_sets, where))
    return (f"{line}one model step = {cmp.dt:g} {cmp.time_unit}. {cmp.n_states} states; "
            f"MSM lag = {cmp.msm_lag} steps ({cmp.msm_lag * cmp.dt:g} {cmp.time_unit}); "
            f"metastable sets {sets}.")


def held_out_line(cmp, history):
    """The held-out cross-entropies as a sentence, or None.

    With ``cmp.cross_entropy`` the LSTM and the order-k Markov models are
    given on the same held-out characters; otherwise the best validation loss
    of the training history.
    """
    table = cmp.cross_entropy
    if table:
        parts = ", ".join(f"{name} {value:.4f}" for name, value in table.items()
                          if value is not None)
        return (f"Held-out cross-entropy, nats per character on the same characters "
                f"(lower is better): {parts}.")
    first = _histories(history)[0] if history else {}
    losses = [np.nan if v is None else v for v in first.get("val_loss", [])]
    if not np.isfinite(losses).any():
        return None
    best = int(np.nanargmin(losses))
    return (f"Held-out cross-entropy: {losses[best]:.5f} nats per character "
            f"(epoch {first['epoch'][best]}).")


def _markdown(title, cmp, history, cv, figures, columns=None):
    lines = [f"# {title}", "", _settings_line(cmp, cv, "`", columns), "",
             "## MD vs LSTM vs MSM", "", "```", cmp.format_summary(), "```", ""]
    if held_out_line(cmp, history):
        lines += [held_out_line(cmp, history), ""]
    lines += ["## Figures", ""]
    for key, path in figures.items():
        heading, caption, how = _figure_text(key, cmp)
        lines += [f"### {heading}", "", f"![{key}]({path.name})", "", caption, "",
                  f"*How to read this.* {how}", ""]
    lines += ["Every number is in `results.json`.", ""]
    return "\n".join(lines)


def _number(value, digits=4):
    """A table number: 4 significant digits; inf -> "∞", missing -> "–"."""
    if value is None or np.isnan(value):
        return "\u2013"
    return f"{value:.{digits}g}" if np.isfinite(value) else "\u221e"


def _value_cell(row, source):
    """``value`` or ``value ± se`` when the row has the source's standard error."""
    text = _number(row[source])
    se = row.get(f"{source}_se")
    if se is not None and np.isfinite(se) and np.isfinite(row[source]):
        text += f" \u00b1 {_number(se, 2)}"
    return text


def _html_table(rows, sources):
    verdicts = any("verdict" in row for row in rows)
    head = ["quantity", "unit", *sources] + (["verdict"] if verdicts else [])
    lines = ['<table class="summary">', "<thead><tr>"
             + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = [f"<td>{escape(row['quantity'])}</td>", f"<td>{escape(row['unit'])}</td>"]
        cells += [f'<td class="num">{escape(_value_cell(row, s))}</td>' for s in sources]
        if verdicts:
            cells.append(f"<td>{escape(str(row.get('verdict', '')))}</td>")
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return "\n".join(lines + ["</tbody>", "</table>"])


def _html_figure(key, path, cmp):
    heading, caption, how = _figure_text(key, cmp)
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<section id="{key}">\n<h3>{escape(heading)}</h3>\n<figure>\n'
            f'<img src="data:image/png;base64,{data}" alt="{escape(heading)}">\n'
            f"<figcaption>{escape(caption)}</figcaption>\n</figure>\n"
            f'<p class="how"><strong>How to read this.</strong> {escape(how)}</p>\n'
            "</section>")


def _html(title, cmp, history, cv, figures, columns=None):
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="settings">{escape(_settings_line(cmp, cv, "", columns))}</p>',
            "<h2>MD vs LSTM vs MSM</h2>", _html_table(cmp.summary(), cmp.sources)]
    body += [f"<p>{escape(line)}</p>" for line in cmp.notes()]
    if held_out_line(cmp, history):
        body.append(f"<p>{escape(held_out_line(cmp, history))}</p>")
    body.append("<h2>Figures</h2>")
    body += [_html_figure(key, path, cmp) for key, path in figures.items()]
    body.append("<footer>Every number shown here is in <code>results.json</code>.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            "<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n")
