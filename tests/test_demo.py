"""`policyarc demo`: `--fresh` removes only the demo's own files; the console admin's password is kept."""

from __future__ import annotations

from pathlib import Path

from policyarc.demo import DEMO_FILES, clear_demo_data


def test_fresh_removes_only_the_demos_files(tmp_path: Path) -> None:
    for name in (*DEMO_FILES, "notes.txt"):
        (tmp_path / name).write_text("x")
    clear_demo_data(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    clear_demo_data(tmp_path)  # nothing left to remove is fine
