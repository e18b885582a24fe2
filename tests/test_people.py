"""Unit archives and the people they name (rules/people.py, rules/people_links.py), SQLite and PostgreSQL.

A real archive home (master key, index, embedded encrypted store) gets
documents through ``Vault.store_file``, as ingest files them; the register,
the filing by ID number, corrections and the upgrade of an older index run
against the real database. The command line runs in this process
(``flows.cli.main``) as users of every role; the API through FastAPI's
TestClient. Every refusal is checked in the audit log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text

from rules.loans import LoanRegister, LoanRequired
from rules.people import PeopleRegister
from rules.people_links import LAYOUT_KEY, PersonLinkRow, mask_name
from schemas.errors import AccessDenied, ExitCode, InvalidRequest
from schemas.models import Extraction, FieldValue, FileKind, OcrLine, OcrPage, SourceFile, UnitRef
from schemas.settings import Settings
from storage.corrections import Corrections
from storage.tables import MetaRow
from storage.vault import Vault
from tests.e2e import ensure_master_key
from tests.test_index import make_id_number, make_phone
from tests.test_requests import PASSWORD, USERS, Cli, _audit, _cli, _last_audit_id
from web.access import Identity, Role
from web.app import create_app
from web.users import Users

OWN = UnitRef(building="3", unit="2", room="1201")
OTHER = UnitRef(building="5", unit="1", room="502")
OWNER = "王伟"


@dataclass
class Archive:
    """A home with users of every role; documents are added by each test."""

    home: Path
    db_url: str | None
    work: Path

    @property
    def settings(self) -> Settings:
        return Settings(home=self.home, db_url=self.db_url)

    def vault(self) -> Vault:
        return Vault.open(self.settings)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def archive(request: pytest.FixtureRequest, tmp_path: Path) -> Archive:
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    home = tmp_path / "home"
    ensure_master_key({"DANGAN_HOME": str(home)})
    found = Archive(home=home, db_url=db_url, work=tmp_path / "scans")
    found.work.mkdir()
    with closing(found.vault()) as vault:
        users = Users.of_index(vault.index)
        for role, name in USERS.items():
            users.add(name, role, PASSWORD, unit=OWN if role is Role.OWNER else None)
    return found


def store(vault: Vault, archive: Archive, seed: int, doc_type: str, values: dict[str, str],
          unit: UnitRef | None = None, *, unsure: tuple[str, ...] = ()) -> str:
    """One document stored and indexed as ingest does it: fields read surely unless named in ``unsure``."""
    path = archive.work / f"scan_{seed}.pdf"
    path.write_bytes(f"%PDF-1.4 scan {seed}\n".encode() * 20)
    data = path.read_bytes()
    source = SourceFile(path=path, name=path.name, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                        kind=FileKind.PDF, page_count=1)
    page = OcrPage(index=0, engine="rapidocr", width=2480, height=3508,
                   lines=(OcrLine(text=f"第{seed}号文件", box=(100, 100, 900, 160), confidence=0.99),))
    fields = {k: FieldValue(name=k, value=v, confidence=0.9 if k in unsure else 0.995) for k, v in values.items()}
    if unit is not None:
        fields |= {k: FieldValue(name=k, value=v, confidence=1.0) for k, v in unit.model_dump().items()}
    extraction = Extraction(doc_type=doc_type, doc_type_confidence=0.95, fields=fields, page_indices=(0,))
    run_id = vault.begin_run()
    return vault.store_file(source=source, pages=[page], documents=[extraction], run_id=run_id)[0]


def register(vault: Vault, role: Role = Role.LEADERSHIP) -> PeopleRegister:
    return PeopleRegister(vault.index, Identity(name=USERS.get(role, "local:test"), role=role,
                                                unit=OWN if role is Role.OWNER else None))


def registration(name: str, number: str, phone: str, move_in: str = "2019-05-01") -> dict[str, str]:
    return {"owner_name": name, "id_number": number, "phone": phone, "move_in_date": move_in,
            "emergency_contact": "李娜", "emergency_phone": "13900001111"}


def contract(buyer: str, number: str, signed: str = "2018-03-02") -> dict[str, str]:
    return {"buyer_name": buyer, "buyer_id_number": number, "seller_name": "锦绣置业有限公司",
            "contract_number": "HT-2018-0012", "signing_date": signed}


def card(name: str, number: str) -> dict[str, str]:
    return {"name": name, "id_number": number, "sex": "男", "address": "北京市东城区和平里街道1号院"}


def people_rows(vault: Vault) -> list[PersonLinkRow]:
    with vault.index.engine.connect() as c:
        return list(c.execute(select(PersonLinkRow)).all())  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the register


def test_one_person_across_registration_contract_and_id_card_copy(archive: Archive) -> None:
    """Linked by ID number; the ID copy without a unit joins its owner's archive; current owners from the newest."""
    number, phone = make_id_number(__import__("random").Random(1)), make_phone(__import__("random").Random(1))
    with closing(archive.vault()) as vault:
        reg = store(vault, archive, 1, "owner_registration", registration(OWNER, number, phone), OWN)
        co_buyers = contract(f"{OWNER}、张敏", number, "2021-06-30")
        del co_buyers["buyer_id_number"]  # two buyers, one ID number line: no one's in particular
        buy = store(vault, archive, 2, "purchase_contract", co_buyers, OWN)
        copy = store(vault, archive, 3, "id_card", card(OWNER, number))  # no unit printed, none given
        detail = vault.index.get_document(copy)
        assert detail.archive_id == vault.index.get_document(reg).archive_id
        assert detail.unit == OWN and detail.unit_source == "id_number" and detail.status == "indexed"
        assert vault.index.search("", unit=OWN, doc_type="id_card")[0].id == copy  # found by its archive's unit

        record = register(vault).archive(unit=OWN)
        assert [d.id for d in record.documents] == [reg, buy, copy]
        wang = next(p for p in record.people if p.name == mask_name(OWNER))
        # The contract names him without an ID number: he is the one 王伟 of the archive linked by one.
        assert set(wang.roles) == {"owner", "holder", "buyer"} and set(wang.documents) == {reg, copy, buy}
        assert wang.linked_by_id
        assert wang.id_number == number[:6] + "********" + number[-4:] and wang.phone == phone[:3] + "****" + phone[-4:]
        roles = {r for p in record.people for r in p.roles}
        assert roles == {"owner", "holder", "emergency_contact", "buyer", "co_owner", "seller"}
        # The contract (signed 2021) is newer than the registration (moved in 2019): its two buyers own the unit.
        assert record.owners_from == buy
        assert sorted(p.name for p in record.current_owners) == sorted([mask_name(OWNER), mask_name("张敏")])

        # The same person without a co-buyer: one person with three roles, three documents.
        buy2 = store(vault, archive, 4, "purchase_contract", contract(OWNER, number, "2017-01-01"), OWN)
        wang = next(p for p in register(vault).archive(unit=OWN).people if p.name == mask_name(OWNER))
        assert set(wang.roles) == {"owner", "holder", "buyer"} and set(wang.documents) == {reg, copy, buy, buy2}

        found = register(vault).find(id_number=number.lower())
        assert len(found) == 1 and [a.place for a in found[0].archives] == [str(OWN)]
        assert set(found[0].archives[0].roles) == {"owner", "holder", "buyer"}
        # Nothing in plain text: no ID number, phone or name in the register's rows.
        for row in people_rows(vault):
            assert number not in repr(row) and phone not in repr(row) and OWNER not in repr(row)
        # Re-ingest of the same file: nothing twice.
        before = len(people_rows(vault))
        assert store(vault, archive, 3, "id_card", card(OWNER, number)) == copy
        assert len(people_rows(vault)) == before


