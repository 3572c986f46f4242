"""The result of :func:`~mdlstm.validate.compare`: MD, LSTM and MSM side by side."""

import dataclasses

import numpy as np

from .._format import _format_states, _jsonable
from ._msm import _slowest_timescale


#: Verdicts of :meth:`Comparison.summary`, per kind of row: LSTM passes when
#: ``|LSTM - MD| <= max(absolute, relative * |MD|, n_se * combined SE)``,
#: where the combined SE is ``sqrt(SE_MD**2 + SE_LSTM**2)`` (ignored when
#: infinite). A value that is infinite (no event seen) is a warning.
TOLERANCES = {
    "population": {"absolute": 0.02, "relative": 0.0, "n_se": 2.0},
    "mfpt": {"absolute": 0.0, "relative": 0.2, "n_se": 2.0},
    "timescale": {"absolute": 0.0, "relative": 0.2, "n_se": 2.0},
    "rate": {"absolute": 0.0, "relative": 0.2, "n_se": 2.0},
}


#: Population (fraction) that stands in for an empty state of the compared
#: source in KL(MD || source), so that a state MD visits and the source never
#: does costs ``p ln(p / 1e-10)`` (about ``23 p`` nats) instead of infinity.
DIVERGENCE_FLOOR = 1e-10


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class Comparison:
    """Statistics of MD, LSTM and MSM trajectories, side by side.

    Built by :func:`compare`. Dictionaries are keyed by source name
    (``"MD"``, ``"LSTM"``, ``"MSM"``); times are in :attr:`time_unit`.

    Attributes
    ----------
    sources : tuple of str
        Sources present, in the order ``"MD"``, ``"LSTM"`` [, ``"MSM"``].
    n_states : int
        Number of states.
    dt : float
        Physical time of one step of the MD and LSTM sequences.
    time_unit : str
        Unit of every time (``dt``, MFPTs, timescales).
    msm_lag : int
        Lag time (steps) of the MSMs in :attr:`msm`.
    lagtimes : ndarray of int, shape (n_lagtimes,)
        Lag times (steps) of the rows of :attr:`timescales`.
    state_values : ndarray, shape (n_states,), or None
        CV value of each state, for plotting along the CV.
    populations : dict of ndarray, shape (n_states,)
        Fraction of steps spent in each state.
    free_energy : dict of ndarray, shape (n_states,)
        ``-ln(population)`` in kT, shifted so that its minimum is 0; ``inf``
        for states never visited.
    stationary : dict of ndarray, shape (n_states,)
        ``"MD"`` and ``"LSTM"``: stationary distribution of the MSM estimated
        on that source; 0 outside its connected set.
    transition_counts : dict of ndarray of int, shape (n_states, n_states)
        Number of changes ``i -> j`` (``i != j``) between consecutive steps,
        summed over trajectories.
    total_time : dict of float
        Simulated time summed over trajectories, ``(length - 1) * step``.
    transition_rates : dict of ndarray, shape (n_states, n_states)
        ``transition_counts / total_time``, in 1/:attr:`time_unit`.
    metastable_sets : list of ndarray of int
        State sets between which MFPTs are measured.
    set_populations : dict of ndarray, shape (n_sets,)
        Fraction of steps spent in each metastable set.
    mfpt : dict of ndarray, shape (n_sets, n_sets)
        Measured MFPT from set ``a`` (row) to set ``b`` (column): time from the
        first step in ``a`` after the last visit to ``b`` (or the first step in
        ``a`` of a trajectory) to the next step in ``b``, averaged over such
        events; ``inf`` where no event was seen; 0 on the diagonal.
    mfpt_events : dict of ndarray of int, shape (n_sets, n_sets)
        Number of events averaged in :attr:`mfpt`.
    mfpt_msm : dict of ndarray, shape (n_sets, n_sets)
        ``"MD"`` and ``"LSTM"``: MFPTs predicted by the MSM of that source,
        starting from the stationary distribution restricted to set ``a``, for
        the states of each set in the MSM's connected set (``inf`` if a set has
        none there).
    timescales : dict of ndarray, shape (n_lagtimes, 5)
        ``"MD"`` and ``"LSTM"``: implied timescales, slowest first, of MSMs at
        each of :attr:`lagtimes`; the number of columns is
        ``min(n_states - 1, 5)``, and processes a connected set is too small
        to have are 0.
    msm : dict of deeptime.markov.msm.MarkovStateModel
        ``"MD"`` and ``"LSTM"``: the MSMs at lag :attr:`msm_lag`.
    trajectories : dict of list of ndarray
        The state sequences compared, one list of trajectories per source
        (``"MSM"``: the simulated ones, one state every ``msm_lag`` steps).
    errors : dict of dict
        Standard errors (module docstring, "Uncertainties"), keyed by
        quantity, then source, each of the quantity's shape and unit:
        ``"populations"``, ``"set_populations"``, ``"transition_rates"``,
        ``"mfpt"`` (0 on the diagonal) and ``"free_energy"`` (kT,
        ``SE(p) / p``, ignoring the uncertainty of the minimum it is shifted
        by; ``inf`` for unvisited states) for every source;
        ``"transitions_per_time"`` (float) for every source; ``"timescales"``
        (n_lagtimes, 5) and ``"slowest_timescale"`` (float, at
        :attr:`msm_lag`) for ``"MD"`` and ``"LSTM"``. ``inf`` where the data
        do not constrain the quantity.
    n_blocks, n_bootstrap : int
        Blocks per trajectory and replicates of the bootstrap behind
        :attr:`errors`.
    ck : dict of dict
        ``"MD"`` and ``"LSTM"``: Chapman-Kolmogorov test of the MSM at
        :attr:`msm_lag` on :attr:`metastable_sets`. ``"lagtimes"``: (n,) int,
        steps: 0, :attr:`msm_lag`, and the :attr:`lagtimes` that are longer
        multiples of it. ``"predictions"``: (n, n_sets, n_sets), probability
        to be in set ``j`` after the lag when starting in set ``i`` from the
        stationary distribution within ``i``, predicted by powers of the
        MSM; ``"estimates"``: the same from MSMs estimated at each lag. Beyond
        lag 0 (the identity), rows of sets without a state in an MSM's
        connected set are 0.
    divergence : dict of dict
        ``"LSTM"`` and ``"MSM"``: ``{"kl": KL(MD || source), "js":
        Jensen-Shannon divergence}`` of the state populations, in nats; empty
        states of the source count as :data:`DIVERGENCE_FLOOR` in the KL.
    rate_error : dict of dict
        ``"LSTM"`` and ``"MSM"``: relative errors ``(source - MD) / MD`` per
        ordered pair of sets, shape (n_sets, n_sets): ``"rates"`` of the
        set-to-set transition rate (passage events ``a -> b`` of
        :attr:`mfpt_events` per unit time) and ``"mfpt"`` of :attr:`mfpt`;
        0 on the diagonal and ``inf`` where MD saw no event (or the source,
        for ``"mfpt"``). ``"mean_rates"`` and ``"mean_mfpt"``: mean absolute
        relative error over the ordered pairs with MD events (``inf`` if none).
    cross_entropy : dict of float, or None
        When ``compare`` got ``held_out`` and ``train``: held-out path entropy
        in nats per character, ``"LSTM"`` (the value passed in, if any) and
        ``"Markov order k"`` from :func:`markov_cross_entropy`, all over the
        characters from index :attr:`cross_entropy_skip` on.
    cross_entropy_skip : int or None
        Characters skipped at the start of each held-out trajectory: the
        largest Markov order.
    flux : ndarray, shape (n_states, n_states)
        Gross flux of the MD MSM, :func:`msm_flux`.
    unseen : dict of dict
        What a source generates that MD never showed: ``"states"``, the
        fraction of its steps in states MD never visits, and
        ``"transitions"``, its changes ``i -> j`` between states that never
        follow each other in MD, per 1e5 steps; for every source but MD.
    n_models : int
        Number of LSTM models the generated chains come from (1 when
        ``compare`` got no ``generated_models``). With several, the
        ``"LSTM"`` standard errors are the spread between the models.
    model_outliers : list of dict
        With several models: every quantity of :meth:`summary` (set
        populations and MFPTs) on which one model's chains disagree with the
        pooled chains of the other models by more than :data:`TOLERANCES`
        allows (``"model"``, ``"quantity"``, ``"value"``, ``"others"``, both
        in the unit of the quantity). Empty when the models agree.
    mfpt_steps, mfpt_msm_steps, timescales_steps : dict of ndarray
        The same times in MD steps (divided by :attr:`dt`).
    """

    n_states: object
    dt: object
    time_unit: object
    msm_lag: object
    lagtimes: object
    state_values: object
    metastable_sets: object
    populations: object
    free_energy: object
    stationary: object
    transition_counts: object
    total_time: object
    transition_rates: object
    set_populations: object
    mfpt: object
    mfpt_events: object
    mfpt_msm: object
    timescales: object
    msm: object
    trajectories: object
    errors: object
    n_blocks: object
    n_bootstrap: object
    ck: object
    divergence: object
    rate_error: object
    cross_entropy: object
    cross_entropy_skip: object
    flux: object
    unseen: object
    n_models: object
    model_outliers: object

    @property
    def sources(self):
        """Sources present, in the order ``"MD"``, ``"LSTM"`` [, ``"MSM"``]."""
        return tuple(self.populations)

    @property
    def mfpt_steps(self):
        """Measured MFPTs in MD steps."""
        return _in_steps(self.mfpt, self.dt)

    @property
    def mfpt_msm_steps(self):
        """MSM-predicted MFPTs in MD steps."""
        return _in_steps(self.mfpt_msm, self.dt)

    @property
    def timescales_steps(self):
        """Implied timescales in MD steps."""
        return _in_steps(self.timescales, self.dt)

    def set_names(self):
        """Names of the metastable sets, ``["S0", "S1", ...]``."""
        return [f"S{k}" for k in range(len(self.metastable_sets))]

    def summary(self):
        """Key numbers of every source with standard errors and a verdict.

        Returns
        -------
        list of dict
            One row per quantity: ``"quantity"``, ``"unit"``, one float per
            source name in :attr:`sources`, its standard error under
            ``"<source>_se"`` (e.g. ``"MD_se"``; ``inf`` when unconstrained)
            and ``"verdict"``: ``"pass"`` when the LSTM agrees with MD within
            :data:`TOLERANCES`, else ``"warn"``. Rows: population of each
            metastable set; measured MFPT for every ordered pair of sets; the
            slowest implied timescale at :attr:`msm_lag` (the ``"MSM"`` column
            repeats the MD MSM's, the model it was simulated from; 0 when the
            connected set is a single state); transitions per unit time.
        """
        err = self.errors
        rows = []
        for k, label in enumerate(self.set_names()):
            rows.append(self._row(f"population {label}", "fraction", "population",
                                  {s: self.set_populations[s][k] for s in self.sources},
                                  {s: err["set_populations"][s][k] for s in self.sources}))
        for a, la in enumerate(self.set_names()):
            for b, lb in enumerate(self.set_names()):
                if a != b:
                    rows.append(self._row(f"MFPT {la}->{lb}", self.time_unit, "mfpt",
                                          {s: self.mfpt[s][a, b] for s in self.sources},
                                          {s: err["mfpt"][s][a, b] for s in self.sources}))
        slowest = {s: _slowest_timescale(self.msm[s]) * self.dt for s in self.msm}
        slowest_se = dict(err["slowest_timescale"])
        if "MSM" in self.sources:
            slowest["MSM"], slowest_se["MSM"] = slowest["MD"], slowest_se["MD"]
        rows.append(self._row(f"slowest implied timescale (lag {self.msm_lag})",
                              self.time_unit, "timescale", slowest, slowest_se))
        rows.append(self._row("transitions per time", f"1/{self.time_unit}", "rate",
                              {s: self.transition_counts[s].sum() / self.total_time[s]
                               for s in self.sources}, err["transitions_per_time"]))
        return rows

    def _row(self, quantity, unit, kind, values, errors):
        row = {"quantity": quantity, "unit": unit}
        row.update((s, float(values[s])) for s in self.sources)
        row.update((f"{s}_se", float(errors[s])) for s in self.sources)
        row["verdict"] = _verdict(TOLERANCES[kind], values["MD"], values["LSTM"],
                                  errors["MD"], errors["LSTM"])
        return row

    def format_summary(self):
        """The :meth:`summary` as an aligned plain-text table.

        Returns
        -------
        str
            A header naming the step, the MSM lag and the metastable sets,
            then one line per summary row: ``value ± SE`` per source (4 and 2
            significant digits) and the verdict.
        """
        header = [f"n_states = {self.n_states}, dt = {self.dt:g} {self.time_unit}, "
                  f"MSM lag = {self.msm_lag} steps"]
        header += [f"{label}: states {_format_states(states)}"
                   for label, states in zip(self.set_names(), self.metastable_sets)]
        table = [["quantity", "unit", *self.sources, "verdict"]]
        table += [[row["quantity"], row["unit"],
                   *(f"{row[s]:.4g} ± {row[s + '_se']:.2g}" for s in self.sources),
                   row["verdict"]]
                  for row in self.summary()]
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        lines = ["  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
                 for line in table]
        return "\n".join(header + [""] + lines + [""] + self.notes())

    def notes(self):
        """Plain-text lines on what the sources invent and on disagreeing models."""
        others = [s for s in self.sources if s != "MD"]
        lines = ["Never seen in MD: transitions per 1e5 steps " + ", ".join(
            f"{s} {self.unseen['transitions'][s]:.3g}" for s in others)
            + "; fraction of steps in unvisited states " + ", ".join(
            f"{s} {self.unseen['states'][s]:.3g}" for s in others) + "."]
        if self.n_models > 1:
            lines.append(f"LSTM: chains of {self.n_models} models, standard errors from the "
                         "spread between models.")
        for row in self.model_outliers:
            lines.append(f"Outlier: model {row['model']} has {row['quantity']} {row['value']:.4g} "
                         f"where the other models have {row['others']:.4g}.")
        return lines

    def to_dict(self):
        """Every number of the comparison as JSON-serialisable data.

        Arrays become (nested) lists and ``inf`` (and NaN) become ``None``, so
        ``json.dumps(cmp.to_dict(), allow_nan=False)`` succeeds. The deeptime
        models in :attr:`msm` and the trajectories are left out.

        Returns
        -------
        dict
        """
        # every field but the deeptime models and the trajectories, and the
        # derived times in steps
        names = ["sources"] + [f.name for f in dataclasses.fields(self)
                               if f.name not in ("msm", "trajectories")]
        names += ["mfpt_steps", "mfpt_msm_steps", "timescales_steps"]
        data = {name: getattr(self, name) for name in names}
        data["summary"] = self.summary()
        return _jsonable(data)

    def __repr__(self):
        return (f"<Comparison of {', '.join(self.sources)}: {self.n_states} states, "
                f"{len(self.metastable_sets)} metastable sets, dt={self.dt:g} {self.time_unit}>")


def _in_steps(times, dt):
    return {src: value / dt for src, value in times.items()}


def _verdict(tolerance, md, lstm, md_se, lstm_se):
    """``"pass"`` when LSTM agrees with MD within `tolerance` (see TOLERANCES)."""
    if not (np.isfinite(md) and np.isfinite(lstm)):
        return "warn"
    allowed = max(tolerance["absolute"], tolerance["relative"] * abs(md))
    combined = np.hypot(md_se, lstm_se)
    if np.isfinite(combined):
        allowed = max(allowed, tolerance["n_se"] * combined)
    return "pass" if abs(lstm - md) <= allowed else "warn"
