"""Large deterministic data sets for benchmarks: thousands of patients with charts.

Each patient is a Patient plus chart marks (Conditions, Procedures, ServiceRequests) drawn from a
seeded random generator over valid teeth, surfaces and codes. Marks are built once per shape
through the domain and the FHIR mapping, then cloned with new ids, teeth-independent fields and
subject, so 200k resources take seconds, not minutes.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from odonto_desk.domain.chart import ChartMark
from odonto_desk.domain.teeth import PERMANENT_TEETH
from odonto_desk.fhir import codes
from odonto_desk.fhir.mapping import to_fhir
from odonto_desk.sandbox.fhirstore import FhirStore

_GIVEN = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farah", "Gus", "Hana", "Ivan", "Jo", "Kemal", "Lena", "Mo",
          "Nia", "Omar", "Pia", "Quinn", "Ravi", "Sara", "Tom", "Uma", "Vic", "Wen", "Yara", "Zed"]
_FAMILY = ["Abbott", "Baker", "Cruz", "Dahl", "Ek", "Fox", "Gray", "Hale", "Ito", "Jung", "Khan", "Lund", "Moss",
           "Nagy", "Ortiz", "Park", "Quist", "Roy", "Shah", "Tan", "Ueda", "Vance", "Ward", "Xu", "Young"]
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# The mark kinds a synthetic patient carries (tooth 30 / 8 stand-ins that every clone re-targets).
MARK_SPECS: tuple[dict[str, Any], ...] = (
    dict(kind="caries", status="cn", surfaces="MO"),
    dict(kind="filling", status="tp", surfaces="MO", material="composite", code="D2392"),
    dict(kind="filling", status="eo", surfaces="MOD", material="amalgam", code="D2160"),
    dict(kind="crown", status="ec", material="porcelain", code="D2740"),
    dict(kind="root canal", status="c", code="D3330"),
    dict(kind="extraction", status="tp", code="D7140"),
    dict(kind="sealant", status="c", surfaces="O", material="resin", code="D1351"),
    dict(kind="watch", status="cn", surfaces="O"),
)


def _shapes() -> list[dict[str, Any]]:
    """The FHIR templates of :data:`MARK_SPECS`."""
    out = []
    for spec in MARK_SPECS:
        mark = ChartMark(id="tmpl", patient="tmpl", tooth="30", date="2024-05-01", provider="dr-1", **spec)
        out.append(to_fhir(mark))
    return out


def _gpid(rng: random.Random) -> str:
    return "APX-" + "".join(rng.choice(_ALNUM) for _ in range(8))


def _retarget_tooth(resource: dict[str, Any], tooth: str) -> dict[str, Any]:
    # The templates were built for tooth 30 (a molar); any molar keeps every surface valid.
    text = json.dumps(resource).replace('"code": "30"', f'"code": "{tooth}"').replace("Tooth 30", f"Tooth {tooth}")
    return json.loads(text)


def generate(store: FhirStore, *, patients: int, marks_per_patient: int, seed: int = 7) -> int:
    """Write ``patients`` × (1 + ``marks_per_patient``) resources; returns how many."""
    rng = random.Random(seed)
    shapes = _shapes()
    molars = [t.universal for t in PERMANENT_TEETH if t.is_molar and t.tooth_type.value != "third molar"]
    by_tooth = {t: [_retarget_tooth(s, t) for s in shapes] for t in molars}
    written = 0
    used: set[str] = set()
    batch = 500
    for start in range(0, patients, batch):
        with store.transaction():
            for n in range(start, min(patients, start + batch)):
                gpid = _gpid(rng)
                while gpid in used:
                    gpid = _gpid(rng)
                used.add(gpid)
                pid = f"bulk-p{n:06d}"
                patient = {
                    "resourceType": "Patient",
                    "identifier": [{"use": "usual", "system": codes.GPID_SYSTEM, "value": gpid}],
                    "active": True,
                    "name": [{"use": "official", "family": rng.choice(_FAMILY), "given": [rng.choice(_GIVEN)]}],
                    "gender": rng.choice(["female", "male", "other", "unknown"]),
                    "birthDate": f"{rng.randint(1940, 2018)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                }
                store.update("Patient", pid, patient)
                written += 1
                for m in range(marks_per_patient):
                    tmpl = copy.deepcopy(rng.choice(by_tooth[rng.choice(molars)]))
                    rid = f"{pid}-m{m:04d}"
                    tmpl["subject"] = {"reference": f"Patient/{pid}"}
                    for c in tmpl.get("contained") or []:
                        c["patient"] = {"reference": f"Patient/{pid}"}
                    store.update(tmpl["resourceType"], rid, tmpl)
                    written += 1
    return written


def gpids(store: FhirStore, limit: int | None = None) -> list[str]:
    """GPIDs of the generated patients (for load generators)."""
    sql = "SELECT value FROM identifier WHERE type='Patient' AND system=? ORDER BY id"
    rows = store.connection.execute(sql + (f" LIMIT {int(limit)}" if limit else ""), (codes.GPID_SYSTEM,)).fetchall()
    return [r[0] for r in rows]
