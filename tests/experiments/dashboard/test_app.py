"""`rrl dashboard`'s HTTP API through Flask's test client, on a sample run made with the real sim."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from envs.video import decode_mp4
from experiments.dashboard import create_app, main
from experiments.dashboard.app import is_loopback
from experiments.rundir import RunDir
from reward_clients.human import current_labels
from tests.fixtures.dashboard_run import PENDING, make_sample_run


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_sample_run(tmp_path_factory.mktemp("dashboard") / "run", episodes=6)


@pytest.fixture
def root(template, tmp_path) -> Path:
    """A fresh copy of the sample run for each test (copy2 keeps the episodes' order)."""
    return Path(shutil.copytree(template, tmp_path / "run"))


@pytest.fixture
def client(root):
    return create_app(root).test_client()


def ids_of(root: Path) -> list[str]:
    return RunDir(root).episode_ids()


def label_lines(root: Path) -> list[dict]:
    path = root / "labels.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def post(client, path, body):
    return client.post(path, json=body)


# ----- run view -------------------------------------------------------------------------------
def test_overview_counts_progress_learner_and_actors(client):
    o = client.get("/api/overview").get_json()
    assert o["counts"] == {"collected": 6, "target": 10, "scored": 4, "pending": 2,
                           "failed_attempts": 2, "labelled": 0}
    assert o["config"]["reward"] == "roboreward" and o["config"]["robot"] == "widowx"
    assert o["learner"]["updates"] == 12 and o["learner"]["version"] == 9
    assert o["learner"]["last"] == {"critic_loss": 0.25, "actor_loss": pytest.approx(-0.3)}
    assert o["reward_queue"]["latency_s"] == {"n": 4, "last": 4.5, "mean": 3.0, "p50": 3.5, "p90": 4.5}
    assert o["reward_queue"]["pending"] == 2 and o["reward_queue"]["in_flight"] == 1
    assert [(a["actor"], a["episodes"]) for a in o["actors"]] == [(0, 3), (1, 3)]
    assert o["state"]["state"] == "running" and o["paused"] is False and o["problems"] == []


def test_curves_are_in_episode_order_with_a_moving_mean(client):
    c = client.get("/api/curves").get_json()
    assert [x for x, _ in c["success"]] == [0, 1, 2, 3, 4, 5]
    assert [y for _, y in c["success"]] == [0, 1, 0, 1, 0, 1]
    assert c["success_mean"][-1] == [5, 0.5]
    assert len(c["reward"]) == 4 and all(0 <= y <= 1 for _, y in c["reward"])
    assert [x for x, _ in c["queue"]] == [0, 10, 20, 30]
    assert c["latency"] == [[0, 1.5], [1, 2.5], [2, 3.5], [3, 4.5]]


def test_pause_and_resume_write_control_json(client, root):
    assert post(client, "/api/control", {"paused": True}).get_json() == {"paused": True}
    assert RunDir(root).paused() is True
    assert client.get("/api/overview").get_json()["paused"] is True
    assert post(client, "/api/control", {"paused": False}).get_json() == {"paused": False}
    assert RunDir(root).paused() is False
    bad = post(client, "/api/control", {"paused": "yes"})
    assert bad.status_code == 400 and "true or false" in bad.get_json()["error"]


def test_posts_must_be_json_from_this_origin(client, root):
    form = client.post("/api/control", data={"paused": "true"})
    assert form.status_code == 415 and "JSON" in form.get_json()["error"]
    foreign = client.post("/api/control", json={"paused": True}, headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    same = client.post("/api/control", json={"paused": True}, headers={"Origin": "http://localhost"})
    assert same.status_code == 200 and RunDir(root).paused()


# ----- episode browser ------------------------------------------------------------------------
def test_episode_list_filters_by_score_disagreement_and_label(client, root):
    rows = [json.loads(line) for line in (root / "rewards.jsonl").read_text().splitlines()]
    model = {r["episode_id"]: r["score"] for r in rows if r["score"] is not None}
    oracle = {eid: json.loads((root / "episodes" / eid / "meta.json").read_text())["oracle_score"]
              for eid in ids_of(root)}
    everything = client.get("/api/episodes").get_json()
    assert [e["episode_id"] for e in everything["episodes"]] == ids_of(root)[::-1]  # newest first
    assert everything["sources"] == ["roboreward"]

    high = client.get("/api/episodes?source=roboreward&min_score=3").get_json()["episodes"]
    assert {e["episode_id"] for e in high} == {eid for eid, s in model.items() if s >= 3}
    split = client.get("/api/episodes?min_disagreement=2").get_json()["episodes"]
    assert {e["episode_id"] for e in split} == {eid for eid, s in model.items() if abs(s - oracle[eid]) >= 2}
    assert split, "the sample's model is off by two on every third episode"
    by_oracle = client.get("/api/episodes?source=oracle_score&max_score=1").get_json()["episodes"]
    assert {e["episode_id"] for e in by_oracle} == {eid for eid, s in oracle.items() if s <= 1}

    RunDir(root).append_label(ids_of(root)[0], 3, "alice")
    labelled = client.get("/api/episodes?labelled=yes").get_json()["episodes"]
    assert [e["episode_id"] for e in labelled] == [ids_of(root)[0]] and labelled[0]["label"]["score"] == 3
    assert len(client.get("/api/episodes?labelled=no").get_json()["episodes"]) == 5
    for query, word in (("min_score=9", "1-5"), ("labelled=maybe", "yes or no"), ("min_disagreement=x", "integer")):
        bad = client.get(f"/api/episodes?{query}")
        assert bad.status_code == 400 and word in bad.get_json()["error"]


def test_episode_detail_has_every_source_raw_answer_oracle_and_safety(client, root):
    ids = ids_of(root)
    retried = client.get(f"/api/episodes/{ids[1]}").get_json()
    source = retried["sources"]["roboreward"]
    assert source["score"] in range(1, 6) and source["raw_text"].endswith(f"ANSWER: {source['score']}")
    assert source["failures"] == 1 and source["model"] == "RoboReward-8B"
    assert retried["oracle_score"] in range(1, 6) and retried["task"]
    assert set(retried["safety"]) >= {"events", "action_clipped", "workspace_clipped", "fault"}
    failed = client.get(f"/api/episodes/{ids[-PENDING]}").get_json()["sources"]["roboreward"]
    assert failed["score"] is None and "ANSWER" in failed["error"]
    assert client.get(f"/api/episodes/{ids[-1]}").get_json()["sources"] == {}
    missing = client.get("/api/episodes/no-such-episode")
    assert missing.status_code == 404 and "no episode 'no-such-episode'" in missing.get_json()["error"]
    assert client.get("/api/episodes/..").status_code == 400


def test_media_serves_the_video_a_webm_fallback_and_the_final_frame(client, root):
    eid = ids_of(root)[0]
    mp4 = (root / "episodes" / eid / "video.mp4").read_bytes()
    full = client.get(f"/media/{eid}/video.mp4")
    assert full.status_code == 200 and full.mimetype == "video/mp4" and full.data == mp4
    part = client.get(f"/media/{eid}/video.mp4", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.data == mp4[:100]  # seeking in the <video> needs ranges
    frames, _ = decode_mp4(mp4)
    webm = client.get(f"/media/{eid}/video.webm")
    assert webm.mimetype == "video/webm"
    with av.open(io.BytesIO(webm.data)) as container:
        assert container.streams.video[0].codec_context.name in ("vp9", "libvpx-vp9")
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == len(frames) and decoded[0].shape == frames[0].shape
    png = Image.open(io.BytesIO(client.get(f"/media/{eid}/final.png").data))
    final = np.asarray(png.convert("RGB"), dtype=float)
    assert final.shape == frames[-1].shape and np.abs(final - frames[-1]).mean() < 1.0
    assert client.get(f"/media/{eid}/other.bin").status_code == 404


# ----- labelling ------------------------------------------------------------------------------
def test_two_pages_get_different_episodes_waiting_ones_first(client, root):
    ids = ids_of(root)
    first = client.get("/api/label/next?page=A").get_json()
    second = client.get("/api/label/next?page=B").get_json()
    # The two episodes without a reward come first, oldest first, one per page.
    assert [first["episode"]["episode_id"], second["episode"]["episode_id"]] == ids[-PENDING:]
    assert first["queue"] == {"unlabelled": 6, "waiting_for_reward": 2, "leased_elsewhere": 0, "skipped": 0}
    assert second["queue"]["leased_elsewhere"] == 1
    assert first["mode"] == "score" and first["scores"] == [1, 2, 3, 4, 5]
    third = client.get(f"/api/label/next?page=A&exclude={ids[-2]}").get_json()
    assert third["episode"]["episode_id"] == ids[0]  # A skipped its episode: the scored ones follow


def test_label_is_on_disk_when_confirmed_and_stale_pages_are_refused(client, root):
    a = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    stored = post(client, "/api/label", {"page": "A", "episode_id": a, "score": 4, "labeller": "alice"})
    assert stored.status_code == 200 and stored.get_json()["stored"]["score"] == 4
    assert [(r["episode_id"], r["score"], r["labeller"]) for r in label_lines(root)] == [(a, 4, "alice")]
    # The same request again (a retry after a lost response) is the same label, not a new row.
    again = post(client, "/api/label", {"page": "A", "episode_id": a, "score": 4, "labeller": "alice"})
    assert again.status_code == 200 and again.get_json()["stored"]["repeated"] is True
    # A page still showing the episode sends another score: refused, nothing written.
    stale = post(client, "/api/label", {"page": "B", "episode_id": a, "score": 2, "labeller": "bob"})
    assert stale.status_code == 409
    assert "already labelled 4 by alice" in stale.get_json()["error"] and "not written" in stale.get_json()["error"]
    assert len(label_lines(root)) == 1
    assert client.get("/api/label/next?page=B").get_json()["episode"]["episode_id"] != a


@pytest.mark.parametrize("score", [0, 6, "3", 2.5, True, None])
def test_a_label_outside_1_to_5_is_refused(client, root, score):
    eid = ids_of(root)[0]
    bad = post(client, "/api/label", {"page": "A", "episode_id": eid, "score": score})
    assert bad.status_code == 400 and "integer 1-5" in bad.get_json()["error"]
    assert not (root / "labels.jsonl").exists() or label_lines(root) == []


def test_bad_label_requests_get_clear_messages(client, root):
    eid = ids_of(root)[0]
    unknown = post(client, "/api/label", {"page": "A", "episode_id": "gone-episode", "score": 3})
    assert unknown.status_code == 404 and "stale page" in unknown.get_json()["error"]
    no_page = post(client, "/api/label", {"episode_id": eid, "score": 3})
    assert no_page.status_code == 400 and "page" in no_page.get_json()["error"]
    not_object = client.post("/api/label", json=[1, 2])
    assert not_object.status_code == 400 and "JSON object" in not_object.get_json()["error"]
    assert client.get("/api/nothing").get_json()["error"].startswith("404")


def test_a_leased_episode_is_refused_to_other_pages_until_released(client, root):
    eid = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    taken = post(client, "/api/label", {"page": "B", "episode_id": eid, "score": 3})
    assert taken.status_code == 409 and "another page" in taken.get_json()["error"]
    assert post(client, "/api/label/heartbeat", {"page": "B", "episode_id": eid}).status_code == 409
    assert post(client, "/api/label/heartbeat", {"page": "A", "episode_id": eid}).status_code == 200
    assert post(client, "/api/label/release", {"page": "A", "episode_id": eid}).status_code == 200
    assert post(client, "/api/label", {"page": "B", "episode_id": eid, "score": 3}).status_code == 200
    lost = post(client, "/api/label/heartbeat", {"page": "A", "episode_id": eid})
    assert lost.status_code == 409 and "labelled meanwhile" in lost.get_json()["error"]


def test_two_dashboards_racing_on_one_episode_write_one_label(root):
    """Two server processes' desks share no leases; the flock on labels.jsonl still lets one win."""
    eid = ids_of(root)[0]
    clients = [create_app(root).test_client() for _ in range(2)]
    barrier, results = threading.Barrier(2), []

    def race(index):
        barrier.wait()
        results.append(post(clients[index], "/api/label", {"page": f"p{index}", "episode_id": eid,
                                                            "score": 2 + index, "labeller": f"l{index}"}).status_code)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [200, 409]
    assert len(label_lines(root)) == 1


def test_undo_takes_the_label_back_and_leases_the_episode_again(client, root):
    eid = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 5})
    undone = post(client, "/api/label/undo", {"page": "A", "episode_id": eid})
    assert undone.status_code == 200
    assert undone.get_json()["episode"]["episode_id"] == eid and undone.get_json()["undone"]["score"] == 5
    rows = label_lines(root)
    assert len(rows) == 2 and rows[1]["score"] is None and rows[1]["undo"] is True  # append-only
    assert eid not in current_labels(rows)
    assert post(client, "/api/label", {"page": "B", "episode_id": eid, "score": 1}).status_code == 409
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 2}).status_code == 200
    assert current_labels(label_lines(root))[eid]["score"] == 2
    assert post(client, "/api/label/undo", {"page": "A", "episode_id": ids_of(root)[0]}).status_code == 409


