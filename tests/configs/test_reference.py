"""The published DSRL settings as a preset: `dsrl_reference` turns a named DSRL config into its
`_ref` sibling, changing the learner only."""

import dataclasses

import pytest

from configs import get_config
from configs.overrides import config_from_json, config_to_dict
from configs.reference import dsrl_reference


def test_the_reference_preset_uses_the_published_dsrl_settings():
    ours = get_config("widowx_pick_place_dsrl")
    ref = dsrl_reference(ours)
    assert ref.name == "widowx_pick_place_dsrl_ref" and ref.agent_kind == "dsrl"
    sac, dsrl, replay = ref.agent.sac, ref.agent.dsrl, ref.agent.replay
    assert sac.critic_target == "td" and sac.target_range is None  # bootstrapped, unclipped
    assert sac.num_critics == 2 and sac.target_entropy_scale == 0.0  # target entropy 0
    assert sac.init_log_std == 0.0 and sac.init_temperature == 1.0 and not sac.backup_entropy
    assert (sac.batch_size, sac.discount, sac.tau) == (256, 0.99, 0.005)
    assert sac.hidden_dims == (128, 128, 128)
    assert dsrl.noise_scale == 1.5 and dsrl.noise_prior_weight == 0.0  # the published noise box
    assert dsrl.warmup_episodes > 0 and replay.min_transitions == 1 and replay.utd_ratio == 20.0
    # Ours differ where the docstring's table says so.
    assert ours.agent.sac.critic_target == "mc" and ours.agent.sac.num_critics == 5
    assert ours.agent.dsrl.warmup_episodes == 0
    # Only the learner changes: env, base policy, reward and run are the named config's.
    for part in ("env", "reward", "pretrain", "run"):
        assert getattr(ref, part) == getattr(ours, part), part
    assert ref.agent.diffusion == ours.agent.diffusion and ref.agent.bc == ours.agent.bc
    # It survives the run directory's config.json.
    assert config_from_json(config_to_dict(ref)) == ref


def test_pixel_configs_get_a_pixel_reference_that_keeps_their_cameras():
    ours = get_config("franka_open_drawer_dsrl_pixels")
    ref = dsrl_reference(ours)
    assert ref.name == "franka_open_drawer_dsrl_pixels_ref"
    assert ref.env == ours.env and ref.agent.diffusion.encoder.num_cameras == 2
    assert ref.agent.sac == dsrl_reference(get_config("franka_open_drawer_dsrl")).agent.sac


@pytest.mark.parametrize("name", ["widowx_pick_place_sac", "widowx_pick_place_dsrl_na", "debug"])
def test_only_named_dsrl_configs_have_a_reference(name):
    with pytest.raises(ValueError, match="needs a named DSRL config"):
        dsrl_reference(get_config(name))
    renamed = dataclasses.replace(get_config("widowx_pick_place_dsrl"), name="mine")
    with pytest.raises(ValueError, match="got 'mine'"):
        dsrl_reference(renamed)
