import subprocess
import sys

import numpy as np

from sparseals.cli import main
from sparseals.cli.demo import run_demo


def test_demo_prints_both_parts_and_learns():
    lines = []
    model = run_demo(ratings=400_000, factors=8, iterations=6, seed=1, out=lines.append)
    text = "\n".join(lines)
    mse = float(text.split("mean squared error of the fit: ")[1].split()[0])
    assert 1.7 < mse < 2.0  # uniform 1..5 ratings: rank 2 explains little beyond the mean
    assert "6 best movies for a new user" in text and "top 10 unseen items for user 0" in text
    test_rmse = float(text.split("test RMSE ")[1].split()[0])
    assert test_rmse < 0.75  # planted structure is learned (ratings have std ~ 1)
    assert np.isfinite(model.item_factors_).all()


def test_command_line_entry_points():
    assert main([]) == 2
    assert main(["demo", "--ratings", "-5"]) == 2  # a user mistake: one line, status 2
    done = subprocess.run([sys.executable, "-m", "sparseals", "demo", "--ratings", "20000",
                           "--iterations", "2", "--factors", "4"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "test RMSE" in done.stdout


def test_user_error_is_one_line(capsys):
    assert main(["demo", "--ratings", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sparseals demo: error: nnz must be a positive integer")
    assert "\n" not in err
