"""Load on `kangaroo serve`: concurrent clients asking follow-up questions about a few videos.

For each client count (``--clients 1,4,16``) the clients talk for ``--seconds``: client ``i``
holds a conversation about video ``i % --videos`` and sends each follow-up with the whole
conversation so far (as OpenAI clients do), streaming. Reported per count: throughput, p50/p95
time to first token (to the first streamed chunk, which the server sends with the first token)
and total latency, the share refused with 429, and errors other than 429 (target: 0).
The same load runs against two named baselines: the same server with ``--no-reuse`` (every
request decodes and encodes its video and prefills its whole prompt; target: at 16 clients, p50
time to first token with reuse <= 0.3x its), and with ``--max-num-seqs 1`` (one reply decoded at
a time instead of all started replies in one batch: the gain of batched decoding, in answers per
second and latency). With ``--leak-requests N`` the
reusing server then answers N more requests and its resident memory after / before is reported
(target <= 1.2).

    .venv/bin/python benchmarks/serve_load.py [--model DIR] [--clients 1,4,16] [--seconds 60]
        [--videos 4] [--frames 16] [--max-tokens 16] [--leak-requests 1000] [--json out.json]

Without ``--model`` the server uses its default model (`load_chat_model`'s resolution).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from kangaroo.video.sample import make_sample_video

QUESTIONS = ["What happens in the video?", "And then?", "What colour is the clock?", "When does it end?",
             "Describe the last second.", "What changed?"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SERVERS = {  # name: the server's options
    "reuse": ["--reuse"],
    "no-reuse (baseline)": ["--no-reuse"],
    "one at a time (baseline)": ["--reuse", "--max-num-seqs", "1"],
}


def start_server(model: str | None, media: Path, options: list[str], frames: int,
                 queue: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "kangaroo.cli", "serve", "--port", str(port), "--log-level", "warning",
               "--allowed-local-media-path", str(media), "--max-queue", str(queue),
               "--media-io-kwargs", json.dumps({"video": {"num_frames": frames}}),
               *options, *(["--model", model] if model else [])]
    process = subprocess.Popen(command)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"kangaroo serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("kangaroo serve did not get ready in 600 s")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def ask(client: httpx.Client, url: str, messages: list[dict], max_tokens: int) -> dict[str, Any]:
    """One streamed request: ``status``, ``ttft`` and ``latency`` (seconds), ``answer``."""
    started = time.perf_counter()
    ttft, pieces = None, []
    body = {"messages": messages, "max_tokens": max_tokens, "stream": True}
    with client.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=600) as response:
        if response.status_code != 200:
            response.read()
            return {"status": response.status_code, "error": response.text[:200]}
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            if ttft is None:
                ttft = time.perf_counter() - started
            chunk = json.loads(line[6:])
            if "error" in chunk:
                return {"status": 500, "error": chunk["error"]["message"]}
            pieces += [c["delta"].get("content", "") for c in chunk["choices"]]
    latency = time.perf_counter() - started
    return {"status": 200, "ttft": ttft if ttft is not None else latency, "latency": latency, "answer": "".join(pieces)}


def run_load(url: str, videos: list[Path], clients: int, seconds: float, max_tokens: int,
             turns: int) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client_loop(index: int) -> None:
        video = "file://" + os.fspath(videos[index % len(videos)])
        with httpx.Client() as client:
            while time.monotonic() < stop_at:
                messages: list[dict] = []
                for turn in range(turns):
                    if time.monotonic() >= stop_at:
                        return
                    question = QUESTIONS[(index + turn) % len(QUESTIONS)]
                    content: Any = question if messages else [
                        {"type": "video_url", "video_url": {"url": video}}, {"type": "text", "text": question}]
                    messages.append({"role": "user", "content": content})
                    result = ask(client, url, messages, max_tokens)
                    with lock:
                        results.append(result)
                    if result["status"] != 200:
                        messages.pop()
                        time.sleep(0.2)
                        continue
                    messages.append({"role": "assistant", "content": result["answer"]})

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarise(results: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    done = [r for r in results if r["status"] == 200]
    rejected = sum(r["status"] == 429 for r in results)
    return {"requests": len(results), "answered": len(done), "throughput_rps": len(done) / seconds,
            "ttft_p50": percentile([r["ttft"] for r in done], 0.5), "ttft_p95": percentile([r["ttft"] for r in done], 0.95),
            "latency_p50": statistics.median([r["latency"] for r in done]) if done else float("nan"),
            "latency_p95": percentile([r["latency"] for r in done], 0.95),
            "rejected_share": rejected / len(results) if results else 0.0,
            "errors": sum(r["status"] not in (200, 429) for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="saved model directory (default: the server's default model)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--turns", type=int, default=4, help="questions per conversation before a new one")
    parser.add_argument("--queue", type=int, default=32, help="the server's --max-queue")
    parser.add_argument("--leak-requests", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        videos = [make_sample_video(media / f"video{i}.mp4", duration=6.0 + 2 * i, fps=12, size=(320, 180))
                  for i in range(args.videos)]
        report: dict[str, Any] = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                                  "runs": []}
        for server, options in SERVERS.items():
            process, url = start_server(args.model, media, options, args.frames, args.queue)
            try:
                for clients in counts:
                    results = run_load(url, videos, clients, args.seconds, args.max_tokens, args.turns)
                    row = {"server": server, "clients": clients, **summarise(results, args.seconds)}
                    report["runs"].append(row)
                    print(json.dumps(row), flush=True)
                if server == "reuse" and args.leak_requests:
                    run_load(url, videos, 4, 5.0, args.max_tokens, args.turns)  # warm up
                    before = rss_bytes(process.pid)
                    answered = 0
                    while answered < args.leak_requests:
                        batch = run_load(url, videos, 4, 2.0, args.max_tokens, args.turns)
                        answered += sum(r["status"] == 200 for r in batch)
                    report["memory"] = {"requests": answered, "rss_before": before, "rss_after": rss_bytes(process.pid)}
                    report["memory"]["ratio"] = report["memory"]["rss_after"] / before
                    print(json.dumps(report["memory"]), flush=True)
            finally:
                stop_server(process)

    print("\n| server | clients | answered/s | TTFT p50 | TTFT p95 | latency p50 | latency p95 | 429 share | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in report["runs"]:
        print(f"| {r['server']} | {r['clients']} | {r['throughput_rps']:.2f} | {r['ttft_p50']:.3f} s | "
              f"{r['ttft_p95']:.3f} s | {r['latency_p50']:.3f} s | {r['latency_p95']:.3f} s | "
              f"{r['rejected_share']:.0%} | {r['errors']} |")
    by = {(r["server"], r["clients"]): r for r in report["runs"]}
    for clients in counts:
        ours, no_reuse, one = (by[(name, clients)] for name in SERVERS)
        print(f"{clients} clients: p50 TTFT reuse / no-reuse = {ours['ttft_p50'] / no_reuse['ttft_p50']:.2f}x "
              f"(target <= 0.3x at 16); batched / one at a time: answers/s "
              f"{ours['throughput_rps'] / one['throughput_rps']:.2f}x, latency p50 "
              f"{ours['latency_p50'] / one['latency_p50']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
