"""One device, MirroredStrategy over two logical CPUs, and two MultiWorkerMirrored processes on localhost give
the same losses and weights for the same global batch (each run in a fresh process); the MirroredStrategy run
accumulates the gradients of 2 micro-batches per replica."""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "pretrain_synthetic.py")


def _run(strategy, model_dir, weights_file, env=None, accumulation=1):
    return subprocess.Popen([sys.executable, SCRIPT, strategy, str(model_dir), "2", str(weights_file),
                             str(accumulation)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _result(process):
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _weights(model_dir, task=0):
    return np.load(os.path.join(model_dir, f"after-{task}.npz"))


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for handle in sockets:
        handle.bind(("localhost", 0))
    ports = [handle.getsockname()[1] for handle in sockets]
    for handle in sockets:
        handle.close()
    return ports


@pytest.mark.slow
def test_one_device_mirrored_and_multi_worker_agree(tmp_path):
    weights_file = tmp_path / "initial.npz"
    single = _result(_run("one_device", tmp_path / "single", weights_file))  # writes the initial weights
    mirrored = _run("mirrored", tmp_path / "mirrored", weights_file, accumulation=2)
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [_run("multi_worker_mirrored", tmp_path / "workers", weights_file,  # one shared model_dir
                    {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})})
               for index in range(2)]
    mirrored = _result(mirrored)
    worker_results = [_result(process) for process in workers]
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    assert all(result["replicas"] == 2 and result["step"] == 2 for result in worker_results)
    for other in [mirrored, *worker_results]:
        np.testing.assert_allclose(other["losses"], single["losses"], rtol=1e-5)
    reference = _weights(tmp_path / "single")
    for name, other in (("mirrored", _weights(tmp_path / "mirrored")), ("worker 0", _weights(tmp_path / "workers", 0)),
                        ("worker 1", _weights(tmp_path / "workers", 1))):
        worst = max(float(np.abs(reference[key] - other[key]).max()) for key in reference)
        assert worst < 1e-5, f"{name}: weights differ by {worst}"
    # Only the chief wrote the checkpoint into the shared model_dir; the other worker's scratch copy is gone.
    files = sorted(os.listdir(tmp_path / "workers"))
    assert "checkpoint" in files and "ckpt-2.index" in files, files
    assert not [name for name in files if name.startswith(".scratch")], files
    initial = np.load(weights_file)
    assert max(float(np.abs(reference[key] - initial[key]).max()) for key in reference) > 1e-4  # it trained
