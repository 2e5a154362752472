"""The tables of a run with a policy, made for millions of students: the pseudonyms each hashed
once and handed to pandas as Arrow strings, the events table built without per-event uids, and
events.parquet's statistics only for the columns its rows are in the order of. The values are
those of the straightforward construction (checked here against it), only made faster."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import REPO_ROOT

from srmsim import privacy
from srmsim.errors import DataError
from srmsim.model import TrustModel
from srmsim.privacy import pseudonymise, pseudonymise_ids
from srmsim.scenario import load_scenario


def reference(key: bytes, label: str, ids) -> list[str]:
    """RFC 2104 HMAC-SHA256 by the standard library, hex, 16 characters."""
    return [hmac.new(key, label.encode("utf-8") + b"\x1f" + str(int(u)).encode(),
                     hashlib.sha256).hexdigest()[:16] for u in ids]


@pytest.mark.parametrize("key", [b"k" * 16, b"\x00\xff" * 32, b"y" * 65, bytes(range(200))])
@pytest.mark.parametrize("label", ["student", "school", "élève"])
def test_pseudonymise_ids_is_hmac_sha256(key, label):
    """Keys shorter than, equal to and longer than SHA-256's 64-byte block (a longer key is
    hashed first), and a non-ASCII label: the standard library's HMAC, and pseudonymise's."""
    ids = np.array([0, 1, 7, 10**12, 2**62], dtype=np.int64)
    want = reference(key, label, ids)
    assert pseudonymise_ids(ids, key, label).to_pylist() == want
    assert list(pseudonymise(ids, key, label)) == want
    # the state copies are not shared between ids: the same id twice gives the same text
    assert pseudonymise_ids(np.array([7, 7, 0]), key, label).to_pylist() == [want[2], want[2],
                                                                              want[0]]


def test_pseudonymise_ids_checks_its_key_label_and_length():
    with pytest.raises(DataError, match="at least 16 bytes"):
        pseudonymise_ids(np.arange(3), b"short", "student")
    with pytest.raises(DataError, match="non-empty label"):
        pseudonymise_ids(np.arange(3), b"k" * 16, "")
    with pytest.raises(DataError, match="8 to 64"):
        pseudonymise_ids(np.arange(3), b"k" * 16, "student", length=4)
    assert pseudonymise_ids(np.zeros(0, dtype=np.int64), b"k" * 16, "student").to_pylist() == []


@pytest.fixture(scope="module")
def finished():
    """A small trust with the attendance workflow, run for two years (new students join)."""
    sc = load_scenario(REPO_ROOT / "scenarios" / "attendance_escalation.yaml").with_overrides(
        {"trust.n_schools": 2, "trust.students_per_year_group": 40, "years": 2,
         "outputs.history": "none"}, source="test")
    model = TrustModel(sc, seed=11)
    model.run()
    return model


def test_pseudonym_column_hashes_each_student_once(finished, monkeypatch):
    """Any order, repeats, a subset then a superset: the same text as ``pseudonyms``, and each
    id hashed once for the run (the students table's and the events' are the same students)."""
    engine = finished.policy
    hashed: list[int] = []
    real = privacy.pseudonymise_ids

    def counting(ids, *args, **kwargs):
        hashed.extend(np.asarray(ids).tolist())
        return real(ids, *args, **kwargs)

    monkeypatch.setattr(privacy, "pseudonymise_ids", counting)
    engine._pseudonym_memo = None
    uid = finished.all_students().uid
    some = uid[[5, 3, 5, 0, 3]]
    got = engine.pseudonym_column(some)
    assert list(got) == list(engine.pseudonyms(some))
    assert sorted(hashed) == [int(uid[0]), int(uid[3]), int(uid[5])]
    everyone = engine.pseudonym_column(uid[::-1])
    assert list(everyone) == list(engine.pseudonyms(uid[::-1]))
    assert sorted(hashed) == sorted(np.unique(uid).tolist())  # the three not hashed again
    before = len(hashed)
    engine.pseudonym_column(uid[:10])
    assert len(hashed) == before
    # a column of pandas' own strings, as a column of Python str gets (no numpy fixed width)
    assert pd.DataFrame({"s": got}).dtypes["s"] == pd.DataFrame({"s": ["x"]}).dtypes["s"]
    assert len(engine.pseudonym_column(np.zeros(0, dtype=np.int64))) == 0


def test_events_match_the_straightforward_table(finished):
    """The events table against one built the plain way: each event's uid through its case's
    serial, hashed per event; the role of an automated action is empty."""
    engine = finished.policy
    frame = engine.events()
    serial = np.concatenate([b[3][0] for b in engine._events])
    case_uid = np.concatenate([k[0] for k in engine._case_keys])
    assert len(frame) == len(serial) > 100
    assert frame["student"].tolist() == list(engine.pseudonyms(case_uid[serial]))
    action = np.concatenate([b[3][2] for b in engine._events]).astype(np.int64)
    roles = [*engine.policy.roles, ""]
    want = [roles[-1] if engine.automated[a] else roles[engine.primary_role[a]] for a in action]
    assert frame["role"].tolist() == want
    assert "" in set(want) and len(set(want)) > 1  # the texts, and the staff's roles
    minutes = np.concatenate([np.broadcast_to(np.asarray(b[4], dtype=np.float64),
                                              (len(b[3][0]),)) for b in engine._events])
    np.testing.assert_array_equal(frame["minutes"].to_numpy(), minutes)
    text = pd.DataFrame({"s": ["x"]}).dtypes["s"]
    assert frame.dtypes["student"] == text and frame.dtypes["role"] == text
    # every event's student is a row of the students table, by the same pseudonym
    students = finished.results().students
    assert set(frame["student"]) <= set(students["student"])


def test_events_file_keeps_statistics_of_its_order_only(finished, tmp_path):
    """events.parquet: row-group minimum and maximum for run_week and year (the rows' order,
    by which a reader skips row groups), none for the pseudonyms (a sixth of the writing)."""
    finished.results().write(tmp_path / "run")
    meta = pq.ParquetFile(tmp_path / "run" / "events.parquet").metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    group = meta.row_group(0)
    with_stats = {names[i] for i in range(meta.num_columns) if group.column(i).is_stats_set}
    assert with_stats == {"run_week", "year"}
    events = pd.read_parquet(tmp_path / "run" / "events.parquet")
    assert events.equals(finished.policy.events())
