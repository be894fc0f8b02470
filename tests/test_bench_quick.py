"""The benchmark harness (bench/) runs end to end and writes its JSON and Markdown.

Only the structure of the output is checked, never timings. PyTorch is not a test
dependency: without it the harness must skip its worker and say so. ONNX Runtime (a test
dependency) runs the models fastrnn exports, in the inference and latency modes only.
"""
import importlib.util
import json
import os
import subprocess
import sys

import fastrnn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The folder holding the fastrnn under test (installed, or built in place under python/).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
BENCH = os.path.join(REPO, "bench")
MODES = ("train", "infer", "latency")
INFERENCE_ONLY = {"onnxrt"}


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return env


def _run(args, timeout=150):
    proc = subprocess.run([sys.executable] + args, cwd=REPO, env=_env(), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _load(out_dir, stem):
    with open(os.path.join(out_dir, stem + ".json")) as f:
        data = json.load(f)
    with open(os.path.join(out_dir, stem + ".md")) as f:
        md = f.read()
    return data, md


def _runs(framework, mode):
    return mode != "train" or framework not in INFERENCE_ONLY


def _check_result_row(row, frameworks, modes=MODES):
    assert set(row) >= {"config", "flops", "tokens", "frameworks", "speedup"}
    assert set(row["flops"]) == set(modes) and all(v > 0 for v in row["flops"].values())
    for fw in frameworks:
        entry = row["frameworks"][fw]
        assert entry["error"] is None, entry
        assert entry["peak_rss_mb"] > 0
        assert sorted(entry["modes"]) == sorted(m for m in modes if _runs(fw, m))
        for mode in entry["modes"]:
            t = entry["modes"][mode]
            assert {"median_ms", "samples_ms", "inner", "tokens_per_s", "gflops",
                    "peak_fraction"} <= set(t)
            assert len(t["samples_ms"]) >= 1
    for mode in modes:
        peers = [f for f in frameworks if f != "fastrnn" and _runs(f, mode)]
        sp = row["speedup"][mode]
        assert set(sp) == {"vs_tf", "vs_torch", "vs_onnxrt", "vs_best", "ceiling_vs_best"}
        assert (sp["vs_onnxrt"] is not None) == ("onnxrt" in peers)
        # The ceiling (peer time against the FLOPs at GEMM peak) exists whenever a peer ran.
        assert (sp["ceiling_vs_best"] is not None) == bool(peers)
        if peers:
            assert sp["ceiling_vs_best"] > 0


def test_smoke_run_writes_json_and_markdown(tmp_path):
    out = _run([os.path.join(BENCH, "run.py"), "--smoke", "--out-dir", str(tmp_path)])
    stems = {p.rsplit(".", 1)[0] for p in os.listdir(tmp_path)}
    assert len(stems) == 1, os.listdir(tmp_path)
    data, md = _load(tmp_path, stems.pop())

    assert {"schema", "date", "preset", "threads", "runtime", "frameworks", "skipped",
            "machine", "load_before", "load_after", "gemm", "framework_info", "results",
            "scaling"} <= set(data)
    assert data["preset"] == "smoke"
    expected = [fw for fw, mod in (("fastrnn", "fastrnn"), ("tf", "tensorflow"),
                                   ("torch", "torch"), ("onnxrt", "onnxruntime"))
                if importlib.util.find_spec(mod) or fw == "fastrnn"]
    assert data["frameworks"] == expected
    if importlib.util.find_spec("torch") is None:
        assert "torch" in data["skipped"] and "skipping torch" in out
        assert "Skipped PyTorch" in md
    assert data["gemm"]["gflops"] > 0 and data["gemm"]["n"] > 0
    assert len(data["results"]) == 1
    row = data["results"][0]
    _check_result_row(row, data["frameworks"])
    o = row["overhead"]
    assert {"step_ms", "native_kernels_ms", "native_other_ms", "python_side_ms",
            "python_side_fraction", "outside_kernels_ms"} <= set(o)
    assert 0 < o["native_kernels_ms"] and 0 < o["native_other_ms"]
    assert 0 < o["python_side_fraction"] < 1

    assert "## Training step" in md and "## Recurrent layer(s) forward" in md
    assert "## Batch-1 latency" in md and "Python-side time (outside native code)" in md
    assert "| smoke-lstm |" in md


def test_custom_configs_and_missing_framework_are_reported(tmp_path):
    """A custom config list (bidirectional and stacked cells, also exported to ONNX Runtime)
    and a framework reported as missing: the JSON says why torch was skipped."""
    cfgs = [dict(cell="gru", E=6, H=5, T=4, B=3, bidir=True, name="tiny-bigru"),
            dict(cell="simple_rnn", E=6, H=5, T=4, B=3, stack=2, modes=["train", "infer"],
                 name="tiny-2xrnn")]
    cfg_file = tmp_path / "cfgs.json"
    cfg_file.write_text(json.dumps(cfgs))
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import run\n"
        "run.framework_available = lambda n: 'torch is not installed' if n == 'torch' "
        "else None\n"
        "run.main(sys.argv[2:])\n")
    out = _run(["-c", script, BENCH, "--quick", "--repeats", "1", "--warmup", "1",
                "--frameworks", "fastrnn", "torch", "onnxrt", "--config-file", str(cfg_file),
                "--no-plot", "--out-dir", str(tmp_path)])
    assert "skipping torch: torch is not installed" in out
    stem = [p for p in os.listdir(tmp_path) if p.endswith(".json") and p != "cfgs.json"]
    assert len(stem) == 1
    data, md = _load(tmp_path, stem[0][:-5])
    assert data["frameworks"] == ["fastrnn", "onnxrt"]
    assert data["skipped"] == {"torch": "torch is not installed"}
    assert [r["config"]["name"] for r in data["results"]] == ["tiny-bigru", "tiny-2xrnn"]
    _check_result_row(data["results"][0], ["fastrnn", "onnxrt"])
    _check_result_row(data["results"][1], ["fastrnn", "onnxrt"], modes=("train", "infer"))
    assert "Skipped PyTorch: torch is not installed" in md
    assert "| tiny-bigru |" in md and "| tiny-2xrnn |" in md


def test_flop_formula():
    sys.path.insert(0, BENCH)
    try:
        spec = importlib.util.spec_from_file_location("bench_flops",
                                                      os.path.join(BENCH, "flops.py"))
        flops = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(flops)
    finally:
        sys.path.remove(BENCH)
    cfg = dict(cell="lstm", bidir=False, stack=1, E=32, H=32, T=500, B=128, vocab=10000)
    fwd = 2 * 128 * 500 * (32 + 32) * 4 * 32 + 17 * 128 * 500 * 32
    assert flops.recurrent_forward(cfg) == fwd
    assert flops.for_mode(cfg, "infer") == fwd
    assert flops.for_mode(cfg, "latency") == fwd // 128 + 2 * 32
    params = 10000 * 32 + 32 * 128 + 32 * 128 + 128 + 32 + 1
    assert flops.param_count(cfg) == params
    assert flops.train_step(cfg) == 3 * (fwd + 2 * 128 * 32) + 128 * 500 * 32 + 8 * params
    bi = dict(cfg, cell="gru", bidir=True, stack=2)
    per_dir1 = 2 * 128 * 500 * (32 + 32) * 3 * 32 + 17 * 128 * 500 * 32
    per_dir2 = 2 * 128 * 500 * (64 + 32) * 3 * 32 + 17 * 128 * 500 * 32
    assert flops.recurrent_forward(bi) == 2 * (per_dir1 + per_dir2)
