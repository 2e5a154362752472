"""Mutation review of srmsim.outputs (CSV cells, JSON, file modes, results folders replaced
whole, locks, stale temporaries), srmsim.store (the resumable run store: run and failure files,
manifest, detail digests, resume command) and srmsim.records (a trust built from real records).
Expected values are written out by hand (CSV text, JSON, modes, counts of records), not taken
from the code under test.

Mutations tried: 91 (outputs 46, store 25, records 20), each alone. Existing tests run (-n 0,
-x), by module: outputs against test_outputs, test_results_folder_locks_review,
test_yaml_csv_surprises_review, test_pages_injection_review, test_summary_json_strict_review,
test_input_safety or test_private_studies; store against test_stores_review,
test_trial_hostile_review (and at first test_trial_resume, test_private_studies); records
against test_realdata_review, test_data_dataset_read, test_import_surprises_review,
test_input_safety or test_outputs. Killed by those: 26. Survived: 36, of which 33 are killed by
the tests below and 3 are equivalent. 29 more were not run against the existing files (time):
27 are killed by the tests below, 1 is equivalent (O42), 1 (protect's restrict_tree) is killed
below. Survivors left: 0 but the equivalent ones. Defects found and fixed: 2 (below).

Defects:
- records: the FSM/EAL rate a pupil with an unknown flag is drawn at counted the unknown records
  as not FSM (10 FSM, 10 not, 20 unknown gave 25%, not 50%). Simulated results of trusts built
  from records with unknown flags change (none when every flag is known).
- holds_only: any hidden ``.<result name>.<anything>`` was taken for srmsim's temporary, so a
  user's ``.summary.json.swp`` or ``.students.parquet.bak`` was deleted with the folder.

Equivalent mutants, and why:
- store.load without its sort: run files are listed sorted as Paths, part by part (variant, then
  rep-NNNNN, five digits for at most 100,000 replications), which is the sort's order.
- remove_stale_stages following a symbolic link: shutil.rmtree refuses a link (ignored), so
  neither the link nor its target is touched either way.
- _replace_dir removing .old- stages even when ``out`` is empty: folder_lock has already put a
  moved-aside result back (restore_moved_aside), so ``out`` is empty only when no stage holds
  one srmsim could restore.
- folder_lock not removing the folders it made when refused: a lock held by another means the
  folder and its parents exist, so it made none.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from srmsim.errors import DataError, SrmsimError
from srmsim.records import RecordPopulation
from srmsim.rng import CRN
from srmsim.scenario import default_scenario
from srmsim.store import RunStore

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def umask_022():
    import os

    old = os.umask(0o022)
    yield
    os.umask(old)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


# ------------------------------------------------------------------ records
def test_a_school_rate_for_unknown_flags_counts_only_the_records_that_say() -> None:
    """A pupil whose record leaves FSM (or EAL) unknown is drawn at the school's rate. The rate
    counted the unknown records as not FSM: 10 FSM, 10 not and 20 unknown gave 25%, not 50%."""
    fsm = [True] * 10 + [False] * 10 + [None] * 20
    eal = [True] * 5 + [False] * 15 + [None] * 20
    records = pd.DataFrame({"school": ["A"] * 40 + ["B"] * 4,
                            "fsm": pd.array(fsm + [None] * 4, dtype="boolean"),
                            "eal": pd.array(eal + [True, False, False, False], dtype="boolean")})
    scenario = default_scenario()
    schools = RecordPopulation(records).schools(scenario, CRN(1))
    assert schools.fsm_logit[0] == pytest.approx(logit(10 / 20))
    assert schools.eal_logit[0] == pytest.approx(logit(5 / 20))
    # a school none of whose records says: the scenario's rate
    assert schools.fsm_logit[1] == pytest.approx(logit(scenario.population.fsm_rate))
    assert schools.eal_logit[1] == pytest.approx(logit(1 / 4))


# ------------------------------------------------------------------ outputs: CSV and JSON
def test_csv_text_cells_written_by_hand() -> None:
    """Each rule of a cell, the expected text spelled out: a quote doubled inside quotes, a
    cell with a leading or trailing space quoted (a reader would trim it), the index written
    when asked, ``float_format`` applied, a missing value empty, a bool as True/False."""
    from srmsim.outputs import csv_text

    df = pd.DataFrame({"name": ['say "hi"', " padded", "plain", "a,b"],
                       "x": [0.5, np.nan, 2.0, 1 / 3], "ok": [True, False, True, False]},
                      index=pd.Index([7, 8, 9, 10], name="row"))
    assert csv_text(df, float_format="%.2f", index=True) == (
        "row,name,x,ok\n"
        '7,"say ""hi""",0.50,True\n'
        '8," padded",,False\n'
        "9,plain,2.00,True\n"
        '10,"a,b",0.33,False\n')
    assert csv_text(df[["x"]]).splitlines()[1:] == ["0.5", "", "2.0", repr(1 / 3)]