def test_undo_is_refused_once_a_human_web_run_took_the_label(tmp_path):
    root = make_sample_run(tmp_path / "run", episodes=3, reward="human",
                           overrides=["reward.web=true", "reward.labels_settle_s=1.0"])
    client = create_app(root).test_client()
    ids = ids_of(root)
    # ids[0] was scored by the run (source "human"): labelling it for agreement is fine, undo is not.
    assert post(client, "/api/label", {"page": "A", "episode_id": ids[0], "score": 3}).status_code == 200
    used = post(client, "/api/label/undo", {"page": "A", "episode_id": ids[0]})
    assert used.status_code == 409 and "rewards.jsonl" in used.get_json()["error"]
    # ids[2] is pending; the run's client takes labels 1 s old, so undo closes at once (margin 1 s).
    post(client, "/api/label", {"page": "A", "episode_id": ids[2], "score": 4})
    time.sleep(0.05)
    late = post(client, "/api/label/undo", {"page": "A", "episode_id": ids[2]})
    assert late.status_code == 409 and "no longer be undone" in late.get_json()["error"]
    assert client.get("/api/label/next?page=A").get_json()["undo_window_s"] == 0.0


def test_success_mode_takes_only_success_or_failure(tmp_path):
    root = make_sample_run(tmp_path / "run", episodes=2, reward="human", overrides=["reward.mode=success"])
    client = create_app(root).test_client()
    nxt = client.get("/api/label/next?page=A").get_json()
    assert nxt["mode"] == "success" and nxt["scores"] == [1, 5]
    eid = nxt["episode"]["episode_id"]
    bad = post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 3})
    assert bad.status_code == 400 and "1 (failure) or 5 (success)" in bad.get_json()["error"]
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 5}).status_code == 200


