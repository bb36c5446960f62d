"""The outbox: squashing, ordering across references, idempotency keys that survive retries and restarts."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from odonto_desk.store import Cache, OutboxEntry, OutboxError, PushItem, squash
from odonto_desk.store.outbox import parse_reference, references

USER, ROLE = "dr.lee", "dentist"


@pytest.fixture
def cache(tmp_path):
    c = Cache(tmp_path / "cache.sqlite")
    yield c
    assert c.integrity_check() == "ok"
    assert c.audit.verify() is None
    c.close()


def entry(seq: int, rtype: str, rid: str, op: str, payload: dict | None = None, base: str | None = None,
          state: str = "pending", batch: int | None = None) -> OutboxEntry:
    return OutboxEntry(seq, rtype, rid, op, payload, base, f"key-{seq}", "GP-1", "", 0, None, state, batch)  # type: ignore[arg-type]


def ops(items: list[PushItem]) -> list[tuple[str, str, str]]:
    return [(i.operation, i.type, i.id) for i in items]


# --- squash rules ----------------------------------------------------------------------------------


def test_create_then_updates_become_one_create_with_the_latest_content():
    items = squash([entry(1, "Patient", "a", "create", {"v": 1}), entry(2, "Patient", "a", "update", {"v": 2}),
                    entry(3, "Patient", "a", "update", {"v": 3})])
    assert ops(items) == [("create", "Patient", "a")]
    assert items[0].payload == {"v": 3}
    assert items[0].seqs == (1, 2, 3)
    assert items[0].base_version is None
    assert items[0].idempotency_key == "key-1"


def test_updates_keep_the_first_base_version():
    items = squash([entry(1, "Condition", "c", "update", {"v": 1}, base="4"),
                    entry(2, "Condition", "c", "update", {"v": 2}, base="5")])
    assert ops(items) == [("update", "Condition", "c")]
    assert items[0].base_version == "4"
    assert items[0].payload == {"v": 2}


def test_create_then_delete_sends_nothing_and_update_then_delete_is_a_delete():
    assert squash([entry(1, "Patient", "a", "create", {}), entry(2, "Patient", "a", "update", {}),
                   entry(3, "Patient", "a", "delete")]) == []
    items = squash([entry(1, "Condition", "c", "update", {}, base="7"), entry(2, "Condition", "c", "delete", base="8")])
    assert ops(items) == [("delete", "Condition", "c")]
    assert items[0].base_version == "7"
    assert items[0].payload is None


def test_ops_are_never_squashed_and_keep_their_place():
    items = squash([entry(1, "op", "x", "op", {"name": "a"}), entry(2, "op", "y", "op", {"name": "b"})])
    assert ops(items) == [("op", "op", "x"), ("op", "op", "y")]


def test_an_edit_after_a_delete_is_refused():
    with pytest.raises(OutboxError):
        squash([entry(1, "Condition", "c", "delete"), entry(2, "Condition", "c", "update", {})])


def test_an_edit_referencing_a_later_create_is_not_merged_into_an_earlier_request():
    # Merged into the first update, the Condition would point at a Patient the server does not have yet.
    items = squash([
        entry(1, "Condition", "c", "update", {"subject": None}, base="1"),
        entry(2, "Patient", "p", "create", {"resourceType": "Patient"}),
        entry(3, "Condition", "c", "update", {"subject": {"reference": "Patient/p"}}),
        entry(4, "Condition", "c", "update", {"subject": {"reference": "Patient/p"}, "v": 2}),
    ])
    assert [(i.operation, i.id, i.seqs) for i in items] == [
        ("update", "c", (1,)), ("create", "p", (2,)), ("update", "c", (3, 4))]


def test_two_new_resources_referring_to_each_other_stay_sendable():
    items = squash([
        entry(1, "Patient", "p", "create", {}),
        entry(2, "Condition", "c", "create", {"subject": {"reference": "Patient/p"}}),
        entry(3, "Patient", "p", "update", {"link": {"reference": "Condition/c"}}),
    ])
    assert [(i.operation, i.id) for i in items] == [("create", "p"), ("create", "c"), ("update", "p")]


def test_a_create_squashed_with_later_edits_keeps_its_early_place():
    items = squash([
        entry(1, "Patient", "p", "create", {}),
        entry(2, "Condition", "c", "create", {"subject": {"reference": "Patient/p"}}),
        entry(3, "Patient", "p", "update", {"gender": "female"}),
    ])
    assert ops(items) == [("create", "Patient", "p"), ("create", "Condition", "c")]


def test_a_created_then_deleted_resource_is_still_sent_when_another_request_refers_to_it():
    items = squash([
        entry(1, "Patient", "p", "create", {}),
        entry(2, "Condition", "c", "update", {"subject": {"reference": "Patient/p"}}, base="1"),
        entry(3, "Patient", "q", "create", {}),
        entry(4, "Condition", "c", "update", {"subject": {"reference": "Patient/q"}}),
        entry(5, "Patient", "p", "delete"),
    ])
    assert [(i.operation, i.id) for i in items] == [
        ("create", "p"), ("update", "c"), ("create", "q"), ("update", "c"), ("delete", "p")]


def test_update_then_delete_stays_two_requests_when_something_else_is_deleted_between():
    # The update may be what stopped the Condition referring to the Patient deleted at seq 2.
    items = squash([
        entry(1, "Condition", "c", "update", {"subject": None}, base="3"),
        entry(2, "Patient", "x", "delete", base="1"),
        entry(3, "Condition", "c", "delete", base="3"),
    ])
    assert [(i.operation, i.id, i.seqs) for i in items] == [
        ("update", "c", (1,)), ("delete", "x", (2,)), ("delete", "c", (3,))]


def test_frozen_attempts_are_not_merged_with_later_edits():
    items = squash([
        entry(1, "Patient", "p", "create", {"v": 1}, state="sending", batch=1),
        entry(2, "Patient", "p", "update", {"v": 2}),
        entry(3, "Patient", "p", "update", {"v": 3}),
    ])
    assert [(i.operation, i.seqs, i.payload) for i in items] == [("create", (1,), {"v": 1}),
                                                                  ("update", (2, 3), {"v": 3})]


def test_references_are_parsed_from_relative_absolute_and_versioned_forms():
    assert parse_reference("Patient/1") == ("Patient", "1")
    assert parse_reference("https://x.test/fhir/Patient/1/_history/3") == ("Patient", "1")
    assert parse_reference("#tooth") is None
    assert parse_reference("urn:uuid:0b8a") is None
    payload = {"a": [{"reference": "Patient/1"}, {"b": {"reference": "Condition/2"}}], "reference": 5}
    assert set(references(payload)) == {("Patient", "1"), ("Condition", "2")}


# --- property: the squashed push has the same effect as every entry in order ----------------------

EXISTING = [("Patient", "e1"), ("Condition", "e2")]
NEW = [("Patient", "n1"), ("Condition", "n2"), ("Procedure", "n3")]
ALL = EXISTING + NEW


class ServerModel:
    """A FHIR server reduced to what ordering can break: referential integrity on write and on delete."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {key: {"v": "initial"} for key in EXISTING}

    def apply(self, op: str, rtype: str, rid: str, payload: Any) -> None:
        key = (rtype, rid)
        if op == "delete":
            assert key in self.data, f"delete of missing {key}"
            assert not referrers(self.data, key), f"delete of {key} still referenced"
            del self.data[key]
            return
        if op == "create":
            assert key not in self.data, f"create of existing {key}"
        else:
            assert key in self.data, f"update of missing {key}"
        for ref in references(payload):
            assert ref in self.data, f"{key} references missing {ref}"
        self.data[key] = payload