def test_json_dumps_nulls_missing_numbers_at_any_depth_and_keeps_every_key() -> None:
    import json

    from srmsim.outputs import json_dumps

    data = {"a": [1.0, float("nan"), (np.float32("inf"), 2)],
            "counts": {np.int64(3): 4, np.bool_(True): 1, float("nan"): 5, float("inf"): 6,
                       float("-inf"): 7, 2.5: 8}}
    assert json.loads(json_dumps(data)) == {
        "a": [1.0, None, [None, 2]],
        "counts": {"3": 4, "true": 1, "NaN": 5, "Infinity": 6, "-Infinity": 7, "2.5": 8}}


# ------------------------------------------------------------------ outputs: folders
def test_holds_only_accepts_srmsims_own_leftovers_and_nothing_a_user_put_there(
        tmp_path: Path) -> None:
    from srmsim.outputs import LOCK_NAME, holds_only

    ours = holds_only(["summary.json"], ["summary.json", "students.parquet"])
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "students.parquet").write_text("x")
    assert not ours(folder)  # no marker: not an earlier result of this kind
    (folder / "summary.json").write_text("{}")
    for name in (LOCK_NAME, ".DS_Store", ".summary.json.srmsim-tmp-a1b2c3d4"):
        (folder / name).write_text("")
    (folder / ".new-k1ll3d").mkdir()
    assert ours(folder)
    (folder / ".students.parquet.x1y2z3a4").write_text("")  # an older srmsim's temporary
    assert ours(folder)
    (folder / "notes.txt").write_text("mine")
    assert not ours(folder)


@pytest.mark.parametrize("name", [".summary.json.swp", ".students.parquet.bak",
                                  ".summary.json.srmsim-tmp-short", ".summary.jsonx1y2z3a4b"])
def test_a_hidden_file_of_the_users_keeps_an_earlier_result_from_being_replaced(
        tmp_path: Path, name: str) -> None:
    """A hidden name that merely starts with a result's name (an editor's swap file, a backup)
    was taken for srmsim's temporary and deleted with the folder it was replaced with."""
    from srmsim.outputs import holds_only, replace_dir

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text("{}")
    (folder / name).write_text("the user's")
    ours = holds_only(["summary.json"], ["summary.json", "students.parquet"])
    assert not ours(folder)
    with pytest.raises(DataError, match="did not write"), replace_dir(folder, replaceable=ours):
        pass
    assert (folder / name).read_text() == "the user's"


def test_an_output_folder_holding_an_input_deep_inside_or_through_a_link_is_refused(
        tmp_path: Path) -> None:
    from srmsim.outputs import check_inputs_outside, check_out_of_data

    out = tmp_path / "out"
    (out / "a" / "b").mkdir(parents=True)
    with pytest.raises(DataError, match="holds the input"):
        check_inputs_outside(out, [out / "a" / "b" / "records.parquet"])
    check_inputs_outside(out, [tmp_path / "outside.parquet", None])
    data = tmp_path / "data"
    (data / "inner").mkdir(parents=True)
    with pytest.raises(DataError, match="inside the dataset folder"):
        check_out_of_data(data / "inner" / "res", data)
    link = tmp_path / "link"
    link.symlink_to(data / "inner")
    with pytest.raises(DataError, match="inside the dataset folder"):
        check_out_of_data(link, data)
    check_out_of_data(tmp_path / "elsewhere", data)


