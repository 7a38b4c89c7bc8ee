"""The tasks, their instructions, and the progress oracle that plays the human labeller in sim.

The oracle returns the RoboReward rubric's end-of-episode score (1-5) for the *current* state, so
the score of an episode is the oracle on its final state. Each oracle is a pure function of a
small state record, so the thresholds below are the whole definition and are easy to test.

pick_place ("put the <object> on the cloth"); heights are of the object's bottom above the table,
"inside" means the object's centre is over the cloth, "edge" that its footprint overlaps the cloth:
  5  inside, resting (bottom <= cloth top + 1 cm) and released (not held by both fingers)
  4  edge and resting (on the cloth's edge), or inside but still held / hovering <= 10 cm above
  3  lifted (bottom >= 2 cm above the table) but not over the cloth, or moved >= 5 cm and at
     least half-way from its start toward the cloth
  2  moved >= 5 mm from where it started, or being touched by a finger now
  1  otherwise (no goal-relevant change)

pick_place_multi ("put the <object> on the red cloth", three cloths: red, green and blue): the
same rubric for the named (red) cloth, with one more rule, checked after 5 and 4: an object
resting on another cloth (its footprint overlapping that cloth) scores 2, moved but not where the
instruction says. The base policy is fitted on demos that pick any cloth, blind to the words.

open_drawer ("open the drawer"); opening as a fraction of the drawer's travel:
  5  >= 80 %
  4  >= 55 %
  3  >= 30 %
  2  >= 1 cm, or the gripper touching the handle now
  1  otherwise
A task counts as a success when its oracle says 5.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = [
    "TaskSpec",
    "TASKS",
    "PickPlaceState",
    "DrawerState",
    "pick_place_score",
    "open_drawer_score",
    "SUCCESS_SCORE",
    "CLOTH_COLOURS",
]

SUCCESS_SCORE = 5
# pick_place_multi's cloths; the instruction names the first.
CLOTH_COLOURS = ("red", "green", "blue")


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A task: its name and the instruction template (`{object}` is filled per episode)."""

    name: str
    instruction: str
    # Object names the instruction may use (pick_place); the sim picks one per episode.
    object_names: tuple[str, ...] = ()

    def instruction_for(self, object_name: str | None = None) -> str:
        return self.instruction.format(object=object_name or "")


TASKS = {
    "pick_place": TaskSpec(
        name="pick_place",
        instruction="put the {object} on the cloth",
        object_names=("sponge", "toy", "plush block"),
    ),
    "pick_place_multi": TaskSpec(
        name="pick_place_multi",
        instruction=f"put the {{object}} on the {CLOTH_COLOURS[0]} cloth",
        object_names=("sponge", "toy", "plush block"),
    ),
    "open_drawer": TaskSpec(name="open_drawer", instruction="open the drawer"),
}


@dataclasses.dataclass(frozen=True)
class PickPlaceState:
    """What the pick_place oracle looks at (metres, world frame, table top at `table_z`)."""

    object_pos: np.ndarray  # centre (3,)
    object_start: np.ndarray  # centre at reset (3,)
    object_half_size: float  # half the object's edge
    cloth_center: np.ndarray  # (3,), z = cloth top
    cloth_half_size: tuple[float, float]  # (x, y)
    table_z: float
    held: bool  # both fingers touch the object
    touched: bool  # at least one finger touches the object
    other_cloths: tuple[np.ndarray, ...] = ()  # centres (z = top) of cloths the task does not name


@dataclasses.dataclass(frozen=True)
class DrawerState:
    opening: float  # metres the drawer is pulled out
    travel: float  # the drawer's full travel (m)
    handle_touched: bool


def _over_cloth(s: PickPlaceState, centre) -> tuple[bool, bool, bool]:
    """(inside, edge, resting) of the object against the cloth at `centre` (z = its top)."""
    offset = np.abs(np.asarray(s.object_pos[:2]) - np.asarray(centre[:2]))
    half = np.asarray(s.cloth_half_size)
    bottom = float(s.object_pos[2]) - s.object_half_size
    return (bool(np.all(offset <= half)), bool(np.all(offset <= half + s.object_half_size)),
            bottom <= float(centre[2]) + 0.01)


def pick_place_score(s: PickPlaceState) -> int:
    inside, edge, resting = _over_cloth(s, s.cloth_center)
    bottom = float(s.object_pos[2]) - s.object_half_size
    cloth_top = float(s.cloth_center[2])
    if inside and resting and not s.held:
        return 5
    if (edge and resting) or (inside and bottom <= cloth_top + 0.10):
        return 4
    for other in s.other_cloths:  # on the wrong cloth: moved, but not as instructed
        _, other_edge, other_resting = _over_cloth(s, other)
        if other_edge and other_resting:
            return 2
    moved = float(np.linalg.norm(np.asarray(s.object_pos) - np.asarray(s.object_start)))
    start_gap = float(np.linalg.norm(np.asarray(s.object_start[:2]) - s.cloth_center[:2]))
    gap = float(np.linalg.norm(np.asarray(s.object_pos[:2]) - s.cloth_center[:2]))
    lifted = bottom >= s.table_z + 0.02
    if lifted or (moved >= 0.05 and gap <= 0.5 * start_gap):
        return 3
    if moved >= 0.005 or s.touched:
        return 2
    return 1


def open_drawer_score(s: DrawerState) -> int:
    fraction = s.opening / s.travel + 1e-9  # so that exactly 80 % counts as 80 %
    if fraction >= 0.8:
        return 5
    if fraction >= 0.55:
        return 4
    if fraction >= 0.3:
        return 3
    if s.opening >= 0.01 or s.handle_touched:
        return 2
    return 1
