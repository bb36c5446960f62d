"""The chart service against the real cache: a change of the dentition shown is audited like a mark."""

from __future__ import annotations

from helpers import TODAY

from odonto_desk.services.chart import ChartService

RIVERA = "demo-rivera"


def test_a_dentition_command_is_audited_and_undo_is_audited_too(session):
    service = ChartService(session, today=TODAY)
    audit = session.cache().audit
    before = len(audit.entries())
    edit = service.run_command(RIVERA, "A-T prim")
    assert service.dentition(RIVERA) == edit.dentition_after != edit.dentition_before
    [row] = audit.entries()[before:]
    assert (row.user, row.role, row.action, row.type, row.id) == ("Dr. Lee", "dentist", "changed", "Patient", RIVERA)
    assert "A-T prim" in row.summary
    service.undo(edit)
    assert service.dentition(RIVERA) == edit.dentition_before
    assert len(audit.entries()) == before + 2
    assert audit.verify() is None  # the chain holds