def referrers(data: dict[tuple[str, str], Any], key: tuple[str, str]) -> list[tuple[str, str]]:
    return [k for k, content in data.items() if key in set(references(content))]


actions = st.lists(st.tuples(st.integers(0, len(ALL) - 1), st.integers(0, 3), st.integers(0, len(ALL))),
                   max_size=25)


def entries_from(script: list[tuple[int, int, int]]) -> list[OutboxEntry]:
    """A valid change sequence: create new resources once, edit or delete live ones, refer only to live ones."""
    live = set(EXISTING)
    current: dict[tuple[str, str], Any] = {}
    gone: set[tuple[str, str]] = set()
    out: list[OutboxEntry] = []
    for n, (which, kind, ref) in enumerate(script, start=1):
        key = ALL[which]
        if key in gone:
            continue
        content: dict[str, Any] = {"v": n}
        if ref < len(ALL) and ALL[ref] in live and ALL[ref] != key:
            content["subject"] = {"reference": f"{ALL[ref][0]}/{ALL[ref][1]}"}
        if key not in live:
            if key in EXISTING:
                continue
            out.append(entry(len(out) + 1, *key, "create", content))
            live.add(key)
            current[key] = content
        elif kind == 0:
            if referrers(current, key):
                continue
            out.append(entry(len(out) + 1, *key, "delete"))
            live.discard(key)
            gone.add(key)
            current.pop(key, None)
        else:
            out.append(entry(len(out) + 1, *key, "update", content))
            current[key] = content
    return out