def test_an_id_number_in_two_active_archives_needs_review(archive: Archive) -> None:
    number = make_id_number(__import__("random").Random(2))
    with closing(archive.vault()) as vault:
        store(vault, archive, 1, "owner_registration", registration(OWNER, number, "13800001234"), OWN)
        store(vault, archive, 2, "purchase_contract", contract(OWNER, number), OTHER)
        copy = store(vault, archive, 3, "id_card", card(OWNER, number))
        detail = vault.index.get_document(copy)
        assert detail.archive_id is None and detail.status == "needs_review"
        issue = detail.issues["id_number"]
        assert "3-2-1201" in issue and "5-1-502" in issue and number not in issue
        found = register(vault).find(id_number=number)
        # Its own ID number waits for review with the rest of it: not linked until a person checks it.
        assert sorted(a.place or "-" for a in found[0].archives) == [str(OWN), str(OTHER)]


def test_the_same_name_with_another_id_number_is_not_linked(archive: Archive) -> None:
    rng = __import__("random").Random(3)
    first, second = make_id_number(rng), make_id_number(rng)
    with closing(archive.vault()) as vault:
        store(vault, archive, 1, "owner_registration", registration(OWNER, first, "13800001234"), OWN)
        copy = store(vault, archive, 2, "id_card", card(OWNER, second))
        assert vault.index.get_document(copy).archive_id is None  # a name alone files nothing
        assert [a.place for a in register(vault).find(id_number=second)[0].archives] == [None]
        namesakes = register(vault).find(name=OWNER)
        assert len(namesakes) == 2  # two people of one name, kept apart


