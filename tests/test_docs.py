"""The Sphinx documentation builds without warnings and covers the public API."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

import mdlstm
from mdlstm.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"

# Public names that are data, not documented objects of their own.
_NOT_OBJECTS = {"cv", "__version__"}


def _public_objects():
    """Canonical dotted path of every public class and function of ``mdlstm``."""
    objects = [getattr(mdlstm, name) for name in mdlstm.__all__ if name not in _NOT_OBJECTS]
    return [f"{obj.__module__}.{obj.__qualname__}" for obj in objects]


def _help_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", capsys.readouterr().out))


def test_every_public_name_is_in_the_api_summary():
    api_index = (DOCS / "api" / "index.rst").read_text()
    listed = set(re.findall(r"^   ~([\w.]+)$", api_index, flags=re.MULTILINE))
    expected = {path.removeprefix("mdlstm.") for path in _public_objects()}
    assert len(expected) == 8
    assert expected <= listed, f"missing from docs/api/index.rst: {expected - listed}"


@pytest.mark.parametrize("command", ["demo", "fit"])
def test_every_cli_option_is_documented(command, capsys):
    documented = set(re.findall(r"^\.\. option:: (.+)$", (DOCS / "cli.rst").read_text(),
                                flags=re.MULTILINE))
    documented = {flag.split()[0].rstrip(",") for line in documented
                  for flag in line.split(", ")}
    options = _help_options([command, "--help"], capsys)
    assert {"--out", "--n-states", "--step", "--device", "--seed"} <= options
    assert options <= documented, f"undocumented: {options - documented}"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    for module in ("sphinx", "numpydoc", "mdanalysis_sphinx_theme"):
        pytest.importorskip(module, reason=f"{module} is not installed: "
                            'pip install -e ".[docs]" to build the documentation')
    html = tmp_path / "html"
    # A subprocess, so that the build runs exactly as `python -m sphinx` in CI.
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(html)],
        capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr

    analysis_page = (html / "api" / "analysis.html").read_text()
    assert 'id="mdlstm.analysis.LSTMDynamics"' in analysis_page
    all_pages = "".join(page.read_text() for page in html.rglob("*.html"))
    for path in _public_objects():
        assert f'id="{path}"' in all_pages, f"{path} has no API entry"
