"""Write the messy example "school export" in this folder (fictional pupils, fixed seed).

Why a script: the CSVs are small enough to ship, but the script shows exactly which faults were
planted, so the reject report of ``srmsim data validate`` can be checked against it:

- trust_pupils_export.csv: Adno 1104 appears twice (duplicate_student_id); Adno 2017 has year
  "Y8" (wrong_type); Adno 1203 is born in 2022 (impossible_age); Adno 2110 has FSM "Maybe"
  (unknown_category); Adno 1009's notes contain a Windows-1252 byte (bad_encoding).
- weekly_attendance_export.csv: one row attends more sessions than possible, one hands in more
  homework on time than was set, one row is for Adno 9999 who is not on roll (unknown_student),
  one has the week date 31/02/2024 (wrong_type), and the rows of Adno 1104 are rejected because
  its student row is (unknown_student).

Names, addresses, UPNs and postcodes are invented (postcodes use the ZZ99 pseudo-area).
Run: ``python data/examples/make_school_export.py``
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FIRST_F = ["Amelia", "Olivia", "Isla", "Ava", "Mia", "Zoë", "Aisha", "Freya", "Maya", "Ruby",
           "Grace", "Chloe", "Fatima", "Ella", "Sofia", "Lily"]
FIRST_M = ["Oliver", "George", "Noah", "Arthur", "Leo", "Muhammad", "Jack", "Oscar", "Harry",
           "Jacob", "Ethan", "Kai", "Tomasz", "Yusuf", "Finley", "Reuben"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Khan", "Patel", "Evans",
            "Thomas", "Roberts", "Walker", "Wright", "Nowak", "Ali", "Hughes", "Edwards", "Green"]
STREETS = ["Mill", "Station", "Church", "Park", "Victoria", "Albert", "Queens", "Manor"]
SCHOOLS = {"NFD": "Northfield Academy", "RVS": "Riverside School"}


def main(seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    pupils, weeks = [], []
    for s_i, code in enumerate(SCHOOLS):
        for year in range(7, 12):
            for k in range(24):
                adno = 1000 * (s_i + 1) + 100 * (year - 7) + k + 1
                girl = rng.random() < 0.5
                born_from = dt.date(2024 - year - 5, 9, 1)
                dob = born_from + dt.timedelta(days=int(rng.integers(0, 365)))
                fsm = rng.random() < 0.25
                sen = rng.choice(["N", "K", "E"], p=[0.83, 0.14, 0.03])
                eal = rng.random() < 0.18
                ks2 = "" if rng.random() < 0.08 else str(int(np.clip(rng.normal(104, 6), 80,
                                                                         120)))
                first = str(rng.choice(FIRST_F if girl else FIRST_M))
                pupils.append({
                    "UPN": f"X{80120000000 + adno * 7:011d}",
                    "Adno": str(adno),
                    "Legal Surname": str(rng.choice(SURNAMES)),
                    "Forename": first,
                    "DOB": dob.strftime("%d/%m/%Y"),
                    "Gender": "Female" if girl else "Male",
                    "Year": str(year),
                    "Reg Group": f"{year}{'ABC'[k % 3]}",
                    "FSM Eligible": "Y" if fsm else "N",
                    "SEN Status": str(sen),
                    "EAL": "Yes" if eal else "No",
                    "KS2 Scaled Score": ks2,
                    "Address": f"{int(rng.integers(1, 200))} {rng.choice(STREETS)} Road, "
                               "Exampletown",
                    "Postcode": f"ZZ99 {int(rng.integers(1, 9))}{'ABDEFGHJ'[k % 8]}"
                                f"{'LNPQRSTU'[year % 8]}",
                    "School": code,
                    "Pastoral Notes": "" if rng.random() < 0.8 else "Met with parents re. lateness",
                })
                p_att = rng.beta(18, 1.3) if rng.random() > 0.1 else rng.beta(6, 2)
                for w in range(6):
                    start = dt.date(2024, 9, 2) + dt.timedelta(weeks=w)
                    possible = 8 if w == 0 else 10
                    hw_set = int(rng.integers(2, 6))
                    weeks.append({
                        "Adno": str(adno), "School": code,
                        "Week Commencing": start.strftime("%d/%m/%Y"),
                        "Possible Sessions": str(possible),
                        "Present + AEA": str(int(rng.binomial(possible, p_att))),
                        "Behaviour Points": str(int(rng.poisson(0.3 + (1 - p_att) * 3))),
                        "Logins (Teams)": str(int(rng.poisson(4))),
                        "Homework Set": str(hw_set),
                        "Homework On Time": str(int(rng.binomial(hw_set, 0.5 + p_att / 2.4))),
                        "Wellbeing (1-5)": "" if rng.random() < 0.3 else str(int(rng.integers(
                            2, 6))),
                    })
    by_adno = {p["Adno"]: p for p in pupils}
    by_adno["2017"]["Year"] = "Y8"
    by_adno["1203"]["DOB"] = "14/03/2022"
    by_adno["2110"]["FSM Eligible"] = "Maybe"
    by_adno["1009"]["Pastoral Notes"] = "CAF_BYTE"  # replaced by a cp1252 byte below
    dup = dict(by_adno["1104"])
    dup["Forename"], dup["Reg Group"] = "Duplicate", "8C"
    pupils.insert(40, dup)
    weeks[10]["Present + AEA"] = "12"
    weeks[25]["Homework On Time"] = "7"
    weeks[33]["Week Commencing"] = "31/02/2024"
    weeks.append({**weeks[0], "Adno": "9999"})
    _write(HERE / "trust_pupils_export.csv", pupils, b"CAF_BYTE", "Caf\xe9 trip".encode("cp1252"))
    _write(HERE / "weekly_attendance_export.csv", weeks)


def _write(path: Path, rows: list[dict], find: bytes = b"", replace: bytes = b"") -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    if find:
        data = data.replace(find, replace)
    path.write_bytes(data)


if __name__ == "__main__":
    main()