def test_a_doubtful_id_number_files_nothing_until_a_person_confirms_it(archive: Archive) -> None:
    number = make_id_number(__import__("random").Random(4))
    with closing(archive.vault()) as vault:
        reg = store(vault, archive, 1, "owner_registration", registration(OWNER, number, "13800001234"), OWN)
        copy = store(vault, archive, 2, "id_card", card(OWNER, number), unsure=("id_number",))
        detail = vault.index.get_document(copy)
        assert detail.archive_id is None and detail.status == "needs_review"
        assert "not read surely" in detail.issues["id_number"] and "3-2-1201" in detail.issues["id_number"]
        assert [a.place for a in register(vault).find(id_number=number)[0].archives] == [str(OWN)]  # not linked

        Corrections.open(vault.index, vault.keys).apply(copy, "id_number", None, actor="qiantai", role="clerk")
        detail = vault.index.get_document(copy)
        assert detail.archive_id == vault.index.get_document(reg).archive_id and detail.unit_source == "id_number"
        assert detail.status == "indexed"
        assert {d.id for a in register(vault).find(id_number=number)[0].archives for d in a.documents} == {reg, copy}


def test_a_corrected_id_number_or_name_moves_the_link(archive: Archive) -> None:
    rng = __import__("random").Random(5)
    wrong, right = make_id_number(rng), make_id_number(rng)
    with closing(archive.vault()) as vault:
        reg = store(vault, archive, 1, "owner_registration", registration(OWNER, wrong, "13800001234"), OWN)
        corrections = Corrections.open(vault.index, vault.keys)
        corrections.apply(reg, "id_number", right, actor="qiantai", role="clerk")
        assert register(vault).find(id_number=wrong) == []
        assert [a.place for a in register(vault).find(id_number=right)[0].archives] == [str(OWN)]
        corrections.apply(reg, "owner_name", "王玮", actor="qiantai", role="clerk")
        assert register(vault).find(name=OWNER) == []
        assert register(vault).find(name="王玮")[0].name == mask_name("王玮")
        revealed = register(vault).find(id_number=right, reveal=True)[0]
        assert (revealed.name, revealed.id_number) == ("王玮", right)


def test_an_index_made_before_the_register_is_filled_on_open(archive: Archive) -> None:
    number = make_id_number(__import__("random").Random(6))
    with closing(archive.vault()) as vault:
        reg = store(vault, archive, 1, "owner_registration", registration(OWNER, number, "13800001234"), OWN)
        expected = len(people_rows(vault))
        with vault.index.write_engine.begin() as c:  # as an older dangan left it: no register at all
            c.execute(text("DROP TABLE people"))
            c.execute(delete(MetaRow).where(MetaRow.key == LAYOUT_KEY))
    with closing(archive.vault()) as vault:
        assert len(people_rows(vault)) == expected > 0
        assert [d.id for a in register(vault).find(id_number=number)[0].archives for d in a.documents] == [reg]
        with vault.index.engine.connect() as c:
            assert c.scalar(select(func.count()).select_from(MetaRow).where(MetaRow.key == LAYOUT_KEY)) == 1