# ----- agreement ------------------------------------------------------------------------------
def test_agreement_confusion_matrix_and_mae(client, root):
    run = RunDir(root)
    model = {r["episode_id"]: r["score"] for r in run.rewards() if r["score"] is not None}
    human = {}
    for offset, eid in enumerate(sorted(model)):
        human[eid] = max(1, min(5, model[eid] + (offset % 3) - 1))
        run.append_label(eid, human[eid], "alice")
    a = client.get("/api/agreement?source=roboreward").get_json()
    expected = np.zeros((5, 5), int)
    for eid, h in human.items():
        expected[h - 1, model[eid] - 1] += 1
    assert a["matrix"] == expected.tolist() and a["n"] == len(model)
    assert a["mae"] == pytest.approx(np.mean([abs(human[e] - model[e]) for e in model]))
    assert a["sources"] == ["roboreward", "oracle_score"]
    oracle = client.get("/api/agreement?source=oracle_score").get_json()
    assert oracle["n"] == len(model)
    bad = client.get("/api/agreement?source=gpt")
    assert bad.status_code == 400 and "roboreward" in bad.get_json()["error"]


# ----- missing, half-written and stopped runs -------------------------------------------------
def test_a_missing_run_directory_gets_a_clear_message_and_pages_still_load(tmp_path):
    client = create_app(tmp_path / "nowhere").test_client()
    for path in ("/api/overview", "/api/curves", "/api/episodes", "/api/label/next?page=A", "/api/agreement"):
        response = client.get(path)
        assert response.status_code == 503 and "does not exist" in response.get_json()["error"], path
    assert client.get("/label").status_code == 200 and client.get("/").status_code == 200


