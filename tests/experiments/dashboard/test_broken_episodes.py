"""One episode with a malformed meta.json: every page and API still answers, lists the others
and marks that one; it is left out of labelling and of the oracle comparison."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from experiments.dashboard import create_app
from experiments.rundir import RunDir
from tests.fixtures.dashboard_run import make_sample_run

EPISODES = 6
# Index of the episode whose meta.json is damaged: a scored one, so every page has to handle it.
BROKEN = 2


def _edited(**fields):
    """A corruption that keeps meta.json a JSON object but changes (None: drops) some fields."""
    def corrupt(meta: dict) -> str:
        for key, value in fields.items():
            if value is None:
                meta.pop(key)
            else:
                meta[key] = value
        return json.dumps(meta)
    return corrupt


CORRUPTIONS = {
    "invalid JSON": lambda meta: '{"episode_id": "x", "task": ',
    "empty file": lambda meta: "",
    "a list": lambda meta: "[1, 2, 3]",
    "fps a string": _edited(fps="fast"),
    "infos a number": _edited(infos=5),
    "metadata a list": _edited(metadata=[1, 2]),
    "oracle_score a string": _edited(oracle_score="3"),
    "ended_at a string": _edited(ended_at="late"),
    "safety_events a word": _edited(infos=[{"safety_events": "many"}]),
    "task missing": _edited(task=None),
    "fps missing": _edited(fps=None),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_sample_run(tmp_path_factory.mktemp("dashboard-broken") / "run", episodes=EPISODES)


@pytest.fixture(params=sorted(CORRUPTIONS))
def broken_run(request, template, tmp_path):
    """A copy of the sample run whose BROKEN-th episode has a damaged meta.json, and its id."""
    root = Path(shutil.copytree(template, tmp_path / "run"))
    eid = RunDir(root).episode_ids()[BROKEN]
    path = root / "episodes" / eid / "meta.json"
    path.write_text(CORRUPTIONS[request.param](json.loads(path.read_text())))
    return root, eid


def test_every_api_answers_lists_the_others_and_marks_the_broken_episode(broken_run):
    root, broken = broken_run
    ids = RunDir(root).episode_ids()
    run = RunDir(root)
    for eid in ids[:3]:
        run.append_label(eid, 3, "alice")  # the broken episode has a label too
    client = create_app(root).test_client()

    listing = client.get("/api/episodes")
    assert listing.status_code == 200, listing.get_json()
    rows = {row["episode_id"]: row for row in listing.get_json()["episodes"]}
    assert [row["episode_id"] for row in listing.get_json()["episodes"]] == ids[::-1]
    assert rows[broken]["problem"].startswith("meta.json unreadable: ")
    assert all(rows[eid]["problem"] is None and rows[eid]["task"] for eid in ids if eid != broken)
    # What the run knows of it without meta.json still shows: its reward answers and its label.
    assert rows[broken]["sources"]["roboreward"]["score"] is not None and rows[broken]["label"]["score"] == 3
    assert any(broken in p and "meta.json unreadable" in p for p in listing.get_json()["problems"])
    for query in ("labelled=yes", "labelled=no", "source=roboreward&min_score=1", "min_disagreement=0",
                  "source=oracle_score&min_score=1"):
        filtered = client.get(f"/api/episodes?{query}")
        assert filtered.status_code == 200, (query, filtered.get_json())
    oracle_rows = client.get("/api/episodes?source=oracle_score&min_score=1").get_json()["episodes"]
    assert {row["episode_id"] for row in oracle_rows} == set(ids) - {broken}

    detail = client.get(f"/api/episodes/{broken}")
    assert detail.status_code == 200 and detail.get_json()["problem"] == rows[broken]["problem"]
    assert client.get(f"/api/episodes/{ids[0]}").get_json()["problem"] is None

    overview = client.get("/api/overview")
    assert overview.status_code == 200 and overview.get_json()["counts"]["collected"] == EPISODES
    assert any(broken in p for p in overview.get_json()["problems"])
    assert client.get("/api/curves").status_code == 200

    for source in ("roboreward", "oracle_score"):
        agreement = client.get(f"/api/agreement?source={source}")
        assert agreement.status_code == 200, agreement.get_json()
        assert any(broken in p for p in agreement.get_json()["problems"])
    assert client.get("/api/agreement?source=roboreward").get_json()["n"] == 3
    assert client.get("/api/agreement?source=oracle_score").get_json()["n"] == 2  # the broken one has no oracle

    for page in ("/", "/episodes", "/label", "/agreement"):
        assert client.get(page).status_code == 200, page


def test_the_labelling_queue_skips_the_broken_episode_and_refuses_to_label_it(broken_run):
    root, broken = broken_run
    ids = RunDir(root).episode_ids()
    client = create_app(root).test_client()
    leased = []
    for page in range(EPISODES + 1):
        answer = client.get(f"/api/label/next?page=p{page}")
        assert answer.status_code == 200, answer.get_json()
        if answer.get_json()["episode"] is not None:
            leased.append(answer.get_json()["episode"]["episode_id"])
    assert sorted(leased) == sorted(set(ids) - {broken})
    refused = client.post("/api/label", json={"page": "p9", "episode_id": broken, "score": 3})
    assert refused.status_code == 409 and "meta.json unreadable" in refused.get_json()["error"]
    assert not (root / "labels.jsonl").exists() or RunDir(root).labels() == []
