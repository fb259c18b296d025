"""Who may stop, resume or delete a run: single-user mode lets anyone, class mode only the
browser that started the run; the registry itself refuses the others (a page that shows a
button by mistake, or a crafted request, is still refused)."""
from __future__ import annotations

import json

import pytest
import torch

from playground import runs, training
from playground.runs import owners
from tests.unit.test_training import quick_config, wait_for

torch.set_num_threads(1)


@pytest.mark.parametrize("address, env, mode", [
    ("127.0.0.1", {}, "single"), ("localhost", {}, "single"), ("::1", {}, "single"),
    ("127.4.5.6", {}, "single"), ("0.0.0.0", {}, "class"), ("", {}, "class"), (None, {}, "class"),
    ("192.168.1.20", {}, "class"), ("127.0.0.1", {"PLAYGROUND_MODE": "class"}, "class"),
    ("0.0.0.0", {"PLAYGROUND_MODE": " Single "}, "single"), ("0.0.0.0", {"PLAYGROUND_MODE": "bogus"}, "class"),
])
def test_the_mode_follows_the_address_unless_the_env_names_one(address, env, mode):
    assert owners.server_mode(address, env) == mode


def test_tokens_are_random_and_runs_record_only_their_hash():
    a, b = owners.new_token(), owners.new_token()
    assert a != b and len(a) >= 20
    ia = owners.owner_id(a)
    assert ia == owners.owner_id(a) and ia != owners.owner_id(b) and a not in ia
    assert owners.owner_id("") is None and owners.owner_id(None) is None


def test_the_rule():
    me, other = owners.owner_id("me-token-xxxxxxxxxx"), owners.owner_id("other-token-xxxxxxx")
    for run_owner in (me, other, None):
        for who in (me, other, None):
            assert owners.may_control("single", run_owner, who)
    assert owners.may_control("class", me, me)
    assert not owners.may_control("class", other, me)
    assert not owners.may_control("class", None, me)        # a CLI run: stop it there
    assert not owners.may_control("class", None, None)      # no browser owns no-owner runs
    with pytest.raises(owners.NotYourRun, match="started in another browser"):
        owners.check("class", other, me, "stop")
    with pytest.raises(owners.NotYourRun, match="started from the command line"):
        owners.check("class", None, me, "resume")
    assert "stop it there" in owners.caption(None, me)
    assert "another browser" in owners.caption(other, me)


def test_class_mode_registry_refuses_stop_resume_delete_from_another_browser(tmp_path):
    mine, theirs = owners.owner_id(owners.new_token()), owners.owner_id(owners.new_token())
    reg = runs.Registry(tmp_path, mode="class")
    rid = reg.start(quick_config(epochs=50, batch_size=8), owner=mine)
    run = reg.get(rid)
    assert json.loads((tmp_path / rid / "owner.json").read_text()) == {"owner": mine}
    info = runs.find_run(rid, tmp_path)
    assert info.owner == mine and reg.may_control(info, mine) and not reg.may_control(info, theirs)
    assert wait_for(lambda: len(run.steps) >= 2, 60)
    for action in (lambda: reg.stop(rid, owner=theirs), lambda: reg.stop(rid),
                   lambda: reg.delete(rid, owner=theirs)):
        with pytest.raises(owners.NotYourRun, match="another browser"):
            action()
    assert not run.done.is_set() and run.status == "running"        # still training
    assert reg.stop(rid, owner=mine)
    assert run.done.wait(30) and run.status == "stopped"
    with pytest.raises(owners.NotYourRun):
        reg.resume(rid, owner=theirs)
    with pytest.raises(owners.NotYourRun):
        runs.stop_remote(runs.find_run(rid, tmp_path), mode="class", owner=theirs)
    reg.delete(rid, owner=mine)
    assert not (tmp_path / rid).exists() and runs.find_run(rid, tmp_path) is None


def test_single_mode_lets_anyone_and_a_cli_run_has_no_owner(tmp_path):
    reg = runs.Registry(tmp_path)                       # the library's default: single user
    rid = reg.start(quick_config(epochs=50, batch_size=8))
    assert not (tmp_path / rid / "owner.json").exists() and runs.find_run(rid, tmp_path).owner is None
    with pytest.raises(owners.NotYourRun, match="command line"):      # a server's mode, per call
        reg.stop(rid, owner=owners.owner_id("somebody-else-xxxxx"), mode="class")
    assert reg.stop(rid, owner=owners.owner_id("somebody-else-xxxxx"))
    assert reg.get(rid).done.wait(30)
    with pytest.raises(owners.NotYourRun, match="command line"):
        runs.Registry(tmp_path, mode="class").delete(rid, owner=owners.owner_id("a-browser-xxxxxxx"))
    reg.delete(rid)
    assert not (tmp_path / rid).exists()


def test_a_going_run_is_not_deleted(tmp_path):
    reg = runs.Registry(tmp_path)
    rid = reg.start(quick_config(epochs=50, batch_size=8))
    try:
        with pytest.raises(training.TrainingError, match="stop it first"):
            reg.delete(rid)
        assert (tmp_path / rid).is_dir()
    finally:
        reg.stop(rid)
        reg.get(rid).done.wait(30)
