"""``odonto-desk sync`` and ``odonto-desk export`` against the real reference server on loopback.

The commands run in-process through :func:`odonto_desk.cli.main` (and once as a real subprocess);
the cache is a real SQLite file and the secret store a real private file in a temporary config dir.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import token_for
from hypothesis import given
from hypothesis import strategies as st

from odonto_desk.cli import main
from odonto_desk.sandbox.runner import free_port
from odonto_desk.services.session import SECRET_SERVICE
from odonto_desk.store.cache import Cache
from odonto_desk.store.export import LOCAL_DIR, MANIFEST, _file_for
from odonto_desk.store.secrets import SecretStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def private_config(tmp_path, monkeypatch) -> Path:
    """Secrets go to a file under a temporary config dir, never the developer's keyring or ~/.config."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return config


@pytest.fixture
def demo(demo_server):
    """A server with the demo patients, and how many resources that is."""
    return demo_server


def run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    return code, json.loads(lines[-1]) if lines else None, err


def sync(capsys, sandbox, cache: Path, *extra: str) -> tuple[int, dict | None, str]:
    return run(capsys, "sync", "--server", sandbox.base_url, "--cache", str(cache), *extra)


def raw_rows(cache: Path) -> dict[tuple[str, str], str]:
    with Cache(cache) as c:
        return {(t, i): raw for t, i, raw in c.db.conn.execute("SELECT type, id, raw FROM resource")}


# --- sync --------------------------------------------------------------------------------------------


def test_sync_pulls_everything_into_a_fresh_cache_then_only_what_changed(demo, tmp_path, capsys):
    sandbox, seeded = demo
    cache = tmp_path / "cache.sqlite"
    code, summary, err = sync(capsys, sandbox, cache)
    assert code == 0, err
    assert summary["pulled"] == seeded
    assert (summary["pushed"], summary["conflicts"], summary["errors"]) == (0, 0, 0)
    assert summary["seconds"] > 0
    with Cache(cache) as c:
        patients = {p["id"] for p in c.of_type("Patient")}
        assert {"demo-rivera", "demo-haddad"} <= patients
        assert c.patient_resources("demo-rivera", ["Condition"])

    code, summary, err = sync(capsys, sandbox, cache)
    assert code == 0, err
    assert summary["pulled"] == 0

    # One change on the server: the next run brings exactly that one.
    api = httpx.Client(base_url=sandbox.fhir_base, timeout=10,
                       headers={"Authorization": f"Bearer {token_for(sandbox.base_url, 'admin')}"})
    patient = api.get("/Patient/demo-rivera").json()
    patient["active"] = not patient.get("active", True)
    answer = api.put("/Patient/demo-rivera", json=patient, headers={"X-Apex-GPID": patient["identifier"][0]["value"]})
    assert answer.status_code == 200, answer.text
    api.close()
    code, summary, _ = sync(capsys, sandbox, cache)
    assert (code, summary["pulled"]) == (0, 1)
    with Cache(cache) as c:
        assert c.get("Patient", "demo-rivera")["active"] is patient["active"]


def test_sync_pushes_the_outbox_before_pulling_and_reports_refusals(demo, tmp_path, capsys):
    sandbox, _ = demo
    cache = tmp_path / "cache.sqlite"
    assert sync(capsys, sandbox, cache)[0] == 0
    with Cache(cache) as c:
        rivera = c.get("Patient", "demo-rivera")
        gpid = rivera["identifier"][0]["value"]
        condition = c.patient_resources("demo-rivera", ["Condition"])[0]
        noted = {**condition, "note": [{"text": "checked from the command line"}]}
        c.edit(noted, "dr.lee", "dentist", gpid=gpid)
        c.edit({**rivera, "gender": "unknown"}, "dr.lee", "dentist", gpid=gpid)  # a dentist may not edit patients
    code, summary, err = sync(capsys, sandbox, cache)
    assert code == 0, err
    assert (summary["pushed"], summary["errors"]) == (1, 1)
    assert "refused Patient/demo-rivera" in err and "scope" in err
    token = token_for(sandbox.base_url, "admin")
    served = httpx.get(f"{sandbox.fhir_base}/Condition/{condition['id']}",
                       headers={"Authorization": f"Bearer {token}"})
    assert served.json()["note"] == noted["note"]
    with Cache(cache) as c:
        assert c.row("Condition", condition["id"]).local_state == "clean"
        assert [e.type for e in c.outbox.entries(("pending", "sending"))] == ["Patient"]


