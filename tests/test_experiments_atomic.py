"""Atomic writes: whole new file or the old one, and never a temporary file left behind."""

import pytest

from experiments.atomic import atomic_write, write_text


def test_write_creates_parents_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "deep" / "dir" / "report.md"
    write_text(target, "hello\n")
    assert target.read_text() == "hello\n"
    assert [p.name for p in target.parent.iterdir()] == ["report.md"]
    assert target.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_write_keeps_the_old_file_and_removes_the_temp(tmp_path, exc):
    target = tmp_path / "results.csv"
    target.write_text("old\n")
    with pytest.raises(type(exc)), atomic_write(target) as f:
        f.write("half a new fi")
        raise exc
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]


def test_binary_mode_and_bad_mode(tmp_path):
    with atomic_write(tmp_path / "a.png", "wb") as f:
        f.write(b"\x89PNG")
    assert (tmp_path / "a.png").read_bytes() == b"\x89PNG"
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "b", "a"):
        pass