def test_check_out_ignores_only_the_lock_file(tmp_path: Path) -> None:
    from srmsim.outputs import LOCK_NAME, check_out

    out = tmp_path / "res"
    out.mkdir()
    (out / LOCK_NAME).write_text("")
    assert check_out(out) == out
    (out / ".hidden").write_text("")
    with pytest.raises(DataError, match="did not write"):
        check_out(out)
    assert check_out(out, lambda p: True) == out


def test_link_copy_leaves_hidden_leftovers_behind(tmp_path: Path) -> None:
    from srmsim.outputs import link_copy

    src = tmp_path / "store"
    (src / "runs").mkdir(parents=True)
    (src / "runs" / "rep-00000.parquet").write_text("run")
    (src / "runs" / ".rep-00001.parquet.srmsim-tmp-a1b2c3d4").write_text("half")
    link_copy(src, tmp_path / "copy")
    assert [p.name for p in (tmp_path / "copy" / "runs").iterdir()] == ["rep-00000.parquet"]


def test_a_kept_entry_the_new_folder_wrote_itself_is_not_replaced_by_the_old(
        tmp_path: Path) -> None:
    from srmsim.outputs import holds_any, replace_dir

    out = tmp_path / "res"
    out.mkdir()
    (out / "trial.json").write_text("old")
    (out / "store").write_text("old store")
    with replace_dir(out, replaceable=holds_any("trial.json"), keep=["store"]) as tmp:
        (tmp / "trial.json").write_text("new")
        (tmp / "store").write_text("new store")
    assert (out / "store").read_text() == "new store"


def test_stale_temporaries_are_only_srmsims_and_not_in_hidden_or_nested_results(
        tmp_path: Path) -> None:
    from srmsim.outputs import LOCK_NAME, remove_stale_temporaries

    root = tmp_path / "res"
    stale = [root / ".summary.json.srmsim-tmp-a1b2c3d4",
             root / "detail" / ".x.parquet.srmsim-tmp-zz_9zz_9"]
    kept = [root / ".summary.json.srmsim-tmp-short", root / "summary.srmsim-tmp-a1b2c3d4",
            root / ".git" / ".c.srmsim-tmp-a1b2c3d4",
            root / "nested" / ".c.srmsim-tmp-a1b2c3d4", root / "nested" / LOCK_NAME]
    for p in stale + kept:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    elsewhere = tmp_path / ".y.srmsim-tmp-a1b2c3d4"
    elsewhere.write_text("not in the folder")
    (root / ".z.srmsim-tmp-a1b2c3d4").symlink_to(elsewhere)
    assert sorted(remove_stale_temporaries(root)) == sorted(stale)
    assert all(p.exists() for p in kept) and elsewhere.exists()
    assert (root / ".z.srmsim-tmp-a1b2c3d4").is_symlink()


def test_the_latest_moved_aside_result_is_restored_with_its_mode(tmp_path: Path, capsys) -> None:
    import os

    from srmsim.outputs import restore_moved_aside

    folder = tmp_path / "run"
    folder.mkdir(mode=0o755)
    for name, text, when in (("a1", "older", 1_000_000), ("b2", "latest", 2_000_000)):
        moved = tmp_path / f".run.old-{name}" / "x"
        moved.mkdir(parents=True)
        (moved / "summary.json").write_text(text)
        os.chmod(moved, 0o700 if text == "latest" else 0o750)
        os.utime(moved.parent, (when, when))
    assert restore_moved_aside(folder) == tmp_path / ".run.old-b2"
    assert (folder / "summary.json").read_text() == "latest"
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert "restored" in capsys.readouterr().err