@given(actions)
def test_squashed_push_reaches_the_same_server_state_as_every_entry_in_order(script):
    entries = entries_from(script)
    one_by_one, squashed = ServerModel(), ServerModel()
    for e in entries:
        one_by_one.apply(e.operation, e.type, e.id, e.payload)
    items = squash(entries)
    for item in items:
        squashed.apply(item.operation, item.type, item.id, item.payload)
    assert squashed.data == one_by_one.data
    settled = [s for i in items for s in i.seqs]
    assert len(settled) == len(set(settled))  # every outbox row is settled by at most one request
    last_seq: dict[tuple[str, str], int] = {}
    for i in items:  # one resource's requests keep their order
        assert min(i.seqs) > last_seq.get((i.type, i.id), 0)
        last_seq[(i.type, i.id)] = max(i.seqs)


@settings(max_examples=40)
@given(actions)
def test_cache_edits_pushed_squashed_match_the_user_actions(tmp_path_factory, script):
    """End to end through SQLite: user actions via the Cache, then the push, against a server model."""
    path = tmp_path_factory.mktemp("prop") / "cache.sqlite"
    initial = {key: {"resourceType": key[0], "id": key[1], "meta": {"versionId": "1"}} for key in EXISTING}
    with Cache(path) as cache:
        cache.put_from_server(list(initial.values()))
        ids = {key: key[1] for key in EXISTING}
        for e in entries_from(script):
            key = (e.type, e.id)
            content = dict(e.payload or {})
            if "subject" in content:
                rt, rid = content["subject"]["reference"].split("/")
                content["subject"] = {"reference": f"{rt}/{ids[(rt, rid)]}"}
            if e.operation == "create":
                ids[key] = cache.create({"resourceType": e.type, **content}, USER, ROLE)["id"]
            elif e.operation == "update":
                cache.edit({"resourceType": e.type, "id": ids[key], **content}, USER, ROLE)
            else:
                cache.delete(e.type, ids[key], USER, ROLE)
        server = ServerModel()
        server.data = dict(initial)
        for item in cache.outbox.pending_for_push():
            server.apply(item.operation, item.type, item.id, item.payload)
        shown = {(t, i): cache.get(t, i) for t, i in ((k[0], v) for k, v in ids.items())}
        assert server.data == {key: content for key, content in shown.items() if content is not None}
        assert cache.integrity_check() == "ok"


# --- the table -------------------------------------------------------------------------------------


def test_idempotency_key_survives_retries_and_a_restart(tmp_path):
    path = tmp_path / "cache.sqlite"
    with Cache(path) as cache:
        made = cache.create({"resourceType": "Patient", "gender": "male"}, USER, ROLE, gpid="GP-1")
        [item] = cache.outbox.pending_for_push()
        cache.outbox.mark_sending(item)
        cache.outbox.mark_failed(item, "network down")
        cache.edit({**made, "gender": "female"}, USER, ROLE)
    with Cache(path) as cache:
        first, second = cache.outbox.pending_for_push()
        assert first.idempotency_key == item.idempotency_key
        assert first.payload == item.payload  # frozen: the retry sends what the first attempt sent
        assert first.gpid == "GP-1"
        assert (second.operation, second.payload["gender"]) == ("update", "female")
        assert second.idempotency_key != first.idempotency_key
        [row] = [e for e in cache.outbox.entries() if e.seq == item.seqs[0]]
        assert (row.state, row.attempts, row.last_error) == ("sending", 1, "network down")
        cache.outbox.mark_sending(first)
        assert cache.outbox.pending_for_push()[0].idempotency_key == item.idempotency_key
        assert cache.integrity_check() == "ok"


def test_deleting_a_never_sent_create_cancels_it(cache):
    made = cache.create({"resourceType": "Condition"}, USER, ROLE)
    cache.edit({**made, "note": [{"text": "x"}]}, USER, ROLE)
    assert cache.delete("Condition", made["id"], USER, ROLE) is None
    assert cache.outbox.pending_for_push() == []
    assert {e.state for e in cache.outbox.entries()} == {"cancelled"}
    row = cache.row("Condition", made["id"])
    assert row is not None and row.deleted and row.local_state == "clean"


