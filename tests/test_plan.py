"""The plan before a run (`python -m electra_tf.plan`): its measured peak memory of a step agrees with a
separate measurement of the same step, and a configuration that cannot fit is refused with one `error:` line."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "tests", "scripts", "plan_peak.py")


def test_the_planned_peak_memory_agrees_with_a_separate_measurement_of_the_step():
    result = subprocess.run([sys.executable, SCRIPT], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert (outcome["micro_batch"], outcome["accumulation"]) == (8, 1)
    assert abs(outcome["planned_peak"] - outcome["separate_peak"]) <= 0.2 * outcome["separate_peak"], outcome
    assert outcome["planned_peak"] > outcome["persistent"]  # more than the weights and optimizer: it stepped


def test_a_configuration_that_cannot_fit_is_refused_before_any_step(run_commands):
    commands = {"plan": ["-m", "electra_tf.plan", "--config=tiny", "--memory_gb=0.001"],
                "dry run": ["-m", "electra_tf.pretraining", "--config=tiny", "--model_dir=/nonexistent/m",
                            "--dry_run", "--memory_gb=0.001"]}
    for name, result in run_commands(commands).items():
        assert result.returncode == 2, (name, result.stderr[-3000:])
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "--memory_gb 0.001: nothing fits" in errors[0], (name, result.stderr[-3000:])
        assert "parameters alone take" in errors[0] and "Traceback" not in result.stderr
