"""Figures and a written report of a comparison: :func:`write_report`.

A report directory holds

- ``free_energy.png``: free energy along the CV (kT) from the MD data, the
  LSTM-generated data and an MSM-simulated trajectory;
- ``timeseries.png``: excerpts of the MD and generated state sequences on the
  same time axis;
- ``training.png``: training and held-out loss per epoch (nats per character);
- ``report.md``: the comparison table in physical units and the settings;
- ``results.json``: every number of the comparison.

Figures are drawn with matplotlib's object-oriented API (no pyplot, no GUI
backend), so reports can be written on headless cluster nodes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

__all__ = ["write_report"]

_COLOURS = {"MD": "black", "LSTM": "tab:red", "MSM": "tab:blue"}


def write_report(directory, comparison, history=None, cv=None, title="mdlstm report",
                 overwrite=False):
    """Write figures, ``report.md`` and ``results.json`` for a comparison.

    Parameters
    ----------
    directory : str or os.PathLike
        Directory to create.
    comparison : mdlstm.validate.Comparison
        MD vs LSTM vs MSM, as returned by :func:`mdlstm.validate.compare`.
    history : dict, optional
        Training history (``epoch``, ``train_loss``, ``val_loss``).
    cv : dict, optional
        CV description (``CollectiveVariable.describe()``) for axis labels.
    title : str
        Heading of the report.
    overwrite : bool
        Write into an existing directory, replacing a previous report's files;
        otherwise :class:`FileExistsError`.

    Returns
    -------
    dict
        Paths of the written files, keyed by ``"free_energy"``,
        ``"timeseries"``, ``"training"`` (when ``history`` is given),
        ``"markdown"`` and ``"json"``.
    """
    directory = Path(directory)
    if directory.exists() and not overwrite:
        raise FileExistsError(f"{directory} exists; choose a new directory or pass "
                              "overwrite=True")
    directory.mkdir(parents=True, exist_ok=True)
    cv = cv or {}
    paths = {"free_energy": _save(_free_energy_figure(comparison, cv),
                                  directory / "free_energy.png"),
             "timeseries": _save(_timeseries_figure(comparison),
                                 directory / "timeseries.png")}
    if history:
        paths["training"] = _save(_training_figure(history), directory / "training.png")
    numbers = {"comparison": comparison.to_dict(), "cv": cv, "history": history}
    paths["json"] = directory / "results.json"
    paths["json"].write_text(json.dumps(numbers, indent=1, allow_nan=False))
    paths["markdown"] = directory / "report.md"
    paths["markdown"].write_text(_markdown(title, comparison, history, cv, paths))
    return paths


def _save(fig, path):
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _cv_label(cv):
    name = cv.get("name", "CV")
    return f"{name} ({cv['units']})" if cv.get("units") else name


def _free_energy_figure(cmp, cv):
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    x = cmp.state_values if cmp.state_values is not None else np.arange(cmp.n_states)
    for src in cmp.sources:
        f = np.asarray(cmp.free_energy[src], dtype=float)
        seen = np.isfinite(f)
        ax.plot(x[seen], f[seen], "o-" if src == "MD" else "s--", color=_COLOURS.get(src),
                label=src, ms=4, lw=1.5)
    ax.set_xlabel(_cv_label(cv) if cmp.state_values is not None else "state")
    ax.set_ylabel("free energy (kT)")
    ax.legend()
    ax.set_title("Free energy along the CV")
    return fig


def _timeseries_figure(cmp, n_show=2000):
    fig = Figure(figsize=(8, 1.6 * len(cmp.sources)))
    axes = np.atleast_1d(fig.subplots(len(cmp.sources), 1, sharex=True, sharey=True))
    for ax, src in zip(axes, cmp.sources):
        # the MSM's simulated chain has one state per msm_lag steps
        step = cmp.dt * (cmp.msm_lag if src == "MSM" else 1)
        traj = np.asarray(cmp.trajectories[src][0][:int(n_show * cmp.dt / step)])
        ax.step(np.arange(traj.size) * step, traj, where="post", lw=0.7,
                color=_COLOURS.get(src))
        ax.set_ylabel(f"{src}\nstate")
    axes[-1].set_xlabel(f"time ({cmp.time_unit})")
    return fig


def _training_figure(history):
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    ax.plot(history["epoch"], history["train_loss"], "o-", label="training")
    if any(v is not None for v in history["val_loss"]):
        ax.plot(history["epoch"], history["val_loss"], "s-", label="held out")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (nats/character)")
    ax.legend()
    return fig


def _markdown(title, cmp, history, cv, paths):
    lines = [f"# {title}", ""]
    if cv:
        lines += [f"CV: {cv.get('type', '')} `{cv.get('name', '')}` ({cv.get('units', '')}); "
                  f"one model step = {cmp.dt:g} {cmp.time_unit}.", ""]
    lines += ["## MD vs LSTM vs MSM", "", "```", cmp.format_summary(), "```", ""]
    if history:
        best = int(np.nanargmin([v if v is not None else np.nan for v in history["val_loss"]])
                   ) if any(v is not None for v in history["val_loss"]) else None
        if best is not None:
            lines += [f"Held-out cross-entropy: {history['val_loss'][best]:.5f} nats per "
                      f"character (epoch {history['epoch'][best]}).", ""]
    lines += ["## Figures", ""]
    lines += [f"![{key}]({Path(p).name})" for key, p in paths.items()
              if str(p).endswith(".png")]
    lines += ["", "Every number is in `results.json`.", ""]
    return "\n".join(lines)
