"""Undo takes back only the page's own label, and only within the settle time."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from experiments.dashboard import create_app
from experiments.rundir import RunDir
from reward_clients.human import current_labels
from tests.fixtures.dashboard_run import PENDING, make_sample_run

# The run's `human` client takes a label this old; the page's undo closes a second before.
SETTLE_S = 2.0


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("dashboard-undo")
    return {
        "human-web": make_sample_run(base / "human", episodes=3, reward="human",
                                     overrides=["reward.web=true", f"reward.labels_settle_s={SETTLE_S}"]),
        "roboreward": make_sample_run(base / "robo", episodes=3),
    }


def copy_of(templates, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(templates[name], tmp_path / name))


def label_rows(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines()]


def post(client, path, body):
    return client.post(path, json=body)


def test_another_page_cannot_undo_a_label(templates, tmp_path):
    root = copy_of(templates, "human-web", tmp_path)
    client = create_app(root).test_client()
    eid = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    assert eid == RunDir(root).episode_ids()[-PENDING]  # waiting for the run's reward
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 4, "labeller": "alice"}).status_code == 200

    refused = post(client, "/api/label/undo", {"page": "B", "episode_id": eid, "labeller": "alice"})
    assert refused.status_code == 403
    message = refused.get_json()["error"]
    assert "another page" in message and "only the page that gave it" in message and "nothing was written" in message
    assert len(label_rows(root)) == 1 and current_labels(label_rows(root))[eid]["score"] == 4
    # Nor can a second dashboard on the same run, whatever page id it is sent.
    other = create_app(root).test_client()
    assert post(other, "/api/label/undo", {"page": "A", "episode_id": eid}).status_code == 403
    assert len(label_rows(root)) == 1

    mine = post(client, "/api/label/undo", {"page": "A", "episode_id": eid})
    assert mine.status_code == 200 and mine.get_json()["undone"]["score"] == 4
    assert eid not in current_labels(label_rows(root))


def test_undo_closes_when_the_label_settles(templates, tmp_path):
    root = copy_of(templates, "human-web", tmp_path)
    client = create_app(root).test_client()
    assert client.get("/api/label/next?page=A").get_json()["undo_window_s"] == SETTLE_S - 1.0
    eid = RunDir(root).episode_ids()[-1]
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 2}).status_code == 200
    time.sleep(SETTLE_S - 0.9)
    late = post(client, "/api/label/undo", {"page": "A", "episode_id": eid})
    assert late.status_code == 409 and "no longer be undone" in late.get_json()["error"]
    assert current_labels(label_rows(root))[eid]["score"] == 2 and len(label_rows(root)) == 1


def test_without_a_human_reward_undo_still_closes_after_the_default_settle_time(templates, tmp_path, monkeypatch):
    root = copy_of(templates, "roboreward", tmp_path)
    client = create_app(root).test_client()
    assert client.get("/api/label/next?page=A").get_json()["undo_window_s"] == 10.0
    first, second = RunDir(root).episode_ids()[:2]
    assert post(client, "/api/label", {"page": "A", "episode_id": first, "score": 5}).status_code == 200
    assert post(client, "/api/label/undo", {"page": "B", "episode_id": first}).status_code == 403
    assert post(client, "/api/label/undo", {"page": "A", "episode_id": first}).status_code == 200

    assert post(client, "/api/label", {"page": "A", "episode_id": second, "score": 3}).status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 10.5)
    late = post(client, "/api/label/undo", {"page": "A", "episode_id": second})
    assert late.status_code == 409 and "no longer be undone" in late.get_json()["error"]
    assert current_labels(label_rows(root))[second]["score"] == 3