def test_a_lock_file_of_a_dead_holder_names_no_command(tmp_path: Path) -> None:
    import subprocess

    from srmsim.outputs import _describe_holder

    child = subprocess.Popen(["true"])
    child.wait()  # a pid that no longer lives
    lock = tmp_path / "lock"
    lock.write_text(f"{child.pid}\nsrmsim run x\n")
    assert _describe_holder(lock) == "another srmsim command"
    import os
    lock.write_text(f"{os.getpid()}\nsrmsim run x\n")
    assert _describe_holder(lock) == f"another srmsim command (srmsim run x, pid {os.getpid()})"


# ------------------------------------------------------------------ store
def _store(tmp_path: Path, seeds: list, **manifest) -> RunStore:
    store = RunStore(tmp_path / "exp")
    store.write_manifest({"experiment_hash": "h1", "seeds": seeds, **manifest})
    return store


def _row(variant: str, replication: int, seed: int, **extra) -> dict:
    return {"variant": variant, "replication": replication, "seed": seed,
            "experiment_hash": "h1", "y": float(replication), **extra}


def test_load_orders_runs_by_variant_then_replication_not_by_file_path(tmp_path: Path) -> None:
    """Paths sort 'a-b/' before 'a/' ('-' < '/'); the table is ordered by variant name."""
    store = _store(tmp_path, [11, 12])
    for variant in ("a-b", "a"):
        for rep in (1, 0):
            store.save_run(_row(variant, rep, [11, 12][rep]))
    table = store.load()
    assert list(zip(table["variant"], table["replication"], strict=True)) == [
        ("a", 0), ("a", 1), ("a-b", 0), ("a-b", 1)]
    assert list(table["seed"]) == [11, 12, 11, 12]


@pytest.mark.parametrize("change, says", [
    ({"replication": 0.0}, "not the run its name says"),   # a float column, value right
    ({"seed": 11.5}, "not the run its name says"),
    ({"variant": "b"}, "not the run its name says"),
])
def test_a_run_file_edited_to_another_type_or_variant_is_refused(tmp_path: Path, change, says
                                                                 ) -> None:
    from srmsim.results import write_parquet

    store = _store(tmp_path, [11])
    row = {**_row("a", 0, 11), **change}
    write_parquet(pd.DataFrame([row]), store.run_path("a", 0))
    with pytest.raises(SrmsimError, match=says):
        store.load()


def test_a_run_beyond_the_manifests_seeds_or_without_its_hash_is_refused(tmp_path: Path) -> None:
    from srmsim.results import write_parquet

    store = _store(tmp_path, [11])
    store.save_run(_row("a", 0, 11))
    store.save_run(_row("a", 1, 11))  # replication 1: the manifest has one seed
    with pytest.raises(SrmsimError, match="its seed is not the one the manifest gives"):
        store.load()
    store.run_path("a", 1).unlink()
    row = _row("a", 0, 11)
    del row["experiment_hash"]
    write_parquet(pd.DataFrame([row]), store.run_path("a", 0))
    with pytest.raises(SrmsimError, match="has no experiment_hash column"):
        store.load()


@pytest.mark.parametrize("edit", [{"replication": -1}, {"error": "  "}, {"seed": 1.5},
                                  {"replication": 1}, {"extra": 1}])
def test_a_failure_record_not_of_the_shape_srmsim_writes_is_refused(tmp_path: Path, edit
                                                                    ) -> None:
    import json

    store = _store(tmp_path, [11, 12])
    record = {"variant": "a", "replication": 0, "seed": 11, "error": "boom",
              "traceback": "", "runtime_seconds": 0.1, "experiment_hash": "h1"}
    store.save_failure(record)
    assert store.failures() == [record]
    path = store.failure_path("a", 0)
    path.write_text(json.dumps({**record, **edit}))
    if edit.get("replication") == -1:  # and at the name a replication of -1 would have
        path.unlink()
        path = store.failure_path("a", -1)
        path.write_text(json.dumps({**record, **edit}))
    with pytest.raises(SrmsimError, match="not a failure record"):
        store.failures()