def test_a_half_written_run_is_shown_with_what_is_there(root):
    (root / "config.json").unlink()
    (root / "status.json").write_text("{not json")
    with open(root / "rewards.jsonl", "a") as f:
        f.write('{"episode_id": "x", "sco')  # a torn last line
    with open(root / "metrics.jsonl", "a") as f:
        f.write('{"kind": "progress", "epis')
    partial = root / "episodes" / "20991231T000000-deadbeef.partial-abc123"
    partial.mkdir()
    (partial / "video.mp4").write_bytes(b"\x00" * 10)
    (partial / "meta.json").write_text("{}")  # Episode.save writes meta.json before the rename
    client = create_app(root).test_client()
    o = client.get("/api/overview").get_json()
    assert o["counts"]["collected"] == 6 and o["config"] is None
    assert any("no readable config.json" in p for p in o["problems"])
    assert o["state"]["state"] == "unknown"
    eid = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 3}).status_code == 200
    assert client.get(f"/media/{partial.name}/video.mp4").status_code == 404


def test_a_stopped_run_is_reported_and_labelling_goes_on(root):
    status = json.loads((root / "status.json").read_text())
    (root / "status.json").write_text(json.dumps({**status, "updated_at": time.time() - 120}))
    client = create_app(root).test_client()
    state = client.get("/api/overview").get_json()["state"]
    assert state["state"] == "stale" and "may have stopped" in state["message"] and "--resume" in state["message"]
    eid = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 2}).status_code == 200
    (root / "report").mkdir()
    (root / "report" / "summary.md").write_text("done")
    assert client.get("/api/overview").get_json()["state"]["state"] == "finished"


