"""The README's example runs as written and says what it prints."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_its_comments_are_true():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    lines = out.getvalue().splitlines()
    assert lines[0] == "1"
    assert lines[1] == "{'type': 'subscribe', 'pattern': None, 'channel': b'news', 'data': 1}"
    assert lines[2] == "{'type': 'message', 'pattern': None, 'channel': b'news', 'data': b'hi'}"
    t, reason = namespace["slow"].disconnects[0]
    assert reason == "output-buffer-limit" and 64.6 < t < 64.8
    assert lines[4] == "{'output-buffer-limit': 68143}"


def test_readme_kafka_example_runs_and_its_comments_are_true():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[1]
    out = io.StringIO()
    namespace: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    lines = out.getvalue().splitlines()
    assert lines[0] == "1 0"
    assert lines[1] == "[(1, 0, b'v0'), (1, 1, b'v2'), (1, 2, b'v4')]"
    assert len(namespace["got"]) == 6


def test_readme_counterexample_search_finds_the_at_most_once_loss_and_nothing_else():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[2]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {})
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[0] == "The guarantee fails for {'batch': 1, 'crash_at': 0.1}."
    assert "billing lost 1 message: client-crash at t=0.1 s (e.g. message 8)." in lines
    assert lines[-1] == "at-least-once held in every run tried"
    comments = re.findall(r"^# (.*)$", code, re.M)
    assert comments[0] == lines[0] and comments[2] in lines


def test_readme_commands_match_ci():
    text = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text()
    test_command = "python3 -m pip install -q -e '.[test]' && python3 -m pytest -q"
    assert test_command in text and test_command in ci
    assert "BROKERSIM_REQUIRE_REDIS=1" in ci
