"""Results folders under attack, round two (helper 222, 2026-12-07).

--out names Windows cannot hold.
"""

from __future__ import annotations

import pytest

from srmsim.cli import main


# ------------------------------------------------------------ Windows names
@pytest.mark.parametrize("name", ["con", "NUL.txt", "aux/new", "results.", "com1/x"])
@pytest.mark.parametrize("command", [["run", "--quiet"], ["experiment", "EXP", "--quiet"],
                                     ["trial", "TRIAL", "--quiet"], ["report", "DIR"],
                                     ["data", "anonymise", "DIR", "--key-file", "k"]])
def test_an_out_that_windows_cannot_hold_is_refused(tmp_path, monkeypatch, capsys, name,
                                                    command):
    """`srmsim examples con` was refused, but run, experiment, trial, report and the data
    commands wrote a folder (or file) named con, aux/new... that Windows cannot hold."""
    monkeypatch.chdir(tmp_path)
    argv = [{"EXP": "exp.yaml", "TRIAL": "trial.yaml", "DIR": "."}.get(a, a) for a in command]
    with pytest.raises(SystemExit) as raised:  # refused as the arguments are read
        main([*argv, "--out", name])
    assert raised.value.code == 2
    err = capsys.readouterr().err
    assert "argument --out:" in err and "is no name Windows can hold (Windows " in err, err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_on_the_way_is_not_the_outs_problem(tmp_path, monkeypatch, capsys):
    """Only the names the command would make are checked: a folder that already exists on
    the way (made by the user, on a system that allows it) is theirs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "con.").mkdir()
    assert main(["run", "--quiet", "--set", "years=1", "--set", "trust.n_schools=1",
                 "--out", "con./fine"]) == 0
    assert (tmp_path / "con." / "fine").is_dir()
