"""The end-of-run report: PNG plots and a Markdown summary in `<run>/report/`.

    success.png     success (sim oracle) and reward by episode, with a 20-episode moving mean
    agreement.png   the reward source's score against the sim oracle's (sim runs)
    summary.md      the figures that matter, in a table
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only; no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments.rundir import RunDir  # noqa: E402
from experiments.training.curves import moving_mean  # noqa: E402

__all__ = ["write_report", "scored_rows"]


def scored_rows(run: RunDir) -> list[dict]:
    """Per scored episode, in collection order: index, success, score, reward, oracle score."""
    episodes = {row["episode_id"]: row for row in run.metrics("episode")}
    broken = run.broken_episodes()  # damaged or deleted episodes count nowhere
    rows = []
    for eid, result in run.scored().items():
        if eid in broken or not run.episode_path(eid).is_dir():
            continue
        episode = episodes.get(eid, {})
        rows.append({
            "episode_id": eid, "episode_index": episode.get("episode_index", len(rows)),
            "is_success": episode.get("is_success"), "oracle_score": episode.get("oracle_score"),
            "score": result["score"], "reward": result["reward"], "source": result.get("source"),
        })
    return sorted(rows, key=lambda r: r["episode_index"])


def write_report(run: RunDir) -> dict:
    """Writes the plots and summary.md; returns the summary figures."""
    run.report_dir.mkdir(parents=True, exist_ok=True)
    config = run.read_config()
    rows = scored_rows(run)
    summary = {"config": config.get("name"), "reward_source": config["reward"]["name"],
               "episodes_collected": len(set(run.episode_ids()) - set(run.broken_episodes())),
               "episodes_scored": len(rows)}
    if rows:
        index = np.array([r["episode_index"] for r in rows])
        reward = np.array([r["reward"] for r in rows], float)
        success = np.array([bool(r["is_success"]) for r in rows], float)
        fig, axes = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
        axes[0].plot(index, success, ".", alpha=0.3, label="episode")
        axes[0].plot(index, moving_mean(success), label="moving mean (20)")
        axes[0].set_ylabel("success (sim oracle)")
        axes[0].set_ylim(-0.05, 1.05)
        axes[0].legend(loc="upper left")
        axes[1].plot(index, reward, ".", alpha=0.3)
        axes[1].plot(index, moving_mean(reward))
        axes[1].set_ylabel(f"reward ({summary['reward_source']})")
        axes[1].set_xlabel("episode")
        fig.suptitle(str(summary["config"]))
        fig.tight_layout()
        fig.savefig(run.report_dir / "success.png", dpi=100)
        plt.close(fig)
        n = min(20, len(rows))
        summary.update(success_first=float(success[:n].mean()), success_last=float(success[-n:].mean()),
                       mean_reward=float(reward.mean()), window=n)
        paired = [(r["oracle_score"], r["score"]) for r in rows if r["oracle_score"] is not None]
        if paired:
            oracle, score = np.array(paired).T
            confusion = np.zeros((5, 5), int)
            np.add.at(confusion, (oracle - 1, score - 1), 1)
            fig, ax = plt.subplots(figsize=(4.5, 4))
            ax.imshow(confusion, cmap="Blues")
            for (i, j), count in np.ndenumerate(confusion):
                ax.text(j, i, str(count), ha="center", va="center")
            ax.set_xticks(range(5), range(1, 6))
            ax.set_yticks(range(5), range(1, 6))
            ax.set_xlabel(f"{summary['reward_source']} score")
            ax.set_ylabel("sim oracle score")
            ax.set_title("reward source vs oracle")
            fig.tight_layout()
            fig.savefig(run.report_dir / "agreement.png", dpi=100)
            plt.close(fig)
            summary["mae_vs_oracle"] = float(np.abs(oracle - score).mean())
    lines = [f"# {summary['config']}", "", "| figure | value |", "|---|---|"]
    lines += [f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |"
              for key, value in summary.items()]
    if config["reward"]["name"] == "noisy_oracle":
        lines += ["", "The reward source is a *simulated* reward model (the sim oracle with noise)."]
    elif config["reward"]["name"] == "random":
        lines += ["", "The reward source is *simulated*: uniform random scores (the no-information control)."]
    (run.report_dir / "summary.md").write_text("\n".join(lines) + "\n")
    return summary