# ----- access token and the command -----------------------------------------------------------
def test_token_guards_every_request_and_moves_into_a_cookie(root):
    client = create_app(root, token="s3cret").test_client()
    refused = client.get("/api/overview")
    assert refused.status_code == 401 and "access token" in refused.get_json()["error"]
    assert client.get("/label").status_code == 401
    assert client.get("/api/overview", headers={"X-RRL-Token": "wrong"}).status_code == 401
    assert client.get("/api/overview", headers={"X-RRL-Token": "s3cret"}).status_code == 200
    landing = client.get("/label?token=s3cret&x=1")
    assert landing.status_code == 302 and landing.headers["Location"] == "/label?x=1"
    assert "HttpOnly" in landing.headers["Set-Cookie"]
    assert client.get("/api/overview").status_code == 200  # the cookie now carries it


# Every route the app serves, one page's blueprint at a time, and the shared ones.
ROUTES = {
    "run": {("GET", "/"), ("GET", "/api/overview"), ("GET", "/api/curves"), ("POST", "/api/control")},
    "episodes": {("GET", "/episodes"), ("GET", "/api/episodes"), ("GET", "/api/episodes/<episode_id>")},
    "label": {("GET", "/label"), ("GET", "/api/label/next"), ("POST", "/api/label"), ("POST", "/api/label/undo"),
              ("POST", "/api/label/heartbeat"), ("POST", "/api/label/release")},
    "agreement": {("GET", "/agreement"), ("GET", "/api/agreement")},
    "shared": {("GET", "/media/<episode_id>/<name>"), ("GET", "/static/<path:filename>")},
}


