"""Run directories: runs started together never share a folder."""

from concurrent.futures import ThreadPoolExecutor

from experiments.rundir import fresh_dir


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    # Two `rrl train` of one config started together once wrote into the same folder.
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = list(pool.map(lambda _: fresh_dir(tmp_path / "runs", "widowx_pick_place_dsrl"), range(8)))
    assert len(set(paths)) == 8
    assert all(path.is_dir() and path.name.startswith("widowx_pick_place_dsrl-") for path in paths)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(p.name for p in paths)
