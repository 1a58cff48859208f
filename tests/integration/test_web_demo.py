"""The web demo in a real headless Chromium (Debian's, driven by playwright): upload a generated
video, see its sampled frames, ask a question, watch the answer arrive, ask a follow-up."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="needs the serve extra: pip install 'kangaroo[serve]'")
playwright = pytest.importorskip("playwright.sync_api", reason="needs playwright (the dev extra)")

from kangaroo.inference.loading import ensure_tiny_random  # noqa: E402
from kangaroo.serve.engine import ChatEngine  # noqa: E402
from kangaroo.serve.web import launch_demo, link_timestamps  # noqa: E402
from serve_fixtures import free_port  # noqa: E402

from video_fixtures import write_indexed  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_times_in_an_answer_link_to_the_nearest_frame():
    times = [0.5, 1.5, 2.5, 3.5]
    urls = [f"/f/{i}.jpg" for i in range(4)]
    text = link_timestamps("At 1.4 s it turns; 0:03 it stops; 3秒 later. Not 12.5 or v2.", times, urls)
    assert '[1.4 s](/f/1.jpg "frame 1 at 1.50 s")' in text
    assert "[0:03](/f/2.jpg" in text or "[0:03](/f/3.jpg" in text  # 3.0 s: as near to 2.5 as to 3.5
    assert "[3秒](/f/2.jpg" in text or "[3秒](/f/3.jpg" in text
    assert "Not 12.5 or v2." in text  # numbers that are not times stay as they are


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/_venv.sh installs it: apt-get install chromium)")
    root = tmp_path_factory.mktemp("demo")
    engine = ChatEngine(ensure_tiny_random(root / "cache"), max_frames=16)
    port = free_port()
    running = launch_demo(engine, port=port, samples_dir=root / "samples", block=False)
    yield f"http://127.0.0.1:{port}", root
    running.close()
    engine.close()


def test_upload_ask_stream_and_follow_up_in_a_browser(demo, tmp_path):
    url, _ = demo
    video = write_indexed(tmp_path / "clip.mp4", 30, fps=10)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.locator("#video input[type=file]").set_input_files(str(video))
        page.locator("#video video").wait_for(timeout=30_000)
        question = page.locator("#question textarea")
        question.fill("What colour is the first frame?")
        page.locator("#send").click()
        bot = page.locator("#chatbot")
        bot.get_by_text("What colour is the first frame?").wait_for(timeout=60_000)
        # the follow-up is typed and sent while the first answer is still streaming (128 tokens):
        # neither the streaming nor the pending event may swallow it
        question.fill("然后呢？ And then?")
        page.locator("#send").click()
        answered = ("(n) => [...document.querySelectorAll('#chatbot [data-testid=bot]')]"
                    ".filter(m => m.innerText.trim().length > 0).length >= n")
        page.wait_for_function(answered, arg=1, timeout=60_000)  # the streamed answer arrived
        page.locator("#frames img").first.wait_for(timeout=30_000)
        captions = [line for line in page.locator("#frames").inner_text().splitlines() if line.endswith(" s")]
        assert len(captions) == 16 and captions[0] == "0.00 s"  # every sampled frame, with its time
        bot.get_by_text("然后呢？ And then?").wait_for(timeout=60_000)
        page.wait_for_function(answered, arg=2, timeout=60_000)
        assert question.input_value() == ""  # taken once, not left behind
        page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
        browser.close()
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_files_outside_the_demo_folders_are_not_served(demo, tmp_path):
    url, _ = demo
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    for path in (str(secret), "/etc/passwd"):
        try:
            with urllib.request.urlopen(f"{url}/gradio_api/file={path}", timeout=10) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            assert exc.code in (403, 404)
        else:
            raise AssertionError(f"{path} was served: {body[:40]!r}")