def test_every_page_is_served_and_refuses_requests_without_the_token(root):
    app = create_app(root, token="s3cret")
    served = {(method, rule.rule) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == set().union(*ROUTES.values())
    client = app.test_client()
    eid = ids_of(root)[0]
    for page, routes in ROUTES.items():
        for method, rule in sorted(routes):
            url = (rule.replace("<episode_id>", eid).replace("<name>", "video.mp4")
                   .replace("<path:filename>", "style.css"))
            body = {"page": "A", "episode_id": eid} if method == "POST" else None
            refused = client.open(url, method=method, json=body)
            assert refused.status_code == 401, (page, method, url)
            assert "access token" in refused.get_json()["error"]
            answered = client.open(url, method=method, json=body, headers={"X-RRL-Token": "s3cret"})
            # Past the guard each route answers for itself: a POST without a score is a 400, an
            # undo with no label a 409; never the guard's 401 or 403, nor a 404 for the route.
            assert answered.status_code in (200, 400, 409), (page, method, url, answered.status_code)
    for page in ("run", "episodes", "label", "agreement"):
        html = client.get("/" if page == "run" else f"/{page}", headers={"X-RRL-Token": "s3cret"})
        assert f'data-page="{page}"' in html.get_data(as_text=True)
    assert RunDir(root).paused() is False and label_lines(root) == []  # no POST here was a valid one


def test_without_a_token_only_loopback_host_names_are_answered(client):
    rebound = client.get("/api/overview", headers={"Host": "evil.example:8765"})
    assert rebound.status_code == 403 and "only to 127.0.0.1" in rebound.get_json()["error"]
    assert client.get("/api/overview", headers={"Host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/api/overview", headers={"Host": "[::1]:8765"}).status_code == 200


def test_loopback_detection():
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "robot-pc", "::"))  # never contacted: a string check only


def test_command_refuses_a_missing_run(tmp_path, capsys):
    assert main(["--run", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_command_serves_on_loopback(root):
    """`python -m experiments dashboard` end to end: prints its URL, answers, needs no token."""
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments", "dashboard", "--run", str(root), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=Path(__file__).parents[3],
    )
    try:
        line = process.stdout.readline()
        assert " at http://127.0.0.1:" in line, line
        url = line.split(" at ")[1].split(" ")[0]
        import urllib.request

        with urllib.request.urlopen(url + "api/overview", timeout=10) as response:
            assert json.loads(response.read())["counts"]["collected"] == 6
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


def test_the_human_clients_web_mode_takes_what_the_page_wrote(client, root):
    """The loop's side of the labelling queue: the `human` client reads the page's label."""
    import envs
    import reward_clients

    eid = client.get("/api/label/next?page=A").get_json()["episode"]["episode_id"]
    assert post(client, "/api/label", {"page": "A", "episode_id": eid, "score": 4}).status_code == 200
    human = reward_clients.make("human", web=True, labels_file=str(root / "labels.jsonl"),
                                labels_settle_s=0.0, answer_timeout_s=2.0, poll_s=0.05)
    result = human.score(envs.Episode.load(root / "episodes" / eid))
    assert (result.episode_id, result.score, result.reward) == (eid, 4, 0.75)
