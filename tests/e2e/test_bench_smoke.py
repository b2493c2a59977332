"""A short run of every benchmark, so `make bench` cannot rot: `--quick`, and (but for the
colour benchmark) on photos of at most 2 MP (PROPHOTO_BENCH_SMOKE), since a smoke run checks
that the benchmark runs and saves its figures, not the figures (`make bench` measures on the
full sizes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CORPUS, REPO

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.mark.timeout(480)  # the pipeline's short run starts a dozen processes: minutes on a busy machine
@pytest.mark.parametrize("module,name", [("bench.upload", "upload"), ("bench.tus", "tus"),
                                         ("bench.pipeline", "pipeline"),
                                         ("bench.finalize", "finalize"), ("bench.raw", "raw"),
                                         ("bench.hostile", "hostile"), ("bench.colour", "colour"),
                                         ("bench.lanes", "lanes")])
def test_the_benchmark_runs_end_to_end_and_saves_its_figures(tmp_path, migrated, module, name):
    if name == "raw" and not (CORPUS / "raw").is_dir():
        pytest.skip(f"the RAW benchmark reads the corpus's RAWs, not present at {CORPUS}")
    env = dict(os.environ, PROPHOTO_BENCH_RESULTS=str(tmp_path), PYTHONPATH=str(REPO))
    if name != "colour":  # photos of at most 2 MP (bench/common.py); colour's overhead check needs its size
        env["PROPHOTO_BENCH_SMOKE"] = "1"
    run = subprocess.run([sys.executable, "-m", module, "--quick"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=450)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = json.loads((tmp_path / f"{name}-latest.json").read_text())
    if name == "upload":
        assert {r["concurrency"] for r in result["rows"]} == {1, 8}
        assert all(r["upload_ms"]["p50"] > 0 and r["store_write_ms"]["p50"] > 0 for r in result["rows"])
        assert result["big_upload"]["rss_growth_mb"] < 100
        assert "p50 ms" in run.stdout
    elif name == "tus":
        assert result["tus_mb_s"] > 0 and result["direct_mb_s"] > 0 and result["throughput_ratio"] > 0
        assert 0.4 < result["resume"]["resent_fraction"] <= 0.55
        assert "resume sent" in run.stdout
    elif name == "finalize":
        assert result["file"]["images"] == result["file"]["per_image_ms"]["n"] > 0
        assert result["file"]["per_image_ms"]["p50"] > 0 and result["ratios"]["file_vs_floor_p50"] > 0
        assert "finalize / floor" in run.stdout
    elif name == "raw":
        embedded = [r for r in result["files"] if r.get("embedded")]
        assert embedded and all(r["ms"]["p50"] > 0 and r["baseline_ms"] > 0 for r in embedded)
        assert "embedded path: worst file" in run.stdout
    elif name == "lanes":
        assert result["alone_rate"] > 0 and result["mixed"]["bulk_rate"] > 0
        assert result["mixed"]["upload_to_ready_s"]["n"] > 0 and result["mixed"]["on_demand_s"]["n"] > 0
        assert result["ratios"]["small_user_vs_fair_half"] > 0
        assert "small bulk user beside a big one" in run.stdout
    elif name == "colour":
        assert set(result["tagged"]) == {"p3.jpg", "adobe-exif.jpg", "cmyk.jpg", "prophoto16.tiff"}
        assert all(r["srgb_ratio"] > 0 and r["display-p3_ratio"] > 0 for r in result["tagged"].values())
        assert 0 < result["srgb_overhead"] < 0.05
        assert "colour work on sRGB inputs" in run.stdout
    elif name == "hostile":
        assert result["render"]["ratio"] > 0 and result["rss"]["preview"]["peak_mb"] > 0
        assert result["uploads"][0]["upload_ms"]["p99"] > 0
        assert "render process / in-process" in run.stdout
    else:
        for key in ("pipeline_vs_libvips_floor", "pipeline_vs_scaled_floor", "two_vs_one_worker",
                    "backlog_last_vs_first", "render_process_vs_in_process"):
            assert result["ratios"][key] > 0
        assert result["upload_loaded"]["upload_10mb_ms"]["p50"] > 0
        assert result["bindings"]["simplejpeg"] > 0
        assert "pipeline / libvips one-decode floor" in run.stdout and ("met" in run.stdout or "MISSED" in run.stdout)
        assert result["one_worker"]["images"] == result["two_workers"]["images"] > 0
        assert "2 workers / 1 worker" in run.stdout
        assert "render process / in-process render" in run.stdout
