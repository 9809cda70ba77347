"""Two gloo ranks evaluate disjoint halves: every test video is counted exactly once."""

from __future__ import annotations

import json
import subprocess
import sys

from eval_helpers import tiny_overrides, tiny_video_encoder, tiny_video_sets
from test_distributed import free_port
from train_helpers import subprocess_env

RANK_MAIN = """
import json, sys
from vjepa.eval.main import compose, run
r = run(compose(sys.argv[1:]))
print("RESULT " + json.dumps({"test": r["test"], "videos": r["videos"]}), flush=True)
"""


def test_two_ranks_count_every_test_video_once(tmp_path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    train, test = tiny_video_sets(tmp_path / "data", broken=broken)  # 8 good + 1 broken
    ckpt = tiny_video_encoder(tmp_path / "enc.pth.tar")
    overrides = tiny_overrides(ckpt, train, test, tmp_path / "run")
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, "-c", RANK_MAIN, *overrides],
                              env=subprocess_env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r),
                                                 MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    results = [json.loads(next(line for line in out.splitlines()
                               if line.startswith("RESULT "))[7:]) for out, _ in outs]
    assert results[0] == results[1]  # merged counts, the same on both ranks
    videos = results[0]["videos"]["test"]
    assert (videos["listed"], videos["evaluated"], videos["failed"]) == (9, 8, 1)
    assert sum(results[0]["test"]["per_class_count"]) == 8  # no duplicates, no padding
    written = json.loads((tmp_path / "run" / "results.json").read_text())
    assert written["world_size"] == 2 and written["videos"]["test"]["evaluated"] == 8
    assert sorted(p.name for p in (tmp_path / "run" / "features" / "test").glob("r*.json")) == [
        "r0.json", "r1.json"]
