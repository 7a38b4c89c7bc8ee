"""The RL loop through a real local Ray: nothing lost, nothing scored twice, resume continues.

The reward source is the real `roboreward` client talking to a local vLLM-shaped server that
adds latency and fails on purpose; the env actors run the WidowX sim twin.
"""

import dataclasses
import json
import threading
import time

import numpy as np
import pytest
import ray

from configs import get_config
from configs.overrides import apply_overrides, config_to_dict
from experiments.rundir import RunDir
from experiments.training.ablate import (
    aggregate_sources,
    parse_reward_specs,
    parse_seeds,
    seed_band,
    source_table,
)
from experiments.training.ablate import main as ablate_main
from experiments.training.base_policy import ensure_pretrained
from experiments.training.evaluate import main as evaluate_main
from experiments.training.evaluate import wilson_interval
from experiments.training.loop import RewardSourceError, TrainingRun
from experiments.training.train import train
from reward_clients.testing import FakeVLLM, Reply


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # Logical CPUs: two env actors and the learner ask for one each on this 2-core machine.
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def base_config(tmp_path_factory):
    """The debug config with a base policy pretrained once for the whole module."""
    runs = tmp_path_factory.mktemp("runs")
    config = apply_overrides(get_config("debug"), [f"run.runs_dir={runs}", "reward.retry_pending_after_s=0.3"])
    ensure_pretrained(config)
    return config


def with_reward(config, server_url, **settings):
    overrides = ["reward.name=roboreward", f"reward.base_url={server_url}", "reward.max_retries=0",
                 "reward.backoff_base_s=0.01", "reward.timeout_s=10", "reward.model=teetone/RoboReward-8B"]
    overrides += [f"reward.{k}={v}" for k, v in settings.items()]
    return apply_overrides(config, overrides)


def new_run(config, tmp_path, name="run"):
    run = RunDir(tmp_path / name).create()
    run.write_config(config_to_dict(config))
    return run


def start_in_background(config, run):
    """A TrainingRun whose loop runs in a thread, so a test can break things while it runs."""
    diffusion_params, obs_dim, _ = ensure_pretrained(config)
    training = TrainingRun(config, run)
    training.start(diffusion_params, obs_dim, [])
    loop = threading.Thread(target=training.loop, kwargs={"wait_rewards_s": 120})
    loop.start()
    return training, loop


def wait_for(condition, timeout_s=120.0):
    deadline = time.time() + timeout_s
    while not condition():
        assert time.time() < deadline, "timed out waiting for the run"
        time.sleep(0.05)


def assert_each_episode_scored_once(run: RunDir, expected: int):
    episodes = run.episode_ids()
    assert len(episodes) == expected
    scored_rows = [row for row in run.rewards() if row["score"] is not None]
    assert sorted(row["episode_id"] for row in scored_rows) == sorted(episodes)
    for eid in episodes:
        assert (run.episode_path(eid) / "video.mp4").stat().st_size > 0


