"""Sphinx configuration of the mdlstm documentation.

Build (warnings are errors, as in CI)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build never touches the network: there is no intersphinx mapping, so
references to MDAnalysis, numpy, torch, deeptime and scikit-learn render as
plain code; nitpicky mode still checks every reference inside mdlstm.
"""

from importlib.metadata import version as _installed_version

project = "mdlstm"
author = "mdlstm developers"
copyright = "2026, mdlstm developers"
release = _installed_version("mdlstm")
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

exclude_patterns = ["_build"]
root_doc = "index"

# -- API documentation ---------------------------------------------------------
# A CV's value is its __call__; document it wherever a class's members are.
autodoc_default_options = {"member-order": "bysource", "special-members": "__call__"}
# The API pages list their members explicitly; autosummary only draws tables,
# so no stub pages are generated.
autosummary_generate = False
# numpydoc renders "Attributes" and "Methods" sections itself; listing class
# members again would describe every method twice.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Every reference inside mdlstm must resolve. References to other projects
# cannot (no intersphinx: the build is offline), so they are exempt.
nitpicky = True
nitpick_ignore_regex = [
    # numpydoc renders "Attributes" sections as tables, which create no link
    # targets, so :attr: references to instance attributes cannot resolve.
    (r"py:attr", r".*"),
    (r"py:.*", r"(MDAnalysis|numpy|scipy|torch|deeptime|sklearn|openmm|matplotlib|dask)\b.*"),
    (r"py:.*", r"(AtomGroup|Universe|AnalysisBase)\b.*"),
    (r"py:.*", r"(FileExistsError|FileNotFoundError|ValueError|TypeError|RuntimeError)"),
]

# -- HTML ------------------------------------------------------------------------
html_theme = "mdanalysis_sphinx_theme"
html_title = f"mdlstm {release}"
html_theme_options = {
    "mda_official": False,
    "repo_name": "mdlstm/mdlstm",
    "repo_url": "https://github.com/mdlstm/mdlstm",
}
html_show_sourcelink = False


def _resolve_reexport(app, env, node, contnode):
    """Resolve ``mdlstm.Name[.member]`` to where the re-exported ``Name`` is defined.

    The API pages document every object under its defining module
    (``mdlstm.analysis.LSTMDynamics``); docstrings may use the public path
    ``mdlstm.LSTMDynamics`` that users import from.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("mdlstm."):
        return None
    import mdlstm

    head, _, member = target.removeprefix("mdlstm.").partition(".")
    obj = getattr(mdlstm, head, None) if head in mdlstm.__all__ else None
    if obj is None or not hasattr(obj, "__qualname__"):
        return None
    canonical = f"{obj.__module__}.{obj.__qualname__}" + (f".{member}" if member else "")
    return env.get_domain("py").resolve_xref(env, node["refdoc"], app.builder,
                                             node["reftype"], canonical, node, contnode)


def setup(app):
    app.connect("missing-reference", _resolve_reexport)