# --------------------------------------------------------------------------- access


def test_who_sees_an_archive_and_its_people(archive: Archive) -> None:
    number = make_id_number(__import__("random").Random(7))
    with closing(archive.vault()) as vault:
        store(vault, archive, 1, "owner_registration", registration(OWNER, number, "13800001234"), OWN)
        store(vault, archive, 2, "owner_registration", registration("张敏", make_id_number(
            __import__("random").Random(8)), "13800005678"), OTHER)
        before = _last_audit_id(archive)  # type: ignore[arg-type]
        with pytest.raises(LoanRequired):
            register(vault, Role.CLERK).archive(unit=OWN)
        with pytest.raises(AccessDenied):
            register(vault, Role.OWNER).archive(unit=OTHER)
        with pytest.raises(AccessDenied):
            register(vault, Role.OWNER).find(id_number=number)
        masked = register(vault, Role.OWNER).archive(unit=OWN)
        assert masked.people[0].name == mask_name(OWNER) and not masked.revealed
        with pytest.raises(AccessDenied):
            register(vault, Role.OWNER).archive(unit=OWN, reveal=True)
        refused = [(e.actor, e.action, (e.detail or {}).get("reason")) for e in _audit(archive, before)  # type: ignore[arg-type]
                   if (e.detail or {}).get("outcome") == "refused"]
        assert refused == [("qiantai", "view_archive", "no_loan"), ("yezhu", "view_document", None),
                           ("yezhu", "find_person", None), ("yezhu", "reveal_pii", None)]

        manager = LoanRegister.open(vault.index, Identity(name="guanliyuan", role=Role.ARCHIVE_MANAGER))
        clerk = Identity(name="qiantai", role=Role.CLERK)
        manager.approve(LoanRegister(vault.index, clerk).request("核对业主信息", unit=OWN).id)
        assert register(vault, Role.CLERK).archive(unit=OWN).people[0].id_number == number[:6] + "********" + \
            number[-4:]
        full = register(vault, Role.LEADERSHIP).archive(unit=OWN, reveal=True)
        owner = full.current_owners[0]
        assert (owner.name, owner.id_number, owner.phone) == (OWNER, number, "13800001234")
        done = [(e.actor, e.action, (e.detail or {}).get("revealed")) for e in _audit(archive, before)  # type: ignore[arg-type]
                if (e.detail or {}).get("outcome") == "done" and e.action in ("view_archive", "reveal_pii")]
        assert done == [("yezhu", "view_archive", False), ("qiantai", "view_archive", False),
                        ("lingdao", "reveal_pii", True)]
        for entry in _audit(archive, before):  # type: ignore[arg-type]
            assert number not in json.dumps(entry.model_dump(mode="json"), ensure_ascii=False)


