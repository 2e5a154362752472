"""The anonymised exports made of a dataset's records (``exports.json`` in its folder).

Why: k-anonymity holds within one export of ``data anonymise``, not across two. Two exports of
the same records with other ``--k``, ``--quasi`` or ``--max-suppressed`` join on their
pseudonyms (same key) and the joined quasi-identifiers fall below k; with another key they
still join, because each pupil's weekly attendance and prior attainment are unique to them.
So the folder records the first export (its records' digest, its settings and its key's
fingerprint), and another export of the folder is made only with all three the same: the same
export again, byte for byte. An export that was never shared is forgotten by deleting the
file, as a ledger of published summaries is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from srmsim.data.dataset import EXPORTS_FILE
from srmsim.errors import DataError
from srmsim.inputs import load_json
from srmsim.outputs import json_dumps, write_file

FORMAT = "srmsim-anonymised-exports"


def export_record(data_sha256: str, key_id: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What one export is known by: the records it was made of, its settings, its key's
    fingerprint (:func:`srmsim.privacy.key_id`, one-way)."""
    return {"data_sha256": data_sha256, "key_id": key_id, "settings": settings}


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a file")
        found = load_json(path, max_bytes=1 << 20)
    except ValueError as err:
        raise DataError(f"{path}: not readable ({str(err)[:160]}); it records the anonymised "
                        "exports made of these records, so no other is made without it") \
            from None
    ok = (isinstance(found, dict) and found.get("format") == FORMAT
          and isinstance(found.get("exports"), list) and len(found["exports"]) >= 1
          and all(isinstance(e, dict) and isinstance(e.get("data_sha256"), str)
                  and isinstance(e.get("key_id"), str) and isinstance(e.get("settings"), dict)
                  for e in found["exports"]))
    if not ok:
        raise DataError(f"{path}: not a record of anonymised exports as srmsim writes it "
                        "(hand-edited or corrupt); no export is made without it")
    return found["exports"]


def _differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    said = []
    if before["data_sha256"] != now["data_sha256"]:
        said.append("the records changed since (a new import)")
    if before["key_id"] != now["key_id"]:
        said.append(f"another key (key id {before['key_id']} then, {now['key_id']} now)")
    for name in sorted(set(before["settings"]) | set(now["settings"])):
        then, today = before["settings"].get(name), now["settings"].get(name)
        if then != today:
            said.append(f"{name} {_shown(then)} then, {_shown(today)} now")
    return said


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "(none)"
    return "(the import's)" if value is None else str(value)


def check_export(folder: str | Path, record: dict[str, Any]) -> None:
    """Refuse an anonymised export of the records in ``folder`` other than the one already
    made of them (:data:`EXPORTS_FILE`); the same one again is allowed."""
    path = Path(folder) / EXPORTS_FILE
    if not (path.exists() or path.is_symlink()):
        return
    for before in _read(path):
        said = _differences(before, record)
        if said:
            raise DataError(
                f"{folder}: these records were anonymised before, and this export differs; "
                "nothing written\n"
                + "".join(f"  {line}\n" for line in said)
                + "two exports of the same pupils join (on pseudonyms, or on attendance and "
                "attainment) below k: share the first export only; if it was never shared, "
                f"delete {path} and run again")


def record_export(folder: str | Path, record: dict[str, Any]) -> None:
    """Record in ``folder`` (owner-only) the export about to be made of its records. Called
    before the export is put in place, so an export is never made unrecorded; a folder where
    the record cannot be written gets no export (a :class:`DataError`)."""
    path = Path(folder) / EXPORTS_FILE
    exports = _read(path) if (path.exists() or path.is_symlink()) else []
    if record in exports:
        return
    try:
        write_file(path, json_dumps({"format": FORMAT, "exports": [*exports, record]},
                                    indent=2) + "\n", private=True)
    except OSError as err:
        raise DataError(f"{path}: cannot be written ({err.strerror or err}); it records the "
                        "anonymised export of these records, so none is made without it") \
            from None


def carry_exports(old: str | Path, new: str | Path) -> None:
    """Keep the record of the exports made of the dataset in ``old`` in ``new``, the folder
    replacing it (``data import --overwrite``): the new records are mostly the same pupils, so
    an export of them beside one of the old joins as two exports of one set of records do. The
    record keeps the old records' digest, so another export is refused until it is deleted."""
    source = Path(old) / EXPORTS_FILE
    if not (source.exists() or source.is_symlink()):
        return
    try:
        exports = _read(source)
    except DataError:
        raise DataError(f"{source}: not readable, so the dataset is not replaced (it records "
                        "the anonymised exports made of it): move it away first, or repair "
                        "it") from None
    write_file(Path(new) / EXPORTS_FILE,
               json_dumps({"format": FORMAT, "exports": exports}, indent=2) + "\n", private=True)
