"""The FHIR boundary: a chart mark to FHIR, validated with R4B, and back."""

from __future__ import annotations

import json

from _timing import per_call

from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir.mapping import from_fhir, to_fhir
from odonto_desk.fhir.validate import validate


def fhir_mark_round_trip(quick: bool) -> list[dict]:
    mark = ChartMark(patient="p1", tooth="30", kind="filling", status="tp", surfaces="MO",
                     material="composite", code="D2392", provider="dr-1")
    resource = to_fhir(mark)
    text = json.dumps(resource)

    def work() -> None:
        r = to_fhir(mark)
        validate(r)
        from_fhir(r)

    def baseline() -> None:  # the JSON parse + dump every wire resource pays anyway
        json.dumps(json.loads(text))

    repeat, number = (3, 50) if quick else (7, 300)
    value = per_call(work, repeat=repeat, number=number)
    base = per_call(baseline, repeat=repeat, number=number * 10)
    return [{"value": round(value * 1e6, 1), "unit": "us/mark", "baseline": round(base * 1e6, 2)}]


BENCHMARKS = {"fhir_mark_round_trip": fhir_mark_round_trip}