def test_sync_as_a_real_subprocess(demo, tmp_path, private_config):
    sandbox, seeded = demo
    cache = tmp_path / "cache.sqlite"
    env = {**os.environ, "XDG_CONFIG_HOME": str(private_config),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    proc = subprocess.run([sys.executable, "-m", "odonto_desk", "sync", "--server", sandbox.base_url,
                           "--cache", str(cache), "--role", "dentist"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["pulled"] == seeded and summary["ok"] is True


def test_fhir_base_alone_syncs_the_fhir_types_with_a_token(demo, tmp_path, capsys):
    sandbox, seeded = demo
    cache = tmp_path / "cache.sqlite"
    token = token_for(sandbox.base_url, "dentist")
    code, summary, err = run(capsys, "sync", "--fhir-base", sandbox.fhir_base, "--token", token,
                             "--cache", str(cache))
    assert code == 0, err
    with Cache(cache) as c:
        tasks = c.db.conn.execute("SELECT count(*) FROM resource WHERE type = 'Task'").fetchone()[0]
        total = c.db.conn.execute("SELECT count(*) FROM resource").fetchone()[0]
    # The 16 FHIR types of the profile; Task is an Apex workflow type only synced with --server.
    assert tasks == 0
    assert summary["pulled"] == total == seeded - 1
    assert token not in err


def test_fhir_base_without_credentials_on_a_closed_server_fails_cleanly(sandbox, tmp_path, capsys):
    code, summary, err = run(capsys, "sync", "--fhir-base", sandbox.fhir_base, "--cache", str(tmp_path / "c.sqlite"))
    assert code == 1
    assert summary["ok"] is False and summary["pulled"] == 0
    assert "AuthError" in err and "Traceback" not in err


def test_a_wrong_secret_exits_1_with_the_reason_and_never_the_secret(sandbox, tmp_path, capsys):
    secret = "not-the-sandbox-secret-4711"
    code, _, err = sync(capsys, sandbox, tmp_path / "c.sqlite", "--client-id", "demo-dentist",
                        "--client-secret", secret)
    assert code == 1
    assert "token refused" in err and "wrong secret" in err
    assert secret not in err and "Traceback" not in err


def test_an_unreachable_server_exits_1(tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    code, summary, err = run(capsys, "sync", "--server", dead, "--cache", str(tmp_path / "c.sqlite"))
    assert code == 1
    assert summary["ok"] is False
    assert "NetworkError" in err and "unreachable" in err and "Traceback" not in err


def test_stored_credentials_win_over_the_loopback_demo_client(demo, tmp_path, capsys):
    sandbox, seeded = demo
    store = SecretStore(use_keyring=False)  # the file under the temporary XDG_CONFIG_HOME
    key = f"{sandbox.base_url}|dentist"
    store.store(SECRET_SERVICE, key + "|client-id", "demo-dentist")
    store.store(SECRET_SERVICE, key + "|client-secret", "a-stale-secret")
    code, _, err = sync(capsys, sandbox, tmp_path / "c.sqlite")
    assert code == 1 and "wrong secret" in err  # the stored (wrong) one was used, not the demo fallback
    assert "a-stale-secret" not in err
    store.store(SECRET_SERVICE, key + "|client-secret", "sandbox-secret-dentist")
    code, summary, err = sync(capsys, sandbox, tmp_path / "c.sqlite")
    assert code == 0, err
    assert summary["pulled"] == seeded


def test_no_demo_credentials_for_a_server_that_is_not_loopback(tmp_path, capsys):
    code, summary, err = run(capsys, "sync", "--server", "https://apex.example.org", "--cache",
                             str(tmp_path / "c.sqlite"))
    assert code == 1 and summary is None
    assert "no credentials stored" in err and "--client-id" in err


def test_sync_needs_a_server(tmp_path, capsys):
    code, _, err = run(capsys, "sync", "--cache", str(tmp_path / "c.sqlite"))
    assert code == 2 and "--server" in err


# --- export ------------------------------------------------------------------------------------------


def test_export_writes_the_servers_bytes_and_a_manifest(demo, tmp_path, capsys):
    sandbox, seeded = demo
    cache = tmp_path / "cache.sqlite"
    assert sync(capsys, sandbox, cache)[0] == 0
    out = tmp_path / "export"
    code, printed, err = run(capsys, "export", "--cache", str(cache), "--out", str(out), "--user", "dr.lee")
    assert code == 0, err
    assert printed["resources"] == seeded and printed["local"] == 0

    raws = raw_rows(cache)
    files = sorted(p for p in out.rglob("*.json") if p.name != MANIFEST)
    assert len(files) == len(raws) == seeded
    for path in files:
        assert path.read_bytes() == raws[(path.parent.name, path.stem)].encode("utf-8")

    token = token_for(sandbox.base_url, "dentist")
    for rtype, rid in [("Patient", "demo-rivera"), ("Condition", next(i for t, i in raws if t == "Condition"))]:
        served = httpx.get(f"{sandbox.fhir_base}/{rtype}/{rid}", headers={"Authorization": f"Bearer {token}"})
        assert served.status_code == 200
        assert (out / rtype / f"{rid}.json").read_bytes() == served.content

    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["total"] == seeded
    assert manifest["counts"]["Patient"] == len(list((out / "Patient").iterdir()))
    assert sum(manifest["counts"].values()) == seeded
    assert manifest["local"]["total"] == 0 and manifest["exported"]

    with Cache(cache) as c:
        exported = [e for e in c.audit.entries() if e.action == "exported"]
        assert c.audit.verify() is None
    assert len(exported) == 1 and exported[0].user == "dr.lee"
    assert str(seeded) in exported[0].summary


def test_export_puts_unsynced_edits_under_local(demo, tmp_path, capsys):
    sandbox, _ = demo
    cache = tmp_path / "cache.sqlite"
    assert sync(capsys, sandbox, cache)[0] == 0
    with Cache(cache) as c:
        server_text = c.db.conn.execute("SELECT raw FROM resource WHERE type = 'Patient' AND id = 'demo-rivera'"
                                        ).fetchone()[0]
        rivera = c.get("Patient", "demo-rivera")
        c.edit({**rivera, "gender": "unknown"}, "dr.lee", "dentist")
        made = c.create({"resourceType": "Patient", "active": True, "name": [{"family": "Newcomb"}]},
                        "dr.lee", "front-desk")
        condition = next(r for r in c.patient_resources("demo-rivera", ["Condition"]))
        c.delete("Condition", condition["id"], "dr.lee", "dentist")
    out = tmp_path / "export"
    code, printed, err = run(capsys, "export", "--cache", str(cache), "--out", str(out))
    assert code == 0, err
    assert printed["local"] == 2
    # The server copy stays the server's bytes; the unconfirmed edit and the new patient sit apart.
    assert (out / "Patient" / "demo-rivera.json").read_text(encoding="utf-8") == server_text
    assert json.loads((out / LOCAL_DIR / "Patient" / "demo-rivera.json").read_text())["gender"] == "unknown"
    assert json.loads((out / LOCAL_DIR / "Patient" / f"{made['id']}.json").read_text())["name"][0]["family"] \
        == "Newcomb"
    assert not (out / "Patient" / f"{made['id']}.json").exists()
    assert (out / "Condition" / f"{condition['id']}.json").exists()  # still on the server until the push
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["local"]["counts"] == {"Patient": 2}
    assert manifest["local"]["pending_deletes"] == [f"Condition/{condition['id']}"]
    assert "not yet confirmed" in manifest["local"]["note"]


def test_export_refuses_a_directory_that_holds_files(tmp_path, capsys):
    cache = tmp_path / "cache.sqlite"
    Cache(cache).close()
    out = tmp_path / "export"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "export", "--cache", str(cache), "--out", str(out))
    assert code == 1 and "not an empty directory" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    with Cache(cache) as c:
        assert not [e for e in c.audit.entries() if e.action == "exported"]


def test_export_of_a_missing_cache_fails_without_creating_one(tmp_path, capsys):
    code, _, err = run(capsys, "export", "--cache", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path / "o"))
    assert code == 1 and "no such cache file" in err
    assert not (tmp_path / "nope.sqlite").exists()


@given(rtype=st.text(max_size=20), rid=st.text(max_size=70))
def test_export_file_names_never_leave_the_directory(rtype, rid):
    root = Path("/export/root")
    path = _file_for(root, rtype, rid)
    if path is not None:
        assert path.parent.parent == root
        assert path.parent.name == rtype and path.name == f"{rid}.json"
        assert ".." not in path.relative_to(root).parts


def test_export_file_names_accept_fhir_ids_and_refuse_the_rest():
    root = Path("/r")
    assert _file_for(root, "Patient", "demo-rivera.2") == root / "Patient" / "demo-rivera.2.json"
    assert _file_for(root, "../etc", "x") is None
    assert _file_for(root, "Patient", "..") is None
    assert _file_for(root, "Patient", "a/b") is None