@pytest.fixture
def run(archive: Archive, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    return _cli(archive, monkeypatch, capsys)  # type: ignore[arg-type]


def test_the_commands_show_an_archive_and_find_a_person(archive: Archive, run: Cli) -> None:
    number, phone = make_id_number(__import__("random").Random(9)), "13800001234"
    with closing(archive.vault()) as vault:
        store(vault, archive, 1, "owner_registration", registration(OWNER, number, phone), OWN)
        copy = store(vault, archive, 2, "id_card", card(OWNER, number))
    code, out, err = run(Role.ARCHIVE_MANAGER, "archive", "show", "3栋2单元1201")
    assert code == 0, err
    assert "current owner(s) (现业主): 王* 110105********" in out and number not in out and phone not in out
    assert f"{copy}  居民身份证复印件" in out and "filed by ID number to the archive of its owner" in out
    code, out, err = run(Role.ARCHIVE_MANAGER, "archive", "show", "3-2-1201", "--reveal", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["current_owners"][0]["id_number"] == number and shown["revealed"]

    before = _last_audit_id(archive)  # type: ignore[arg-type]
    code, _, err = run(Role.CLERK, "archive", "show", "3-2-1201", "--reveal")
    assert code == ExitCode.ACCESS_DENIED and "may not see full ID numbers and phones" in err
    code, _, err = run(Role.CLERK, "archive", "show", "3-2-1201")
    assert code == ExitCode.ACCESS_DENIED and "dangan loan request 3-2-1201" in err, err
    code, _, err = run(Role.EXTERNAL_AUTHORITY, "person", number)
    assert code == ExitCode.ACCESS_DENIED, err
    refused = [(e.actor, e.action) for e in _audit(archive, before)  # type: ignore[arg-type]
               if (e.detail or {}).get("outcome") == "refused"]
    assert refused == [("qiantai", "reveal_pii"), ("qiantai", "view_archive"), ("jingcha", "find_person")]

    code, out, err = run(Role.CLERK, "person", number)
    assert code == 0, err
    assert "3-2-1201  as owner, holder" in out and number not in out
    code, out, err = run(Role.CLERK, "person", "110105199901011234")
    assert code == InvalidRequest.exit_code and "not a valid ID number" in err and "110105199901011234" not in err
    lookups = [e for e in _audit(archive, before) if e.action == "find_person"]  # type: ignore[arg-type]
    assert [(e.actor, (e.detail or {}).get("outcome")) for e in lookups] == [("jingcha", "refused"),
                                                                             ("qiantai", "done")]


# --------------------------------------------------------------------------- the API and the page


@pytest.fixture
def service(archive: Archive) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    app = create_app(archive.settings)
    with TestClient(app, base_url="http://testserver") as client:
        tokens = {role: app.state.users.create_token(name) for role, name in USERS.items()}
        yield client, tokens


def test_the_api_and_the_archive_page(archive: Archive, service: tuple[TestClient, dict[Role, str]]) -> None:
    client, tokens = service
    number, phone = make_id_number(__import__("random").Random(10)), "13800001234"
    with closing(archive.vault()) as vault:
        store(vault, archive, 1, "owner_registration", registration(OWNER, number, phone), OWN)

    def call(role: Role, path: str) -> httpx.Response:
        return client.get(path, headers={"Authorization": f"Bearer {tokens[role]}"})

    shown = call(Role.OWNER, "/api/archives?unit=3栋2单元1201")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["current_owners"][0]["name"] == mask_name(OWNER) and number not in shown.text
    assert call(Role.OWNER, "/api/archives?unit=5-1-502").status_code == 403
    assert call(Role.OWNER, f"/api/archives/{body['id']}?reveal=true").status_code == 403
    assert call(Role.CLERK, f"/api/archives/{body['id']}").json()["error"] == "loan_required"
    full = call(Role.LEADERSHIP, f"/api/archives/{body['id']}?reveal=true").json()
    assert full["current_owners"][0]["phone"] == phone
    found = call(Role.AUDITOR, f"/api/people?id_number={number}")
    assert found.status_code == 200 and found.json()[0]["archives"][0]["archive_id"] == body["id"]
    assert number not in found.text
    assert call(Role.EXTERNAL_AUTHORITY, f"/api/people?id_number={number}").status_code == 403
    assert call(Role.AUDITOR, f"/api/people?id_number={number}&reveal=true").status_code == 403

    page = call(Role.ARCHIVE_MANAGER, f"/archives/{body['id']}")
    assert page.status_code == 200 and "现业主" in page.text and mask_name(OWNER) in page.text
    assert number not in page.text and "显示完整信息" in page.text
    printout = f"/api/archives/{body['id']}/catalogue.pdf"
    assert printout in page.text and f"/api/archives/{body['id']}/labels.pdf" in page.text
    pdf = call(Role.ARCHIVE_MANAGER, printout)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    own = call(Role.OWNER, f"/archives/{body['id']}")
    assert own.status_code == 200 and "catalogue.pdf" not in own.text  # an owner prints no catalogue
    assert call(Role.CLERK, f"/archives/{body['id']}").status_code == 403  # the loan request form
    refusals = [(e.actor, e.action) for e in _audit(archive) if (e.detail or {}).get("outcome") == "refused"]  # type: ignore[arg-type]
    assert refusals == [("yezhu", "view_document"), ("yezhu", "reveal_pii"), ("qiantai", "view_archive"),
                        ("jingcha", "find_person"), ("shenji", "reveal_pii"), ("qiantai", "view_archive")]


# --------------------------------------------------------------------------- through the real ingest


def _owner_card(household: object, first_seed: int) -> object:
    """An ID card copy of the household's owner (the template sometimes copies another person's card)."""
    import random

    from schemas.documents import DocType
    from tests.synth.templates import make_document

    for seed in range(first_seed, first_seed + 50):
        doc = make_document(DocType.ID_CARD, random.Random(seed), household)  # type: ignore[arg-type]
        if doc.truth["id_number"] == household.owner.id_number:  # type: ignore[attr-defined]
            return doc
    raise AssertionError("no seed gave the owner's card")


@pytest.mark.integration
def test_an_id_card_copy_without_a_unit_joins_its_owners_archive_through_dangan_ingest(tmp_path: Path) -> None:
    """The owner's papers in the unit's folder, then a copy of the owner's ID card (another layout) on its own."""
    import dataclasses
    import random

    from schemas.documents import DocType
    from tests.e2e import run_dangan
    from tests.synth.fake import UnitRef as SynthUnit
    from tests.synth.render import FontBook, render_document
    from tests.synth.templates import make_document, make_household

    dpi, fonts = 200, FontBook()
    household = dataclasses.replace(make_household(random.Random(41)), unit=SynthUnit("3", "2", "1201"))
    number = household.owner.id_number
    env = {"DANGAN_HOME": str(tmp_path / "home"), "DANGAN_SETTLE_SECONDS": "0"}

    def save(doc: object, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        render_document(doc, dpi, fonts)[0].convert("RGB").save(path, resolution=dpi)  # type: ignore[arg-type]

    first = tmp_path / "inbox1"
    save(make_document(DocType.OWNER_REGISTRATION, random.Random(41), household), first / "3-2-1201" / "reg.pdf")
    save(_owner_card(household, 100), first / "3-2-1201" / "card.pdf")
    result = run_dangan(["ingest", str(first), "--quiet"], env)
    assert result.code == 0, result.stdout + result.stderr

    second = tmp_path / "inbox2"
    save(_owner_card(household, 200), second / "scan_0001.pdf")  # no unit printed, none in the path
    result = run_dangan(["ingest", str(second), "--quiet"], env)
    assert result.code == 0, result.stdout + result.stderr

    export = tmp_path / "export.jsonl"
    assert run_dangan(["export", "--jsonl", str(export)], env).code == 0
    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    copy = next(line for line in lines if line["source_name"] == "scan_0001.pdf")
    assert copy["doc_type"] == "id_card"
    assert copy["unit"] == {"building": "3", "unit": "2", "room": "1201"} and copy["unit_source"] == "id_number"

    shown = run_dangan(["archive", "show", "3栋2单元1201"], env)
    assert shown.code == 0, shown.stderr
    assert f"{copy['id']}  居民身份证复印件" in shown.stdout and "filed by ID number" in shown.stdout
    assert number not in shown.stdout and number[:6] + "********" + number[-4:] in shown.stdout
    found = run_dangan(["person", number, "--json"], env)
    assert found.code == 0, found.stderr
    places = json.loads(found.stdout)[0]["archives"]
    assert [p["place"] for p in places] == ["3-2-1201"] and "holder" in places[0]["roles"]
    assert copy["id"] in {d["id"] for d in places[0]["documents"]}