def test_failures_alone_are_runs_of_a_store_without_a_manifest(tmp_path: Path) -> None:
    from srmsim.store import RunStore

    store = RunStore(tmp_path / "exp")
    store.save_failure({"variant": "a", "replication": 0, "seed": 1, "error": "boom"})
    assert store.holds_runs()
    with pytest.raises(SrmsimError, match="holds runs but no manifest.json"):
        store.reopen("h1", "exp.yaml", resume=True)


def test_reopen_refuses_other_seeds_and_an_unfinished_study_without_resume(tmp_path: Path
                                                                          ) -> None:
    store = _store(tmp_path, [11, 12], name="e")
    assert store.reopen("h1", "e.yaml", resume=True, seeds=[11, 12])["seeds"] == [11, 12]
    with pytest.raises(SrmsimError, match="its seeds are not"):
        store.reopen("h1", "e.yaml", resume=True, seeds=[11, 13])
    with pytest.raises(SrmsimError, match="use --resume"):
        store.reopen("h1", "e.yaml", resume=False)
    assert store.reopen("h1", "e.yaml", resume=False, complete=True) is not None
    with pytest.raises(SrmsimError, match="another experiment"):
        store.reopen("h2", "e.yaml", resume=True)


def test_the_resume_command_gives_settings_as_yaml_and_names_a_list_too_long(
        tmp_path: Path) -> None:
    from srmsim.errors import MAX_LINE

    store = _store(tmp_path, [1], experiment_file="e.yaml",
                   settings={"trust.n_schools": 3, "name": "yes"})
    command = store.resume_command()
    assert command.endswith("""--set trust.n_schools=3 --set 'name="yes"'""")
    store = _store(tmp_path, [1], experiment_file="e.yaml",
                   settings={f"k{i}": "v" * 20 for i in range(MAX_LINE // 20)})
    assert store.resume_command().endswith("with the same --set values as before "
                                           "(see manifest.json)")


def test_only_changed_inputs_are_named(tmp_path: Path) -> None:
    from srmsim.store import RunStore

    class Recorded(RunStore):
        def recorded_inputs(self, manifest):
            return {"records:a.parquet": "1", "records:b.parquet": "2"}

    store = Recorded(tmp_path / "exp")
    store.check_inputs({}, {"records:a.parquet": "1", "records:b.parquet": "2", "new": "3"})
    with pytest.raises(SrmsimError, match=r": b\.parquet has changed"):
        store.check_inputs({}, {"records:a.parquet": "1", "records:b.parquet": "9"})


def test_a_manifest_with_a_seed_that_is_not_whole_is_refused(tmp_path: Path) -> None:
    store = _store(tmp_path, [1, 2.5])
    with pytest.raises(SrmsimError, match="not an srmsim experiment manifest"):
        store.manifest()


def test_no_note_when_every_detail_file_is_checked(tmp_path: Path, capsys) -> None:
    from srmsim.store import RunStore, only_hidden

    store = RunStore(tmp_path)
    store.note_unchecked(0, "group")
    assert capsys.readouterr().out == ""
    store.note_unchecked(2, "group")
    assert "2 group detail files" in capsys.readouterr().out
    (tmp_path / ".tmp").write_text("")
    assert only_hidden(tmp_path)
    (tmp_path / "x").write_text("")
    assert not only_hidden(tmp_path)


# ------------------------------------------------------------------ records (more)
def test_flags_and_sex_as_records_write_them() -> None:
    records = pd.DataFrame({
        "school": ["A"] * 8,
        "fsm": ["TRUE", " yes ", "1.0", "1", "0", "no", None, "false"],
        "sex": ["M", "F", "M", "X", None, "F", "F", "M"]})
    pop = RecordPopulation(records)
    assert pop.fsm.tolist() == [1, 1, 1, 1, 0, 0, -1, 0]
    assert pop.sex.tolist() == [1, 0, 1, -1, -1, 0, 0, 1]  # 1 is male, as generated students
    assert pop.sen.tolist() == [-1] * 8  # no column: unknown


def test_cohort_sizes_are_records_per_year_group_and_schools_numbered_by_name() -> None:
    scenario = default_scenario()
    groups = len(scenario.trust.year_groups)
    records = pd.DataFrame({"school": ["B"] * 31 + ["A"] * 2,
                            "year_group": [7, 8, 9] * 10 + [7] + [7, 8]})
    pop = RecordPopulation(records)
    assert pop.school_ids == ["A", "B"]
    assert pop.schools(scenario, CRN(1)).cohort_size.tolist() == [1, round(31 / 3)]
    # year groups generalised away: the scenario's year groups; at least one a year
    no_years = RecordPopulation(records.drop(columns="year_group"))
    assert no_years.schools(scenario, CRN(1)).cohort_size.tolist() == [
        max(1, round(2 / groups)), round(31 / groups)]


def test_every_record_of_a_school_is_drawn_and_each_copies_its_own_row() -> None:
    records = pd.DataFrame({"school": ["A", "A", "A", "B"],
                            "fsm": [True, False, True, False], "sen": [False, True, True, False],
                            "eal": [True, True, False, False],
                            "prior_attainment": [100.0, 102.0, 104.0, 106.0]})
    pop = RecordPopulation(records)
    uid = np.arange(3000)
    school = np.where(uid % 2 == 0, 0, 1)
    traits = pop.traits(CRN(4), uid, school, default_scenario().population)
    # which record each student copied, told by its prior (distinct per record)
    z = pop.prior_attainment(default_scenario().population)
    picked = np.array([int(np.flatnonzero(z == v)[0]) for v in traits["prior_attainment"]])
    assert set(picked[school == 1]) == {3}
    counts = np.bincount(picked[school == 0], minlength=3)[:3]
    assert counts.min() > 400  # about 500 each of 1500
    for name in ("fsm", "sen", "eal"):
        assert (traits[name] == getattr(pop, name)[picked]).all()
    assert (pop.sen[picked] == records["sen"].to_numpy()[picked]).all()


def test_records_read_again_once_the_file_changes(tmp_path: Path) -> None:
    import os

    path = tmp_path / "records.parquet"
    pd.DataFrame({"school": ["A", "B"]}).to_parquet(path)
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert RecordPopulation.from_path(path).school_ids == ["A", "B"]
    pd.DataFrame({"school": ["A", "B", "C"]}).to_parquet(path)
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert RecordPopulation.from_path(path).school_ids == ["A", "B", "C"]


def test_a_run_made_after_its_failure_removes_the_failure_record(tmp_path: Path) -> None:
    """--resume runs a failed run again: once it succeeds it is a run, not also a failure."""
    store = _store(tmp_path, [11])
    store.save_failure({"variant": "a", "replication": 0, "seed": 11, "error": "boom",
                        "experiment_hash": "h1"})
    assert store.failed_keys() == [["a", 0]]
    store.save_run(_row("a", 0, 11))
    assert store.failures() == [] and store.failed_keys() == []
    assert not store.failure_path("a", 0).exists()


def test_an_existing_out_file_is_replaced_only_if_srmsim_wrote_it(tmp_path: Path) -> None:
    from srmsim.outputs import check_replaceable

    def parquet(head: bytes) -> bool:
        return head.startswith(b"PAR1")

    ours, theirs = tmp_path / "ours.parquet", tmp_path / "pupils.parquet"
    ours.write_bytes(b"PAR1 and the rest")
    theirs.write_bytes(b"name,dob\n")
    check_replaceable(ours, parquet, "a Parquet file")
    check_replaceable(tmp_path / "new.parquet", parquet, "a Parquet file")
    with pytest.raises(SrmsimError, match="exists and is not a Parquet file srmsim wrote"):
        check_replaceable(theirs, parquet, "a Parquet file")
    assert theirs.read_bytes() == b"name,dob\n"
    with pytest.raises(SrmsimError, match="is a device, pipe or socket"):
        check_replaceable("/dev/null", parquet, "a Parquet file")


def test_a_failure_record_keeps_only_its_fields_of_a_row_that_measured_before_raising(
        tmp_path: Path) -> None:
    store = _store(tmp_path, [11])
    row = {**_row("a", 0, 11, detail=[1, 2]), "error": "boom", "traceback": "tb",
           "runtime_seconds": 1.5}
    store.save_failure(row)
    assert store.failures() == [{"variant": "a", "replication": 0, "seed": 11, "error": "boom",
                                 "traceback": "tb", "runtime_seconds": 1.5,
                                 "experiment_hash": "h1"}]


# ------------------------------------------------------------------ outputs: file modes
def test_file_and_folder_modes_private_or_by_umask(tmp_path: Path, umask_022) -> None:
    import os

    from srmsim.outputs import make_dir, write_file

    def mode(p: Path) -> int:
        return os.stat(p).st_mode & 0o777

    write_file(tmp_path / "open" / "x.txt", "x")
    assert mode(tmp_path / "open" / "x.txt") == 0o644 and mode(tmp_path / "open") == 0o755
    write_file(tmp_path / "a" / "b" / "x.txt", "x", private=True)
    assert [mode(tmp_path / "a"), mode(tmp_path / "a" / "b")] == [0o700, 0o700]
    assert mode(tmp_path / "a" / "b" / "x.txt") == 0o600
    (tmp_path / "shared").mkdir(mode=0o755)
    make_dir(tmp_path / "shared", private=True)
    assert mode(tmp_path / "shared") == 0o700


# ------------------------------------------------------------------ outputs: locks
def test_a_failed_swap_puts_the_earlier_result_back(tmp_path: Path, monkeypatch) -> None:
    import os

    from srmsim import outputs

    out = tmp_path / "res"
    out.mkdir()
    (out / "summary.json").write_text("old")
    real = os.replace
    calls = []

    def second_fails(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder into place
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(outputs.os, "replace", second_fails)
    with pytest.raises(OSError, match="disk gone"), \
            outputs.replace_dir(out, replaceable=outputs.holds_any("summary.json")) as tmp:
        (tmp / "summary.json").write_text("new")
    monkeypatch.setattr(outputs.os, "replace", real)
    assert (out / "summary.json").read_text() == "old"


def test_a_lock_made_for_nothing_leaves_no_folder(tmp_path: Path) -> None:
    from srmsim.outputs import folder_lock

    with pytest.raises(RuntimeError), folder_lock(tmp_path / "a" / "b"):
        raise RuntimeError("the command failed")
    assert list(tmp_path.iterdir()) == []


def test_a_reader_leaving_keeps_the_lock_of_a_reader_still_reading(tmp_path: Path) -> None:
    import threading

    from srmsim.outputs import LOCK_NAME, folder_lock

    folder = tmp_path / "res"
    folder.mkdir()
    started, leave, refused = threading.Event(), threading.Event(), []

    def reader() -> None:
        with folder_lock(folder, shared=True):
            started.set()
            leave.wait(30)

    def writer() -> None:
        try:
            with folder_lock(folder):
                pass
        except SrmsimError as err:
            refused.append(err)

    thread = threading.Thread(target=reader)
    thread.start()
    started.wait(30)
    with folder_lock(folder, shared=True):
        pass
    assert (folder / LOCK_NAME).exists()  # the other reader holds it
    w = threading.Thread(target=writer)
    w.start()
    w.join()
    leave.set()
    thread.join()
    assert len(refused) == 1
    assert not (folder / LOCK_NAME).exists()  # the last reader removed it


def test_detail_files_are_checked_against_the_digest_their_run_records(tmp_path: Path) -> None:
    from srmsim.results import file_sha256
    from srmsim.store import DETAIL_SHA256_KEY, sha256_column

    store = _store(tmp_path, [11, 12], **{DETAIL_SHA256_KEY: True})
    detail = tmp_path / "groups.parquet"
    detail.write_bytes(b"the run's groups")
    row = _row("a", 0, 11)
    store.record_detail(row, "groups", detail)
    assert row[sha256_column("groups")] == file_sha256(detail)
    store.save_run(row)
    assert store.detail_digests("groups") == {("a", 0): file_sha256(detail)}
    store.check_detail(detail, file_sha256(detail), "a", 0, "hint")
    detail.write_bytes(b"the run's groups, edited")
    with pytest.raises(SrmsimError, match="not the detail file its run wrote"):
        store.check_detail(detail, row[sha256_column("groups")], "a", 0, "hint")
    store.save_run(_row("a", 1, 12))  # its digest removed by hand
    with pytest.raises(SrmsimError, match="records no SHA-256 of its groups detail file"):
        store.detail_digests("groups")


def test_files_swapped_into_an_owner_only_folder_are_owner_only(tmp_path: Path, umask_022
                                                                ) -> None:
    import os

    from srmsim.outputs import replace_files

    folder = tmp_path / "study"
    folder.mkdir(mode=0o700)
    with replace_files(folder, ["effects.csv"]) as stage:
        (stage / "effects.csv").write_text("x")
    assert os.stat(folder / "effects.csv").st_mode & 0o777 == 0o600
    open_folder = tmp_path / "open"
    open_folder.mkdir(mode=0o755)
    with replace_files(open_folder, ["effects.csv"]) as stage:
        (stage / "effects.csv").write_text("x")
    assert os.stat(open_folder / "effects.csv").st_mode & 0o777 == 0o644


def test_a_records_file_without_rows_is_refused_by_name(tmp_path: Path) -> None:
    from srmsim.records import read_student_records

    path = tmp_path / "students.parquet"
    pd.DataFrame({"school": pd.Series([], dtype=str)}).to_parquet(path)
    with pytest.raises(DataError, match="no student records$"):
        read_student_records(path)


def test_the_lock_holder_tidies_temporaries_and_a_file_is_left_to_its_command(
        tmp_path: Path) -> None:
    from srmsim.outputs import folder_lock

    folder = tmp_path / "res"
    folder.mkdir()
    (folder / ".summary.json.srmsim-tmp-a1b2c3d4").write_text("half")
    with folder_lock(folder) as held:
        assert held and not (folder / ".summary.json.srmsim-tmp-a1b2c3d4").exists()
    plain = tmp_path / "file"
    plain.write_text("mine")
    with folder_lock(plain) as held:  # the command's own check refuses it by name
        assert held is False
    assert plain.read_text() == "mine"


def test_a_records_csv_column_with_values_but_no_name_is_refused(tmp_path: Path) -> None:
    from srmsim.records import read_student_records

    path = tmp_path / "students.csv"
    path.write_text("school,,fsm\nA,x,true\nB,,false\n")
    with pytest.raises(DataError, match="column 2 has values but no name"):
        read_student_records(path)
    path.write_text("school,fsm,\nA,true,\nB,false,\n")  # Excel's trailing empty column
    assert list(read_student_records(path).columns) == ["school", "fsm"]


def test_a_study_of_real_records_makes_its_earlier_files_owner_only(tmp_path: Path,
                                                                    umask_022) -> None:
    import os

    store = _store(tmp_path, [11])
    store.save_run(_row("a", 0, 11))
    assert os.stat(store.run_path("a", 0)).st_mode & 0o777 == 0o644
    store.protect(True)
    assert os.stat(store.run_path("a", 0)).st_mode & 0o777 == 0o600
    assert os.stat(store.root / "runs").st_mode & 0o777 == 0o700
