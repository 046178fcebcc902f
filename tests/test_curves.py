"""`electra_tf.pretraining.curves`: metrics.json → a PNG with one panel per curve and one coloured line per run."""

import json
import os

import numpy as np
import pytest
from matplotlib import colors, image

from electra_tf.pretraining import curves


def _history(auc_slope):
    return [{"step": step, "disc_loss": 0.6 - step / 1000, "disc_auc": 0.5 + auc_slope * step / 1000,
             "masked_lm_accuracy": step / 500} for step in (10, 20, 30)]


def _share_near(pixels, colour, tolerance=0.08):
    """The share of pixels within `tolerance` (per channel) of a matplotlib colour."""
    target = np.asarray(colors.to_rgb(colour))
    return float((np.abs(pixels[..., :3] - target) < tolerance).all(-1).mean())


def test_two_runs_share_one_png_with_a_line_each(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text(json.dumps(_history(1)))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(_history(0)))
    runs = {"ours": curves.read_history(str(run_dir)), "other": curves.read_history(str(other))}
    png = curves.plot_curves(runs, str(tmp_path / "curves.png"), size=(300, 200))
    pixels = image.imread(png)
    assert pixels.shape[:2] == (200, 900)  # three panels of 300 x 200
    assert _share_near(pixels, "white") < 0.95  # not blank
    for colour in curves.COLOURS[:2]:  # the first and second run each drew a line
        assert _share_near(pixels, colour) > 0.001
    assert _share_near(pixels, curves.COLOURS[2]) < 0.0005  # no third run
    table = curves.curve_table(runs).splitlines()
    assert len(table) == 2 + 6 and table[2].startswith("| ours | 10 | 0.5900 | 0.5100 | 0.0200 |")


def test_one_window_and_other_curves(tmp_path):
    png = curves.plot_curves({"probe": [{"step": 0, "mask_loss": 5.0}]}, str(tmp_path / "one.png"),
                             curves=("mask_loss",))
    pixels = image.imread(png)
    assert pixels.shape[:2] == (280, 400) and _share_near(pixels, curves.COLOURS[0]) > 0
    with pytest.raises(ValueError, match=r"run 'probe': logged windows without \['disc_auc'\]"):
        curves.plot_curves({"probe": [{"step": 0, "mask_loss": 5.0}]}, str(tmp_path / "x.png"), curves=("disc_auc",))
    assert not os.path.exists(tmp_path / "x.png")


def test_bad_input_is_one_error_line(run_commands, tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"step": 1}))
    with pytest.raises(FileNotFoundError, match="no such metrics file"):
        curves.read_history(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="not a list of logged windows"):
        curves.read_history(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="--run 'nolabel': expected LABEL=PATH"):
        curves.parse_run("nolabel")
    result = run_commands({"curves": ["-m", "electra_tf.pretraining.curves", f"--run=x={tmp_path}",
                                      f"--output={tmp_path / 'c.png'}"]})["curves"]
    assert result.returncode == 2
    assert [line for line in result.stderr.splitlines() if line.startswith("error")] == [
        f"error: --run x={tmp_path}: {tmp_path / 'metrics.json'}: no such metrics file"]
    assert not (tmp_path / "c.png").exists()
