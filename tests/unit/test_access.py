"""The access rules, for every role: pure functions of the actor, each with its one refusal."""

from __future__ import annotations

import ast
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from escrowgrid.application import access
from escrowgrid.application.context import ROOT, Actor, ActorRole
from escrowgrid.application.errors import Forbidden
from escrowgrid.domain.errors import ValidationError

OWN = uuid4()
OTHER = uuid4()
ADMIN = Actor(key_id="a", role=ActorRole.ADMIN, institution_id=OWN)
READER = Actor(key_id="r", role=ActorRole.READ_ONLY, institution_id=OWN)
KEYS = (ADMIN, READER)
EVERY_ROLE = (ROOT, *KEYS)


def _refused(message: str) -> AbstractContextManager[Any]:
    return pytest.raises(Forbidden, match=f"^{message}$")


def test_every_role_is_covered() -> None:
    assert {a.role for a in EVERY_ROLE} == set(ActorRole)


def test_each_rule_has_one_distinct_forbidden_message() -> None:
    messages = [
        access.ANOTHER_INSTITUTION,
        access.ADMIN_REQUIRED,
        access.ROOT_REQUIRED,
        access.READ_ONLY,
    ]
    assert len(set(messages)) == len(messages)
    assert all(m.startswith("Forbidden: ") for m in messages)


def test_root_acts_for_every_institution() -> None:
    for institution in (OWN, OTHER):
        assert access.may_act_for(ROOT, institution)
        access.require_tenant(ROOT, institution)


@pytest.mark.parametrize("actor", KEYS, ids=lambda a: a.role.value)
def test_a_key_acts_for_its_own_institution_only(actor: Actor) -> None:
    assert access.may_act_for(actor, OWN)
    access.require_tenant(actor, OWN)
    assert not access.may_act_for(actor, OTHER)
    with _refused(access.ANOTHER_INSTITUTION):
        access.require_tenant(actor, OTHER)


def test_admin_is_root_or_an_admin_key() -> None:
    for actor in (ROOT, ADMIN):
        assert access.is_admin(actor)
        access.require_admin(actor)
    assert not access.is_admin(READER)
    with _refused(access.ADMIN_REQUIRED):
        access.require_admin(READER)


def test_root_only_is_the_root_key() -> None:
    access.require_root(ROOT)
    for actor in KEYS:
        with _refused(access.ROOT_REQUIRED):
            access.require_root(actor)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_read_only_key_may_not_write(method: str) -> None:
    for actor in (ROOT, ADMIN):
        assert access.may_write(actor, method)
        access.require_writer(actor, method)
    assert not access.may_write(READER, method)
    with _refused(access.READ_ONLY):
        access.require_writer(READER, method)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_every_role_may_read(method: str) -> None:
    for actor in EVERY_ROLE:
        assert access.may_write(actor, method)
        access.require_writer(actor, method)


def test_lists_show_roots_choice_or_the_keys_own_institution() -> None:
    assert access.own_scope(ROOT) is None
    assert access.list_scope(ROOT, None) is None
    assert access.list_scope(ROOT, OTHER) == OTHER
    for actor in KEYS:
        assert access.own_scope(actor) == OWN
        assert access.list_scope(actor, None) == OWN
        assert access.list_scope(actor, OWN) == OWN


def test_a_write_is_for_the_named_institution_or_the_keys_own() -> None:
    assert access.acting_for(ROOT, OTHER) == OTHER
    with pytest.raises(ValidationError) as caught:
        access.acting_for(ROOT, None)
    assert [(d.field, d.message) for d in caught.value.details] == [
        ("institutionId", "is required with the root key")
    ]
    for actor in KEYS:
        assert access.acting_for(actor, None) == OWN
        assert access.acting_for(actor, OWN) == OWN
        with _refused(access.ANOTHER_INSTITUTION):
            access.acting_for(actor, OTHER)


def test_a_key_must_name_what_root_may_read_across_institutions() -> None:
    access.require_filter(ROOT, None, "positionId")
    for actor in EVERY_ROLE:
        access.require_filter(actor, "p", "positionId")
    for actor in KEYS:
        with pytest.raises(ValidationError) as caught:
            access.require_filter(actor, None, "positionId")
        assert [(d.field, d.message) for d in caught.value.details] == [
            ("positionId", "is required for institution keys")
        ]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names.add(node.module)
    return names


def test_the_rules_are_pure() -> None:
    """No I/O and no web framework: the standard library, the domain and the application layer."""
    ours = ("escrowgrid.domain", "escrowgrid.application")
    outside = {
        name
        for name in _imports(Path(access.__file__))
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith(ours)
    }
    assert not outside
    assert not {"asyncio", "socket", "io"} & _imports(Path(access.__file__))
