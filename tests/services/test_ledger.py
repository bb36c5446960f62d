"""Posting and claims through the real reference server: what the cache keeps, what the outbox sends,
and what the server holds afterwards (once, never twice).

A front-desk session (the role that posts and bills) on a real SQLite cache copied per test from one
synced template; the server (loopback, demo patients seeded) is shared by the module, so every test
posts on its own tooth or patient and counts what it adds.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest

from odonto_desk.domain.billing import PostingInput
from odonto_desk.domain.cdt import demo_catalog
from odonto_desk.services.ledger import ClaimRefused, LedgerService, PostingRefused
from odonto_desk.services.session import Role

TODAY = dt.date(2026, 11, 25)
RIVERA, CHEN = "demo-rivera", "demo-chen"
DENTIST = "dr-okafor"


@pytest.fixture(scope="module")
def server(ui_server):
    return ui_server


@pytest.fixture
def session(session_as):
    return session_as(Role.FRONT_DESK, "Pat Front")


@pytest.fixture
def ledger(session) -> LedgerService:
    return LedgerService(session, demo_catalog(), today=TODAY)


def entry(code="D2392", tooth="29", surfaces="MO", fee="210.00", date=TODAY, provider=DENTIST) -> PostingInput:
    return PostingInput(code, tooth, surfaces, fee, date, provider)


def held(server, rtype: str, rid: str) -> dict | None:
    store = server.server.store
    return store.read(rtype, rid).resource if store.current_version(rtype, rid) is not None else None


def count(server, rtype: str) -> int:
    return server.server.store.count(rtype)


def outbox_ops(session) -> list:
    return [e for e in session.cache().outbox.entries() if e.operation == "op"]


def test_direct_posting_is_cached_queued_and_held_once_by_the_server(ledger, session, server):
    key = str(uuid.uuid4())
    posted = ledger.post(RIVERA, entry(tooth="29", surfaces="DO"), key=key)
    charge = posted.charge
    assert not posted.repeated and charge.fee == Decimal("210.00") and charge.surface_string == "OD"  # canonical order
    # Offline: the ledger already shows it, marked as not sent yet; one op waits in the outbox.
    view = ledger.open(RIVERA)
    [row] = [r for r in view.rows if r.charge is not None and r.charge.id == charge.id]
    assert row.sent is False and row.provider.startswith("Adaeze Okafor")
    [op] = outbox_ops(session)
    assert op.payload["name"] == "procedures/post" and op.gpid == "APX-1A2B3C4D"
    assert [p["id"] for p in op.payload["body"]["procedures"]] == [charge.procedure]
    before = (count(server, "Procedure"), count(server, "ChargeItem"))
    session.sync().run_once()
    session.sync().run_once()  # a second round sends nothing more
    assert (count(server, "Procedure"), count(server, "ChargeItem")) == (before[0] + 1, before[1] + 1)
    assert held(server, "ChargeItem", charge.id)["priceOverride"]["value"] == 210.0
    proc = held(server, "Procedure", charge.procedure)
    assert proc["status"] == "completed" and proc["code"]["coding"][0]["code"] == "D2392"
    # The pulled server copy replaced the local one under the same id: one ledger line, now sent.
    rows = [r for r in ledger.open(RIVERA).rows if r.charge is not None and r.charge.id == charge.id]
    assert len(rows) == 1 and rows[0].sent
    assert session.cache().row("ChargeItem", charge.id).version == "1"


def test_the_same_key_posts_once(ledger, session, server):
    key = str(uuid.uuid4())
    first = ledger.post(RIVERA, entry(tooth="28", surfaces="MO"), key=key)
    again = ledger.post(RIVERA, entry(tooth="28", surfaces="MO"), key=key)
    assert again.repeated and again.charge.id == first.charge.id
    assert len(outbox_ops(session)) == 1
    before = count(server, "ChargeItem")
    session.sync().run_once()
    assert count(server, "ChargeItem") == before + 1


def test_posting_a_planned_item_closes_it_here_and_on_the_server(ledger, session, server):
    view = ledger.open(RIVERA)
    [work] = [w for w in view.planned if w.mark.id == "demo-rivera-m007"]  # 30 MO composite, planned
    assert work.fee == Decimal("185.00")  # the plan's fee, not the catalog's
    m = work.mark
    posted = ledger.post(RIVERA, entry(code=m.code, tooth=m.tooth.universal, surfaces=m.surface_string,
                                       fee=str(work.fee)), key=str(uuid.uuid4()), completes=m.id)
    assert posted.completed == m.id
    assert all(w.mark.id != m.id for w in ledger.open(RIVERA).planned)
    proc = session.cache().get("Procedure", posted.charge.procedure)
    assert proc["basedOn"] == [{"reference": f"ServiceRequest/{m.id}"}]
    assert proc["usedCode"][0]["coding"][0]["code"] == "composite"  # drawn on the chart as the planned filling
    session.sync().run_once()
    assert held(server, "ServiceRequest", m.id)["status"] == "completed"
    assert held(server, "Procedure", posted.charge.procedure)["basedOn"][0]["reference"] == f"ServiceRequest/{m.id}"
    assert not session.cache().open_conflicts()
    with pytest.raises(Exception, match="no longer open"):
        ledger.post(RIVERA, entry(code=m.code, tooth="30", surfaces="MO"), key=str(uuid.uuid4()), completes=m.id)


@pytest.mark.parametrize(("typed", "field", "words"), [
    (dict(tooth="33"), "tooth", "not a Universal tooth"),
    (dict(tooth="3", surfaces="MI"), "surfaces", "no incisal edge"),
    (dict(fee="abc"), "fee", "not an amount"),
    (dict(fee="-20"), "fee", "cannot be negative"),
    (dict(fee="0"), "fee", "more than 0.00"),
    (dict(code="D9999"), "code", "not in the practice's code list"),
    (dict(code="2392x"), "code", "not a CDT code"),
    (dict(date=TODAY + dt.timedelta(days=1)), "date", "in the future"),
    (dict(surfaces="MOD"), "surfaces", "use D2393"),
    (dict(surfaces=""), "surfaces", "needs exactly 2 surfaces"),
    (dict(provider=None), "provider", "provider"),
])
def test_bad_input_is_refused_and_nothing_is_saved_or_sent(ledger, session, server, typed, field, words):
    audit_before = len(session.cache().audit.entries())
    charges_before = len(session.cache().of_type("ChargeItem"))
    with pytest.raises(PostingRefused) as caught:
        ledger.post(RIVERA, entry(**typed), key=str(uuid.uuid4()))
    assert words in caught.value.problems[field]
    assert session.cache().outbox.entries() == []
    assert len(session.cache().of_type("ChargeItem")) == charges_before
    assert len(session.cache().audit.entries()) == audit_before


def test_a_clean_claim_is_sent_with_tooth_and_surfaces_and_bills_its_charges(ledger, session, server):
    a = ledger.post(RIVERA, entry(tooth="20", surfaces="MO", date=TODAY - dt.timedelta(days=2)), key=str(uuid.uuid4()))
    b = ledger.post(RIVERA, entry(code="D1110", tooth="", surfaces="", fee="105"), key=str(uuid.uuid4()))
    coverage = "demo-rivera-coverage"
    draft = ledger.draft_claim(RIVERA, [b.charge.id, a.charge.id], coverage)
    assert draft.issues == () and [line.code for line in draft.lines] == ["D2392", "D1110"]  # by date of service
    claim = ledger.send_claim(RIVERA, [a.charge.id, b.charge.id], coverage)
    assert claim.total == Decimal("315.00") and claim.provider == DENTIST
    assert ledger.draft_claim(RIVERA, [a.charge.id], coverage).issues[0].rule == "billed"
    claims_before = count(server, "Claim")
    session.sync().run_once()
    assert count(server, "Claim") == claims_before + 1
    server_id = session.cache().server_id_for("Claim", claim.id)
    sent = held(server, "Claim", server_id)
    assert sent["type"]["coding"][0]["code"] == "oral"
    first = sent["item"][0]
    assert first["bodySite"]["coding"][0]["code"] == "20"
    assert [s["coding"][0]["code"] for s in first["subSite"]] == ["M", "O"]
    assert sent["insurance"][0]["coverage"]["reference"] == f"Coverage/{coverage}"
    assert held(server, "ChargeItem", a.charge.id)["status"] == "billed"
    assert not session.cache().open_conflicts()


def test_the_scrubber_blocks_a_bad_claim_and_nothing_is_written_or_sent(ledger, session, server):
    bv = ledger.post(RIVERA, entry(tooth="21", surfaces="BV"), key=str(uuid.uuid4()))  # fine on the chart
    session.sync().run_once()
    outbox_before = len(session.cache().outbox.entries())
    claims_before, cached_before = count(server, "Claim"), session.cache().of_type("Claim")
    with pytest.raises(ClaimRefused) as caught:
        ledger.send_claim(RIVERA, [bv.charge.id, bv.charge.id], "demo-rivera-coverage")
    assert {i.rule for i in caught.value.issues} == {"class-v", "duplicate"}
    with pytest.raises(ClaimRefused) as no_cover:
        ledger.send_claim(CHEN, [], None)
    assert {i.rule for i in no_cover.value.issues} == {"no-lines", "no-coverage"}
    assert len(session.cache().outbox.entries()) == outbox_before
    assert session.cache().of_type("Claim") == cached_before
    assert session.cache().get("ChargeItem", bv.charge.id)["status"] == "billable"
    session.sync().run_once()
    assert count(server, "Claim") == claims_before


def test_the_ledger_shows_the_seeded_claim_its_adjudication_and_the_running_balance(ledger, session):
    view = ledger.open(RIVERA)
    seeded = [r for r in view.rows if r.date.year == 2024]
    assert [(r.kind, r.amount, r.balance) for r in seeded] == [
        ("charge", Decimal("215.00"), Decimal("215.00")), ("payment", Decimal("-144.00"), Decimal("71.00"))]
    [claim] = view.claims
    assert claim.response is not None and claim.sent
    assert claim.response.totals() == {"submitted": Decimal("215.00"), "eligible": Decimal("180.00"),
                                       "benefit": Decimal("144.00"), "copay": Decimal("36.00")}
    assert [c.id for c in view.coverages] == ["demo-rivera-coverage"]
    assert {p.id for p in view.providers} == {"dr-okafor", "rdh-nakamura"}
    viewed = [e for e in session.cache().audit.entries() if e.action == "viewed" and e.summary == "ledger opened"]
    assert viewed and viewed[-1].id == RIVERA
