"""The dashboard in a real headless Chromium: the labelling flow end to end, and the run view's plot."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from experiments.dashboard import create_app
from experiments.rundir import RunDir
from reward_clients.human import current_labels
from tests.fixtures.dashboard_browser import chromium, require_chromium, serve
from tests.fixtures.dashboard_run import PENDING, make_sample_run

# A loaded <video>: it has decoded at least the current frame (HAVE_CURRENT_DATA) at the
# episode's size. Which source it chose tells whether H.264 or the WebM fallback played.
VIDEO_STATE = """
const v = document.getElementById(arguments[0]);
return {readyState: v.readyState, width: v.videoWidth, height: v.videoHeight, src: v.currentSrc,
        error: v.error && v.error.code};
"""


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_sample_run(tmp_path_factory.mktemp("dashboard-browser") / "run", episodes=4)


@pytest.fixture
def site(template, tmp_path):
    root = Path(shutil.copytree(template, tmp_path / "run"))
    with serve(create_app(root)) as url:
        yield root, url


def wait_for(browser, fn, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value {last!r}\n"
                         f"console: {browser.get_log('browser')}")


def shown_episode(browser) -> str:
    return browser.execute_script("return document.getElementById('episode-id').dataset.episode")


def loaded_video(browser, element_id="video"):
    state = browser.execute_script(VIDEO_STATE, element_id)
    return state if state["readyState"] >= 2 and state["width"] > 0 else None


def test_labelling_flow_end_to_end(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains

    root, url = site
    ids = RunDir(root).episode_ids()
    browser.get(url + "label")
    first = wait_for(browser, lambda: shown_episode(browser), what="an episode on the page")
    assert first == ids[-PENDING]  # the oldest episode still waiting for a reward
    video = wait_for(browser, lambda: loaded_video(browser), what="the episode video to load")
    assert (video["width"], video["height"]) == (64, 64) and video["error"] is None
    assert video["src"].endswith(f"/media/{first}/video.mp4"), "Debian's Chromium plays the H.264 original"
    final = wait_for(browser, lambda: browser.execute_script(
        "const i = document.getElementById('final-frame'); return i.complete && i.naturalWidth"), what="the final frame")
    assert final == 64

    ActionChains(browser).send_keys("4").perform()
    labels = wait_for(browser, lambda: current_labels(RunDir(root).labels()), what="a label in labels.jsonl")
    assert {k: (v["score"], v["labeller"]) for k, v in labels.items()} == {first: (4, "web")}
    second = wait_for(browser, lambda: (e := shown_episode(browser)) != first and e, what="the next episode")
    assert second == ids[-1]
    assert wait_for(browser, lambda: loaded_video(browser), what="the next video")["src"].endswith(f"/media/{second}/video.mp4")
    message = browser.find_element("id", "message").text
    assert f"Saved 4 for episode {first}" in message

    # Undo (key u) takes the label back in the file and puts that episode back on screen.
    ActionChains(browser).send_keys("u").perform()
    wait_for(browser, lambda: shown_episode(browser) == first, what="the undone episode back")
    rows = [json.loads(line) for line in (root / "labels.jsonl").read_text().splitlines()]
    assert rows[-1]["score"] is None and rows[-1]["episode_id"] == first
    ActionChains(browser).send_keys("2").perform()
    wait_for(browser, lambda: current_labels(RunDir(root).labels()).get(first, {}).get("score") == 2,
             what="the new label")


def test_webm_fallback_plays_in_chromium(browser, site):
    root, url = site
    eid = RunDir(root).episode_ids()[0]
    browser.get(f"{url}label")
    # Point the page's <video> at the fallback alone: it must decode as well as the original.
    browser.execute_script(
        "const v = document.getElementById('video'); v.replaceChildren(); v.src = arguments[0]; v.load();",
        f"{url}media/{eid}/video.webm",
    )
    state = wait_for(browser, lambda: (s := loaded_video(browser)) and s["src"].endswith(".webm") and s,
                     what="the WebM to load")
    assert (state["width"], state["height"]) == (64, 64)


def test_run_view_renders_its_plots_from_the_run_directory(browser, site):
    root, url = site
    browser.get(url)
    points = wait_for(
        browser,
        lambda: browser.execute_script(
            "const p = document.querySelector('#plot-success path[data-series=success_mean]');"
            "return p && p.getAttribute('data-points')"),
        what="the success plot",
    )
    assert points == "4"  # one moving-mean point per collected episode
    path = browser.execute_script("return document.querySelector('#plot-success path').getAttribute('d')")
    assert path.startswith("M") and path.count("L") == 3
    assert browser.execute_script("return document.querySelector('#plot-reward').dataset.points") == str(2 * (4 - PENDING))
    assert browser.find_element("id", "c-collected").text == "4 / 8"
    assert browser.find_element("id", "run-state").text.lower() == "running"
    browser.find_element("id", "pause").click()
    wait_for(browser, lambda: RunDir(root).paused(), what="control.json paused")
    assert wait_for(browser, lambda: browser.find_element("id", "pause").text == "Resume collection", what="button")


def test_episode_browser_lists_and_marks_an_episode_whose_meta_json_is_broken(browser, site):
    root, url = site
    ids = RunDir(root).episode_ids()
    broken = ids[1]
    (root / "episodes" / broken / "meta.json").write_text('{"episode_id": ')
    browser.get(url + "episodes")
    rows = wait_for(browser, lambda: browser.execute_script(
        "return [...document.querySelectorAll('#episode-table tbody tr')].map("
        "(r) => [r.dataset.episode, r.className, r.children[2].textContent])"), what="the episode rows")
    assert [r[0] for r in rows] == ids[::-1]
    marked = {r[0]: r for r in rows if r[1] == "broken"}
    assert list(marked) == [broken] and marked[broken][2].startswith("meta.json unreadable: not JSON")
    assert broken in browser.find_element("id", "banner").text
    browser.find_element("css selector", f"tr[data-episode='{broken}']").click()
    problem = wait_for(browser, lambda: browser.execute_script(
        "const p = document.querySelector('#detail .problem'); return p && p.textContent"), what="the detail's problem")
    assert "meta.json unreadable" in problem and "cannot be labelled" in problem
