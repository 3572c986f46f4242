"""The README's set-up commands are the ones CI runs."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .*)\n```", text)


def test_readme_has_exactly_two_setup_commands():
    demo, tests = _commands()
    assert demo.endswith("mdlstm demo")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    test_command = _commands()[1].split(" && ", 2)[2]  # after venv creation and activation
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
