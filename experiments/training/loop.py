"""The run loop: env actors, the reward actor and the learner, and what moves between them.

    training = TrainingRun(config, RunDir(path))
    training.start(diffusion_params, obs_dim, demos)
    training.loop()          # until every episode is collected and scored
    training.shutdown()

The loop keeps every env actor busy with the newest params that are ready, sends each stored
episode to the reward actor, appends every finished scoring to rewards.jsonl, and hands episodes
whose reward is known to the learner. An episode whose scoring failed stays pending and is tried
again after `reward.retry_pending_after_s`; nothing is dropped and no episode is scored twice.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayActorError, RayTaskError
from tensorboardX import SummaryWriter

from agents.builders import agent_builder
from configs.experiment import ExperimentConfig
from configs.overrides import config_to_dict
from experiments.rundir import RunDir
from experiments.training.actors import remote_actor_classes

__all__ = ["TrainingRun", "RewardSourceError", "EnvActorError", "NORMAL_ENDS"]

NORMAL_ENDS = ("time_limit", "success")  # other end reasons are faults: kept, never scored


class RewardSourceError(RuntimeError):
    """The reward source failed in a way retrying cannot fix; the run stops, nothing is lost."""


class EnvActorError(RuntimeError):
    """An env actor failed MAX_ENV_ACTOR_FAILURES times in a row: the run stops, nothing is lost."""


# Failures in a row after which an env actor is not restarted again (a wrong checkpoint, a robot
# that cannot be reached: restarting only repeats the error).
MAX_ENV_ACTOR_FAILURES = 3


def error_message(error: BaseException) -> str:
    """The message of the exception behind a Ray error (its cause, or its traceback's last line)."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, RayActorError | RayTaskError):
        return f"{type(cause).__name__}: {cause}"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception"))]
    return (raised or lines or [type(error).__name__])[-1]


class TrainingRun:
    """One run: its actors, its bookkeeping, and the loop that moves data between them."""

    def __init__(self, config: ExperimentConfig, run: RunDir, *, reward_settings: dict | None = None):
        self.config = config
        self.run = run
        # The reward actor hands the run directory to the client, which takes its cache or labels file there.
        self.reward_settings = dict(config.reward.settings if reward_settings is None else reward_settings)
        self.episode_futures: dict[Any, int] = {}  # future -> actor index
        self.reward_futures: dict[Any, str] = {}  # future -> episode id
        self.pending: deque[tuple[float, str]] = deque()  # (retry-not-before, episode id)
        self.summaries: dict[str, dict] = {}
        self.learned: set[str] = set()
        self.env_actor_failures: dict[int, int] = {}  # actor index -> failures in a row
        self._take_stock()
        self.params_ref = None
        self.params_version = -1
        self.policy_future = None
        self.train_future = None
        # Episodes the learner had been given when the running training call / the newest
        # published params started (for run.max_learner_lag).
        self.training_covers = 0
        self.params_cover = 0
        self.last_progress = 0.0
        self.estopped = False  # the run's e-stop as the loop last saw it (experiments/training/estop.py)
        self.recent_success: deque[bool] = deque(maxlen=20)
        self.tensorboard = SummaryWriter(str(run.root / "tensorboard"))

    # ----- set-up -----------------------------------------------------------------------------
    def _take_stock(self) -> None:
        """What a resumed run finds on disk: torn log tails recovered, broken episodes set aside
        (kept on disk, never buffered, scored or counted), a metrics row for each episode that
        finished after the driver died, the scored episodes to rebuild the buffer from and the
        unscored ones to score."""
        run = self.run
        run.recover_torn_tails()
        self.broken = run.broken_episodes()
        for eid, problem in self.broken.items():
            print(f"resume: episode {eid} cannot be used ({problem}); it stays on disk, out of the "
                  "buffer, the reward queue and the counts", file=sys.stderr, flush=True)
        stored = [eid for eid in run.episode_ids() if eid not in self.broken]
        run.record_missing_episode_rows(stored)
        self.scored = {eid: row for eid, row in run.scored().items() if eid in set(stored)}
        self.rebuild = [eid for eid in stored if eid in self.scored]
        self.pending.extend((0.0, eid) for eid in stored
                            if eid not in self.scored and run.end_reason(eid) in NORMAL_ENDS)
        self.collected = len(stored)  # what run.episodes counts: stored, then launched, episodes
        self.next_episode_index = run.next_episode_index()  # only grows: an index names a scene

    def start(self, diffusion_params: dict, obs_dim: int, demos: list[tuple]) -> None:
        env_cls, reward_cls, learner_cls = remote_actor_classes(self.config)
        self._env_cls = env_cls
        config_json = config_to_dict(self.config)
        root = str(self.run.root)
        self.learner = learner_cls.remote(config_json, root, obs_dim, ray.put(diffusion_params))
        self.reward_actor = reward_cls.remote(self.config.reward.name, self.reward_settings, root)
        self.env_actors = [env_cls.remote(i, config_json, root) for i in range(self.config.run.env_actors)]
        checkpoint = self.run.checkpoint_path
        if checkpoint.exists():
            version = ray.get(self.learner.restore.remote(str(checkpoint)))
            print(f"resume: learner restored at update {version}", flush=True)
        if agent_builder(self.config.agent_kind).uses_demos:  # RLPD: demos in every batch
            ray.get([self.learner.add_demo.remote(*demo) for demo in demos])  # (obs, actions[, images])
        # Rebuild the replay buffer from the stored, scored episodes (resume).
        for eid in self.rebuild:
            self.learner.add_episode.remote(eid, self.scored[eid]["reward"], count=False)
            self.learned.add(eid)
        if self.rebuild or self.pending:
            print(f"resume: {len(self.rebuild)} scored episodes back in the buffer, "
                  f"{len(self.pending)} pending a reward", flush=True)
        self.params_ref, version_ref = self.learner.get_policy.remote()
        self.params_version = ray.get(version_ref)

    # ----- the loop ---------------------------------------------------------------------------
    def _collected(self) -> int:
        return self.collected

    def _learner_too_far_behind(self) -> bool:
        lag_limit = self.config.run.max_learner_lag
        return bool(lag_limit) and self.collected - self.params_cover >= lag_limit

    def _launch_episodes(self) -> None:
        if self.run.paused() or self.estopped:
            return
        busy = set(self.episode_futures.values())
        for index, actor in enumerate(self.env_actors):
            if self._learner_too_far_behind():
                return
            if index in busy or self._collected() >= self.config.run.episodes:
                continue
            future = actor.run_episode.remote(self.params_ref, self.params_version, self.next_episode_index)
            self.next_episode_index += 1
            self.collected += 1
            self.episode_futures[future] = index

    def _submit_rewards(self) -> None:
        now = time.time()
        limit = 2 * self.config.reward.max_concurrency
        while self.pending and len(self.reward_futures) < limit and self.pending[0][0] <= now:
            _, eid = self.pending.popleft()
            if eid not in self.scored and eid not in self.reward_futures.values():
                self.reward_futures[self.reward_actor.score.remote(eid)] = eid

    def _on_episode(self, future: Any) -> None:
        index = self.episode_futures.pop(future)
        try:
            summary = ray.get(future)
        except (RayActorError, RayTaskError) as error:
            # The episode in progress was never stored: it does not count. Replace the actor and
            # go on, unless it keeps failing.
            self.collected -= 1
            failures = self.env_actor_failures[index] = self.env_actor_failures.get(index, 0) + 1
            message = error_message(error)
            if failures >= MAX_ENV_ACTOR_FAILURES:
                raise EnvActorError(
                    f"env actor {index} failed {failures} times in a row without storing an episode: "
                    f"{message}. Every stored episode is kept; fix the cause and run "
                    f"`rrl train --resume {self.run.root}`"
                ) from None
            print(f"env actor {index} failed ({message}); restarting it", file=sys.stderr, flush=True)
            self.env_actors[index] = self._env_cls.remote(index, config_to_dict(self.config), str(self.run.root))
            return
        self.env_actor_failures[index] = 0
        self.summaries[summary["episode_id"]] = summary
        self.run.append_metrics("episode", summary)
        if summary["end_reason"] not in NORMAL_ENDS:
            # A fault (camera lost, motion refused, e-stop...) is kept and marked, not scored.
            print(f"episode {summary['episode_id']} ended with {summary['end_reason']}; kept, not scored",
                  file=sys.stderr, flush=True)
            return
        self.pending.append((0.0, summary["episode_id"]))

    def _on_reward(self, future: Any) -> None:
        eid = self.reward_futures.pop(future)
        try:
            result = ray.get(future)
        except (RayActorError, RayTaskError) as error:
            result = {"episode_id": eid, "source": self.config.reward.name, "score": None, "reward": None,
                      "error": f"reward actor failed: {type(error).__name__}: {str(error)[:300]}"}
        self.run.append_reward(result)
        if result.get("fatal"):
            raise RewardSourceError(
                f"the {self.config.reward.name} reward source cannot score episodes: {result['error']}. "
                f"Every episode is kept; fix the reward settings and run `rrl train --resume {self.run.root}`"
            )
        if result.get("score") is None:
            retry_at = time.time() + self.config.reward.retry_pending_after_s
            self.pending.append((retry_at, eid))
            return
        self.scored[eid] = result
        self.learner.add_episode.remote(eid, result["reward"])
        self.learned.add(eid)
        summary = self.summaries.get(eid, {})
        if summary.get("is_success") is not None:
            self.recent_success.append(bool(summary["is_success"]))
        self._scalars("episode", {"reward": result["reward"], "score": result["score"],
                                  "oracle_score": summary.get("oracle_score"),
                                  "success": summary.get("is_success")}, step=len(self.scored))
        self.run.append_metrics("reward", {
            "episode_id": eid, "score": result["score"], "reward": result["reward"],
            "oracle_score": summary.get("oracle_score"), "source": result.get("source"),
            "latency_s": result.get("latency_s"), "episode_index": summary.get("episode_index"),
        })
        if len(self.learned) % self.config.run.checkpoint_every == 0:
            self.learner.save.remote(str(self.run.checkpoint_path))

    def _train_and_publish(self) -> None:
        """Keeps one training call in flight; swaps in new params only once they are ready."""
        if self.train_future is not None:
            ready, _ = ray.wait([self.train_future], timeout=0)
            if not ready:
                return
            metrics = ray.get(self.train_future)
            self.train_future = None
            if metrics.get("updates"):
                self.run.append_metrics("learner", metrics)
                self._scalars("learner", metrics, step=self.params_version + int(metrics["updates"]))
                self.policy_future = self.learner.get_policy.remote()  # [params ref, version ref]
            else:
                self.params_cover = max(self.params_cover, self.training_covers)  # nothing owed
        if self.policy_future is not None:
            params_ref, version_ref = self.policy_future
            ready, _ = ray.wait([version_ref], timeout=0)
            if ready:
                # Only the version reaches the driver; env actors fetch the params by reference.
                self.params_ref, self.params_version = params_ref, ray.get(version_ref)
                self.params_cover = self.training_covers
                self.policy_future = None
        if self.train_future is None and self.policy_future is None:
            cap = self.config.run.updates_per_episode or None
            self.training_covers = len(self.learned)
            self.train_future = self.learner.train.remote(cap)

    def _scalars(self, prefix: str, values: dict, step: int) -> None:
        """TensorBoard scalars (`tensorboard --logdir <run>/tensorboard`)."""
        for name, value in values.items():
            if isinstance(value, bool | int | float) and value is not None:
                self.tensorboard.add_scalar(f"{prefix}/{name}", float(value), step)

    def _progress(self, *, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_progress < 5.0:
            return
        self.last_progress = now
        rate = np.mean(self.recent_success) if self.recent_success else float("nan")
        row = {
            "episodes_collected": self._collected(), "episodes_target": self.config.run.episodes,
            "scored": len(self.scored), "pending": len(self.pending) + len(self.reward_futures),
            "reward_in_flight": len(self.reward_futures), "learner_version": self.params_version,
            "success_rate_last20": None if np.isnan(rate) else float(rate),
        }
        self.run.append_metrics("progress", row)
        self.run.write_status({**row, "env_actors": len(self.env_actors), "paused": self.run.paused(),
                               "estop": self.estopped})
        print(f"[{row['episodes_collected']}/{row['episodes_target']} episodes] scored {row['scored']}, "
              f"reward queue {row['pending']}, success (last 20) "
              f"{'-' if np.isnan(rate) else f'{rate:.0%}'}, learner update {self.params_version}", flush=True)

    def _watch_estop(self) -> None:
        """Follows the run's e-stop flag; says so once when it changes. The env actors stop their
        arms themselves; the loop only stops handing out episodes."""
        estop = self.run.estop_requested()
        if estop == self.estopped:
            return
        self.estopped = estop
        self.run.append_metrics("estop", {"active": estop})
        if estop:
            print(f"E-STOP: every arm of this run is stopped; running episodes end with end_reason "
                  f"'estop' (kept, not scored) and none starts until `rrl estop {self.run.root} "
                  "--clear`", file=sys.stderr, flush=True)
        else:
            print("e-stop cleared: collection goes on", file=sys.stderr, flush=True)

    def loop(self, wait_rewards_s: float = 300.0) -> None:
        """Runs until every episode is collected and scored (or scoring waited `wait_rewards_s`);
        while the run's e-stop is set it starts no episode and stays alive."""
        collection_done_at = None
        while True:
            self._watch_estop()
            self._launch_episodes()
            self._submit_rewards()
            self._train_and_publish()
            futures = list(self.episode_futures) + list(self.reward_futures)
            if futures:
                ready, _ = ray.wait(futures, num_returns=1, timeout=0.5)
                for future in ready:
                    if future in self.episode_futures:
                        self._on_episode(future)
                    else:
                        self._on_reward(future)
            else:
                time.sleep(0.2)
            self._progress()
            collecting = self._collected() < self.config.run.episodes or self.episode_futures
            if collecting:
                continue
            collection_done_at = collection_done_at or time.time()
            unscored = len(self.pending) + len(self.reward_futures)
            if unscored == 0 or time.time() - collection_done_at > wait_rewards_s:
                if unscored:
                    print(f"{unscored} episodes still have no reward; they stay pending in the run "
                          f"directory (rrl train --resume {self.run.root} scores them)", flush=True)
                break
        self._finish_training()

    def shutdown(self) -> None:
        """Stops this run's actors (everything they made is already on disk; an episode in
        progress was never stored)."""
        for actor in [*getattr(self, "env_actors", []), getattr(self, "reward_actor", None),
                      getattr(self, "learner", None)]:
            if actor is not None:
                ray.kill(actor)
        self.tensorboard.close()

    def _finish_training(self) -> None:
        if self.train_future is not None:
            ray.get(self.train_future)
        metrics = ray.get(self.learner.train.remote(None))
        if metrics.get("updates"):
            self.run.append_metrics("learner", metrics)
        ray.get(self.learner.save.remote(str(self.run.checkpoint_path)))
        utilisation = ray.get([a.utilisation.remote() for a in self.env_actors])
        self.run.append_metrics("actors", {"utilisation": utilisation})
        self._progress(force=True)
        self.tensorboard.close()
