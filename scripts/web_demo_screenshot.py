"""Screenshot of the web demo for docs/serving.md: the bundled model (or ``--model DIR``) answers
questions about the world sample in a real headless Chromium.

    .venv/bin/python scripts/web_demo_screenshot.py --out docs/images/web_demo.png

Needs the serve extra, playwright and Debian's chromium (scripts/_venv.sh installs them); Chinese
text renders only with a CJK font installed (Debian: ``apt-get install fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
from pathlib import Path

QUESTIONS = ("What colour is the diamond at the start?", "开始时蓝色的物体是什么形状？")  # about the world sample


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/images/web_demo.png"), help="PNG to write")
    parser.add_argument("--model", default=None, help="model directory, or random (default: the bundled model)")
    parser.add_argument("--question", action="append", help="a question to ask (repeat; default: two about the world sample)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from kangaroo.serve.engine import ChatEngine
    from kangaroo.serve.web import launch_demo

    root = Path(tempfile.mkdtemp(prefix="kangaroo-screenshot-"))
    engine = ChatEngine(args.model, max_frames=16)
    port = free_port()
    running = launch_demo(engine, port=port, samples_dir=root / "samples", block=False)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"http://127.0.0.1:{port}")
            page.locator("#sample input").click()
            page.locator("#sample li, #sample [role=option], ul.options li").filter(has_text="world").first.click()
            page.locator("#video video").wait_for(timeout=30_000)
            for n, question in enumerate(args.question or QUESTIONS, start=1):
                page.locator("#question textarea").fill(question)
                page.locator("#send").click()
                page.locator("#chatbot").get_by_text(question).wait_for(timeout=60_000)
                page.wait_for_function(
                    "(n) => [...document.querySelectorAll('#chatbot [data-testid=bot]')]"
                    ".filter(m => m.innerText.trim().length > 0).length >= n", arg=n, timeout=60_000)
            page.locator("#frames img").first.wait_for(timeout=30_000)
            page.wait_for_timeout(1_000)  # the last streamed chunk and the gallery settle
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        running.close()
        engine.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