def test_failures_and_a_killed_reward_actor_lose_nothing_and_resume_continues(base_config, tmp_path, capsys, monkeypatch):
    with FakeVLLM(latency_s=0.4, default_text="The drawer is shut. ANSWER: 2") as server:
        # Injected failures: overloaded, garbage JSON, an answer with no score.
        server.script(Reply(status=503), Reply(body=b"{not json"), Reply(text="I cannot tell."))
        config = with_reward(base_config, server.base_url)
        run = new_run(config, tmp_path)
        training, loop = start_in_background(config, run)
        # Kill the reward actor while it is scoring; Ray restarts it, the loop retries.
        wait_for(lambda: training.reward_futures)
        ray.kill(training.reward_actor, no_restart=False)
        loop.join(timeout=300)
        assert not loop.is_alive()
        training.shutdown()

        assert_each_episode_scored_once(run, expected=6)
        failures = [row for row in run.rewards() if row["score"] is None]
        assert len(failures) >= 3  # the three scripted failures, at least
        assert any("reward actor failed" in (row["error"] or "") for row in failures)
        scored = run.scored()
        assert {row["score"] for row in scored.values()} == {2}
        assert all(row["reward"] == pytest.approx(0.25) for row in scored.values())
        learner_rows = run.metrics("learner")
        assert learner_rows and learner_rows[-1]["updates"] >= 0
        first_rewards = {eid: row["time"] for eid, row in scored.items()}
        checkpoint = run.checkpoints_dir / "latest"
        assert checkpoint.exists()
        before = json.loads((checkpoint / "meta.json").read_text())["counters"]
        assert before["episodes"] == 6

        # Resume to 8 episodes: old episodes are not scored again, counters continue.
        resumed = dataclasses.replace(config, run=dataclasses.replace(config.run, episodes=8))
        run.write_config(config_to_dict(resumed))
        train(resumed, run, wait_rewards_s=120)
        assert_each_episode_scored_once(run, expected=8)
        rescored = run.scored()
        assert all(rescored[eid]["time"] == t for eid, t in first_rewards.items())
        indices = sorted(row["episode_index"] for row in run.metrics("episode"))
        assert indices == list(range(8))
        after = json.loads((checkpoint / "meta.json").read_text())["counters"]
        assert after["episodes"] == 8  # 6 restored + 2 new: the rebuilt buffer is not recounted
        assert after["updates"] > before["updates"]
        assert (run.report_dir / "success.png").exists() and (run.report_dir / "agreement.png").exists()

    # `rrl evaluate --json` on the finished run and on its base policy.
    assert evaluate_main([str(run.root), "--episodes", "2", "--draws", "2", "--base", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["episodes"] == 4 and 0.0 <= result["steerable_scenes"] <= 1.0
    assert result["steerable_scenes"] >= result["success_rate"]  # any-success share >= mean
    for extra in ([], ["--base"]):
        assert evaluate_main([str(run.root), "--episodes", "2", "--json", *extra]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert set(result) >= {"success_rate", "ci95", "mean_oracle_score", "episodes"}
        assert result["episodes"] == 2 and 0.0 <= result["ci95"][0] <= result["success_rate"] <= result["ci95"][1] <= 1.0
        assert 1.0 <= result["mean_oracle_score"] <= 5.0
    # --zero-noise: the base policy decodes the zero noise (deterministic chunks), plain --base samples.
    import experiments.training.evaluate as evaluate

    asked = []

    def recording_policy_chunks(*args, deterministic=False):
        asked.append(deterministic)
        return policy_chunks(*args, deterministic=deterministic)

    policy_chunks = evaluate.policy_chunks
    monkeypatch.setattr(evaluate, "policy_chunks", recording_policy_chunks)
    for extra, deterministic, label in ((["--zero-noise"], True, "base, zero noise"), ([], False, "base")):
        asked.clear()
        assert evaluate_main([str(run.root), "--episodes", "2", "--base", "--json", *extra]) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert asked == [deterministic] * 2 and result["episodes"] == 2 and result["policy"] == label
    assert evaluate_main([str(run.root), "--episodes", "2", "--zero-noise"]) == 2
    assert "add --base" in capsys.readouterr().err


def test_reward_server_down_at_first_then_up(base_config, tmp_path):
    server = FakeVLLM(default_text="ANSWER: 5")
    server.start()
    port = server.port
    server.stop()  # nothing listens there now: connection refused
    config = with_reward(base_config, f"http://127.0.0.1:{port}/v1", connect_timeout_s=1)
    run = new_run(config, tmp_path)
    training, loop = start_in_background(config, run)
    wait_for(lambda: any(row["score"] is None for row in run.rewards()))
    revived = FakeVLLM(default_text="ANSWER: 5", port=port)
    with revived:
        loop.join(timeout=300)
    training.shutdown()
    assert not loop.is_alive()
    failures = [row for row in run.rewards() if row["score"] is None]
    assert failures and all(row["error"] for row in failures)
    assert_each_episode_scored_once(run, expected=6)
    assert {row["score"] for row in run.scored().values()} == {5}


def test_a_reward_source_that_cannot_work_stops_the_run_and_keeps_the_episodes(base_config, tmp_path):
    with FakeVLLM() as server:
        config = with_reward(base_config, server.base_url, model="teetone/No-Such-Model")
        run = new_run(config, tmp_path)
        with pytest.raises(RewardSourceError, match="No-Such-Model.*rrl train --resume"):
            train(config, run, wait_rewards_s=30)
    assert run.episode_ids()  # what was recorded stays on disk, unscored and pending
    assert not run.scored()
    assert all(row["score"] is None for row in run.rewards())


def test_an_unreachable_reward_server_stops_the_run_naming_its_url(base_config, tmp_path):
    server = FakeVLLM()
    server.start()
    url = server.base_url
    server.stop()  # nothing listens there now: every connection is refused
    config = with_reward(base_config, url, connect_timeout_s=1, unreachable_grace_s=1)
    run = new_run(config, tmp_path)
    with pytest.raises(RewardSourceError, match=f"cannot reach {url}/chat/completions.*rrl train --resume"):
        train(config, run, wait_rewards_s=60)
    assert run.episode_ids() and not run.scored()  # kept on disk, pending for --resume


def test_ablate_trains_each_reward_source_on_each_seed(base_config, tmp_path):
    out = tmp_path / "ablation"
    code = ablate_main(["debug", f"run.runs_dir={base_config.run.runs_dir}", "run.episodes=3", "run.env_actors=1",
                        "run.eval_episodes=1", "--rewards", "oracle,random:seed=7", "--seeds", "0,1",
                        "--eval-episodes", "2", "--out", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    runs = {(row["source"], row["seed"]): row for row in results["runs"]}
    assert len(results["runs"]) == 4 and set(runs) == {(s, seed) for s in ("oracle", "random_seed-7") for seed in (0, 1)}
    episode_seeds = {}
    for (label, seed), row in runs.items():
        run = RunDir(row["run"])
        assert run.root == out / f"{label}-seed{seed}" and run.read_config()["run"]["seed"] == seed
        assert row["episodes"] == 2  # --eval-episodes wins over run.eval_episodes
        assert row["simulated"] == (label != "oracle")
        episode_seeds[label, seed] = sorted(r["seed"] for r in run.metrics("episode"))
    for seed in (0, 1):  # the same training scenes for every source of one seed, other scenes per seed
        assert episode_seeds["oracle", seed] == episode_seeds["random_seed-7", seed]
    assert episode_seeds["oracle", 0] != episode_seeds["oracle", 1]
    for label, source in results["sources"].items():
        per_seed = [runs[label, seed]["success_rate"] for seed in source["seeds"]]
        assert source["seeds"] == [0, 1] and source["success_rate_per_seed"] == per_seed
        assert source["success_rate_mean"] == pytest.approx(sum(per_seed) / 2)
        assert source["eval_episodes"] == 4  # both seeds' evaluation episodes pooled
        low, high = source["ci95"]
        assert low <= source["success_rate_mean"] <= high and high - low < 1
    table = (out / "table.md").read_text().splitlines()
    rows = [line for line in table[2:] if line.startswith("| ")]
    assert len(rows) == 2 and rows[0].startswith("| oracle |") and rows[1].startswith("| random_seed-7 (simulated) |")
    # The last column is what the simulator says of the training episodes, not the reward's scores.
    assert table[0].endswith("| training success (last 20) |")
    for row, label in zip(rows, ("oracle", "random_seed-7"), strict=True):
        training = [runs[label, seed]["training_success_last20"] for seed in (0, 1)]
        assert row.endswith(f"| {sum(training) / 2:.0%} |")
    assert (out / "success.png").stat().st_size > 0


def test_ablate_continues_an_ablation_folder_without_rerunning_its_finished_runs(base_config, tmp_path, capsys):
    out = tmp_path / "ablation"
    common = ["debug", f"run.runs_dir={base_config.run.runs_dir}", "run.episodes=2", "run.env_actors=1",
              "--eval-episodes", "1", "--out", str(out)]
    assert ablate_main([*common, "--rewards", "oracle", "--seeds", "0"]) == 0
    first = json.loads((out / "results.json").read_text())["runs"][0]
    oracle_log = (out / "oracle-seed0" / "rewards.jsonl").read_text()
    (out / "random-seed0").mkdir()  # what a run killed before its results row leaves
    (out / "random-seed0" / "note").write_text("recorded")
    capsys.readouterr()

    # Overrides may follow options, as in `rrl train`.
    assert ablate_main(["debug", "--rewards", "oracle,random", *common[1:], "--seeds", "0"]) == 0
    printed = capsys.readouterr().out
    assert "oracle, seed 0: finished earlier, kept" in printed and "random-seed0 was interrupted" in printed
    results = json.loads((out / "results.json").read_text())
    assert [(row["source"], row["seed"]) for row in results["runs"]] == [("oracle", 0), ("random", 0)]
    assert results["runs"][0] == first and (out / "oracle-seed0" / "rewards.jsonl").read_text() == oracle_log
    assert set(results["sources"]) == {"oracle", "random"} and results["runs_planned"] == 2
    assert (out / "random-seed0-interrupted" / "note").read_text() == "recorded"
    table = (out / "table.md").read_text()
    assert "| oracle |" in table and "| random (simulated) |" in table

    # Rows of another setting would not compare: refused before anything runs.
    assert ablate_main([*common[:2], "run.episodes=3", *common[3:], "--rewards", "oracle", "--seeds", "1"]) == 2
    assert "continue it with the same config, overrides and --eval-episodes" in capsys.readouterr().err
    assert not (out / "oracle-seed1").exists()


def test_ablate_refuses_to_continue_a_folder_whose_runs_are_gone_or_unreadable(tmp_path, capsys):
    out = tmp_path / "ablation"
    out.mkdir()
    common = ["debug", f"run.runs_dir={tmp_path}", "--rewards", "oracle", "--out", str(out)]
    (out / "results.json").write_text("{not json")
    assert ablate_main(common) == 2
    assert "cannot read its results.json" in capsys.readouterr().err
    row = {"source": "oracle", "seed": 0, "run": str(out / "oracle-seed0")}
    (out / "results.json").write_text(json.dumps({
        "config": "debug", "overrides": [f"run.runs_dir={tmp_path}"], "eval_episodes_per_run": 2, "runs": [row]}))
    assert ablate_main(common) == 2
    assert "lists the run" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["results.json"]


def test_ablate_refuses_bad_seeds_and_evaluation_counts_before_any_run(tmp_path, capsys):
    common = ["debug", f"run.runs_dir={tmp_path}", "--rewards", "oracle,random"]
    assert ablate_main([*common, "--seeds", "0,x"]) == 2
    assert "--seeds takes comma-separated ints" in capsys.readouterr().err
    assert ablate_main([*common, "--eval-episodes", "0"]) == 2
    assert "--eval-episodes (or run.eval_episodes) must be >= 1" in capsys.readouterr().err
    assert ablate_main([*common[:-1], "oracle,random:target_mae=0.5"]) == 2
    assert "target_mae" in capsys.readouterr().err
    assert ablate_main(["debug", "run.seed=3", *common[1:]]) == 2
    assert "give --seeds S instead of run.seed=S" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no ablation folder for a refused command


def test_reward_specs_and_seeds_parse_and_refuse_bad_input():
    assert parse_reward_specs("oracle, noisy_oracle:target_mae=0.665") == [
        ("oracle", ["reward.name=oracle"]),
        ("noisy_oracle_target_mae-0.665", ["reward.name=noisy_oracle", "reward.target_mae=0.665"]),
    ]
    with pytest.raises(ValueError, match="key=value"):
        parse_reward_specs("noisy_oracle:0.665")
    with pytest.raises(ValueError, match="names a source twice"):
        parse_reward_specs("oracle,oracle")
    assert parse_seeds("0, 2,1") == [0, 2, 1]
    for bad in ("", "1,1", "-1", "0.5"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)


def test_ablation_aggregates_pool_every_seeds_evaluation():
    rows = [{"source": "a", "seed": seed, "success_rate": rate, "episodes": 10, "mean_oracle_score": score,
             "training_success_last20": None, "simulated": False}
            for seed, rate, score in [(0, 0.2, 2.0), (1, 0.6, 4.0), (2, 0.7, 3.0)]]
    source = aggregate_sources(rows)["a"]
    assert source["success_rate_mean"] == pytest.approx(0.5) and source["success_rate_per_seed"] == [0.2, 0.6, 0.7]
    assert (source["eval_successes"], source["eval_episodes"]) == (15, 30)
    assert source["ci95"] == list(wilson_interval(15, 30))  # one interval over all 30 episodes
    assert source["mean_oracle_score"] == pytest.approx(3.0) and source["training_success_last20_mean"] is None


def test_the_table_shows_training_success_apart_from_the_evaluation():
    rows = [{"source": source, "seed": seed, "success_rate": rate, "episodes": 10, "mean_oracle_score": 3.0,
             "training_success_last20": training, "simulated": source == "random"}
            for source, seed, rate, training in [("oracle", 0, 0.5, 0.25), ("oracle", 1, 0.7, 0.75),
                                                 ("random", 0, 0.3, None)]]
    header, _, oracle, random = source_table(aggregate_sources(rows))
    assert header.endswith("| mean oracle score | training success (last 20) |")
    assert oracle.startswith("| oracle | 60% |") and oracle.endswith("| 3.00 | 50% |")
    assert random.startswith("| random (simulated) | 30% |") and random.endswith("| 3.00 | - |")


def test_learning_curves_average_seeds_where_every_seed_has_the_episode():
    index, mean, low, high = seed_band([
        (np.array([0, 1, 2, 3]), np.array([0.0, 0.5, 1.0, 1.0])),
        (np.array([0, 2, 3, 4]), np.array([1.0, 0.0, 0.5, 0.5])),  # episode 1 damaged, one more scored
    ])
    np.testing.assert_array_equal(index, [0, 2, 3])
    np.testing.assert_allclose(mean, [0.5, 0.5, 0.75])
    np.testing.assert_allclose(low, [0.0, 0.0, 0.5])
    np.testing.assert_allclose(high, [1.0, 1.0, 1.0])


def test_pacing_collection_to_the_learner_finishes_every_episode(base_config, tmp_path):
    config = apply_overrides(base_config, ["run.max_learner_lag=2"])
    run = new_run(config, tmp_path)
    training, loop = start_in_background(config, run)
    lags = []
    while loop.is_alive():  # the driver never hands out an episode beyond the allowed lag
        lags.append(training.next_episode_index - training.params_cover)
        time.sleep(0.01)
    training.shutdown()
    assert max(lags) <= 2
    assert_each_episode_scored_once(run, expected=6)


def test_a_faulted_episode_is_kept_and_marked_but_never_sent_for_scoring(base_config, tmp_path):
    run = new_run(base_config, tmp_path)
    training = TrainingRun(base_config, run)
    for eid, end_reason in (("ep-fault", "camera_lost"), ("ep-normal", "time_limit")):
        summary = {"episode_id": eid, "actor": 0, "episode_index": 0, "end_reason": end_reason}
        future = ray.put(summary)
        training.episode_futures[future] = 0
        training._on_episode(future)
    assert [eid for _, eid in training.pending] == ["ep-normal"]
    assert [row["end_reason"] for row in run.metrics("episode")] == ["camera_lost", "time_limit"]
