"""The free-energy map of states defined on several CVs (drawn by :mod:`mdlstm.report`).

Each state is drawn at its centre in the plane of the first two CV columns,
coloured by its free energy -ln p (kT, minimum 0 over all sources), one panel
per source on one colour scale; the edge colour of a point names its
metastable set. A state a source never visited is an open grey circle.
"""
import numpy as np
from matplotlib.figure import Figure

#: Edge colour of the points of metastable set k (beyond 10 sets they repeat).
_SET_COLOURS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
                "tab:olive", "tab:cyan", "tab:gray", "tab:red", "tab:blue")


def set_locations(cmp, centers, labels):
    """Where each metastable set sits: its most populated MD state's centre, as text.

    A set of states on several periodic CVs has no well-defined mean; the centre
    of its most populated state is a point of the set that a user can find on
    the free-energy map (e.g. ``"phi (deg) -83, psi (deg) 154"``).
    """
    md = np.asarray(cmp.populations["MD"], dtype=float)
    located = []
    for states in cmp.metastable_sets or []:
        states = np.asarray(states, dtype=int)
        centre = centers[states[np.argmax(md[states])]]
        located.append(", ".join(f"{label} {value:.3g}" for label, value in
                                 zip(labels, centre)))
    return located


def free_energy_map(cmp, centers, labels):
    """Figure: free energy of every state at its centre, MD, LSTM and MSM side by side.

    Parameters
    ----------
    cmp : mdlstm.validate.Comparison
    centers : numpy.ndarray, shape (n_states, n_columns)
        CV values of every state's centre; the first two columns are drawn.
    labels : list of str
        Axis label of every column.
    """
    energies = {src: np.asarray(cmp.free_energy[src], dtype=float) for src in cmp.sources}
    finite = np.concatenate([e[np.isfinite(e)] for e in energies.values()])
    vmax = float(finite.max()) if finite.size else 1.0
    x, y = centers[:, 0], centers[:, 1]
    fig = Figure(figsize=(4.0 * len(cmp.sources) + 1.2, 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(cmp.sources), sharex=True, sharey=True))
    edge = np.full(cmp.n_states, "none", dtype=object)
    for k, states in enumerate(cmp.metastable_sets or []):
        edge[np.asarray(states, dtype=int)] = _SET_COLOURS[k % len(_SET_COLOURS)]
    for ax, src in zip(axes, cmp.sources):
        energy = energies[src]
        seen = np.isfinite(energy)
        ax.scatter(x[~seen], y[~seen], s=40, facecolors="none", edgecolors="0.6")
        points = ax.scatter(x[seen], y[seen], c=energy[seen], cmap="viridis", vmin=0,
                            vmax=vmax, s=70, edgecolors=list(edge[seen]), linewidths=1.8)
        ax.set_title(src)
        ax.set_xlabel(labels[0])
    axes[0].set_ylabel(labels[1])
    fig.colorbar(points, ax=list(axes), label="free energy (kT)")
    for k, name in enumerate(cmp.set_names()):
        axes[-1].scatter([], [], s=70, facecolors="white",
                         edgecolors=_SET_COLOURS[k % len(_SET_COLOURS)], linewidths=1.8,
                         label=name)
    if cmp.metastable_sets:
        axes[-1].legend(loc="best", fontsize="small", title="sets")
    fig.suptitle("Free energy of the states over the first two CVs")
    return fig