def test_deleting_a_never_sent_create_that_a_queued_edit_refers_to_is_not_cancelled(cache):
    patient = cache.create({"resourceType": "Patient"}, USER, ROLE)
    cache.create({"resourceType": "Condition", "subject": {"reference": f"Patient/{patient['id']}"}}, USER, ROLE)
    assert cache.delete("Patient", patient["id"], USER, ROLE) is not None
    assert [(i.operation, i.type) for i in cache.outbox.pending_for_push()] == [
        ("create", "Patient"), ("create", "Condition"), ("delete", "Patient")]


def test_deleting_a_create_already_attempted_sends_both(cache):
    made = cache.create({"resourceType": "Condition"}, USER, ROLE)
    [item] = cache.outbox.pending_for_push()
    cache.outbox.mark_sending(item)
    assert cache.delete("Condition", made["id"], USER, ROLE) is not None
    assert [i.operation for i in cache.outbox.pending_for_push()] == ["create", "delete"]


def test_outbox_rows_are_kept_until_pruned_and_prune_spares_open_rows(cache):
    a = cache.create({"resourceType": "Patient"}, USER, ROLE)
    cache.create({"resourceType": "Patient"}, USER, ROLE)
    first = cache.outbox.pending_for_push()[0]
    cache.outbox.mark_sending(first)
    cache.confirm_push(first, version="1", server_id="srv-1")
    assert cache.server_id_for("Patient", a["id"]) == "srv-1"
    states = [e.state for e in cache.outbox.entries()]
    assert states == ["done", "pending"]
    assert cache.outbox.prune_done("9999-01-01T00:00:00+00:00") == 1
    assert [e.state for e in cache.outbox.entries()] == ["pending"]


def test_squashed_payload_is_stored_as_json_text(cache):
    made = cache.create({"resourceType": "Patient", "name": [{"family": "Ünal"}]}, USER, ROLE)
    text = cache.db.conn.execute("SELECT payload FROM outbox").fetchone()[0]
    assert json.loads(text) == made


def test_rename_gives_the_resources_open_payloads_the_server_id(cache):
    """An update queued while its create was in flight carries the client id; the rename must fix it."""
    patient = cache.create({"resourceType": "Patient", "gender": "male"}, USER, ROLE, gpid="GP-1")
    local = patient["id"]
    [create] = cache.outbox.pending_for_push()
    cache.outbox.mark_sending(create)
    cache.edit({**patient, "gender": "female"}, USER, ROLE, gpid="GP-1")
    cache.create({"resourceType": "Condition", "subject": {"reference": f"Patient/{local}"}}, USER, ROLE)
    cache.confirm_push(create, version="1", server_id="srv-p", raw={**patient, "id": "srv-p", "meta": {"versionId": "1"}})

    update, condition = cache.outbox.pending_for_push()
    assert (update.operation, update.id, update.payload["id"]) == ("update", "srv-p", "srv-p")
    assert update.payload["gender"] == "female" and update.base_version == "1"
    assert condition.payload["subject"] == {"reference": "Patient/srv-p"}
    stored = {seq: json.loads(text) for seq, text in cache.db.conn.execute("SELECT seq, payload FROM outbox")}
    assert stored[update.seqs[0]]["id"] == "srv-p"
    assert stored[create.seqs[0]] == patient  # the settled create keeps what was sent
    assert local not in cache.db.conn.execute(
        "SELECT group_concat(payload) FROM outbox WHERE state IN ('pending', 'sending', 'conflict')").fetchone()[0]
    assert cache.get("Patient", "srv-p")["id"] == "srv-p"


def test_many_references_are_rewritten_in_one_walk_history_kept_and_the_value_copied():
    from odonto_desk.store.outbox import rewrite_references_many

    value = {"subject": {"reference": "Patient/tmp-1"},
             "basedOn": [{"reference": "ServiceRequest/tmp-2/_history/3"}, {"reference": "ServiceRequest/other"}],
             "note": [{"text": "Patient/tmp-1 in words is not a reference"}],
             "focus": {"reference": "Patient/tmp-10"}}  # a longer id that starts the same: untouched
    renames = {"Patient/tmp-1": "Patient/p-9", "ServiceRequest/tmp-2": "urn:uuid:abc"}
    out = rewrite_references_many(value, renames)
    assert out["subject"] == {"reference": "Patient/p-9"}
    assert out["basedOn"] == [{"reference": "urn:uuid:abc/_history/3"}, {"reference": "ServiceRequest/other"}]
    assert out["note"] == value["note"] and out["focus"] == {"reference": "Patient/tmp-10"}
    assert value["subject"] == {"reference": "Patient/tmp-1"}  # the input is not changed
    assert out["basedOn"] is not value["basedOn"]
