"""Use the Odonto Desk SDK from plain Python (no Qt): sign in, read marks and alerts, chart a mark, post a plan.

    python examples/sdk_quickstart.py                       # starts a reference server for itself
    python examples/sdk_quickstart.py --server http://127.0.0.1:8765 \\
        --client-id demo-dentist --client-secret sandbox-secret-dentist

Against a plain FHIR R4 server (no /odonto/v1), give ``--fhir-base`` instead of ``--server``:
only the FHIR calls run.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator

from odonto_desk.api.auth import ClientCredentials, NoAuth
from odonto_desk.api.client import ApexClient
from odonto_desk.domain.alerts import MedicalAlert
from odonto_desk.domain.chart import ChartMark
from odonto_desk.fhir import codes
from odonto_desk.fhir.mapping import from_fhir, to_fhir


@contextlib.contextmanager
def reference_server() -> Iterator[str]:
    from odonto_desk.sandbox.app import ServerConfig
    from odonto_desk.sandbox.runner import start_in_thread
    from odonto_desk.sandbox.seed import seed_demo_if_empty

    with tempfile.TemporaryDirectory() as tmp, start_in_thread(ServerConfig(db_path=f"{tmp}/apex.sqlite")) as srv:
        seed_demo_if_empty(srv.server)
        yield srv.base_url


def run(client: ApexClient) -> None:
    patients = list(client.search("Patient", {"_count": 50}))
    print(f"{len(patients)} patients")
    patient = patients[0]
    gpid = next(i["value"] for i in patient["identifier"] if i["system"] == codes.GPID_SYSTEM)
    # A Condition is a chart mark (on a tooth) or a medical alert (on the problem list, on no tooth).
    conditions = [from_fhir(r) for r in client.search("Condition", {"patient": patient["id"]})]
    marks = [c for c in conditions if isinstance(c, ChartMark)]
    alerts = [c for c in conditions if isinstance(c, MedicalAlert) and c.active]
    print(f"{gpid}: {len(marks)} conditions, e.g. {marks[0].kind.value} on tooth {marks[0].tooth.universal}"
          if marks else f"{gpid}: no conditions")
    print(f"{gpid}: alerts: {', '.join(a.text for a in alerts)}" if alerts else f"{gpid}: no medical alerts")
    watch = ChartMark(patient=patient["id"], tooth="3", kind="watch", status="cn", surfaces="O",
                      note="stained fissure, recheck in 6 months")
    created = client.create(to_fhir(watch), gpid=gpid)
    print(f"charted {created['resourceType']}/{created['id']} version {created['meta']['versionId']}")
    if client.has_odonto:
        chart, etag = client.get_chart(gpid)
        print(f"chart has {len(chart['marks'])} marks (ETag {etag})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", help="an Apex server's base URL")
    ap.add_argument("--fhir-base", help="a plain FHIR R4 base URL")
    ap.add_argument("--client-id", default="demo-dentist")
    ap.add_argument("--client-secret", default="sandbox-secret-dentist")
    args = ap.parse_args()
    if args.fhir_base:
        with ApexClient(fhir_base=args.fhir_base, credentials=NoAuth()) as client:
            run(client)
        return 0
    with contextlib.ExitStack() as stack:
        base = args.server or stack.enter_context(reference_server())
        creds = ClientCredentials.for_role(f"{base}/oauth/token", args.client_id, args.client_secret, "dentist")
        with ApexClient(base, credentials=creds) as client:
            run(client)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
