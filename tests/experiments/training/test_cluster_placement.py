"""A robot's env actor lands on the host that has the robot (Ray custom resource)."""

import pytest
import ray
from ray.cluster_utils import Cluster

from configs import get_config
from configs.overrides import apply_overrides, config_to_dict
from experiments.training.actors import remote_actor_classes


@pytest.fixture(scope="module")
def two_node_cluster():
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    robot_node = cluster.add_node(num_cpus=1, resources={"widowx_robot": 1})
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster, robot_node
    ray.shutdown()
    cluster.shutdown()


def test_pinned_env_actor_runs_on_the_node_with_the_robot(two_node_cluster, tmp_path):
    cluster, robot_node = two_node_cluster
    config = apply_overrides(get_config("debug"), ["env.robot_resource=widowx_robot"])
    env_cls, _, _ = remote_actor_classes(config)
    actor = env_cls.remote(0, config_to_dict(config), str(tmp_path))
    node_id = ray.get(actor.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id()))
    assert node_id == robot_node.node_id
    assert node_id != cluster.head_node.node_id
    ray.kill(actor)
