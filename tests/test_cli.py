import inspect
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import sparseals as sa
from sparseals.cli import main
from sparseals.cli._common import MODEL_OPTIONS
from sparseals.cli.demo import run_demo
from sparseals.datasets import synthetic


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


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sparseals {sa.__version__}"


def stated_defaults(text, models):
    """The default each model gets by the help ``text`` of a model option, as text."""
    per_model = re.search(r"\(explicit ([^,]+), implicit ([^)]+)\)", text)
    if per_model:
        return dict(zip(("explicit", "implicit"), per_model.groups()))
    stated = re.search(r"(\w+) \(default[);]", text) or re.search(r"\bdefault ([^)\s,;:]+)", text)
    return {model: stated.group(1) for model in models} if stated else {}


@pytest.mark.parametrize("name, option, kind, text, models", MODEL_OPTIONS)
def test_model_option_help_states_the_model_default(name, option, kind, text, models):
    """fit / evaluate --help: each model option with a default value names it, and it is the
    model's (--regularization, --reg-exponent, --alpha and --confidence named none)."""
    defaults = {model: inspect.signature(getattr(sa, cls)).parameters[name].default
                for model, cls in (("explicit", "ExplicitALS"), ("implicit", "ImplicitALS"))
                if model in models}
    stated = stated_defaults(text, models)
    if all(value is None or isinstance(value, bool) for value in defaults.values()):
        assert not stated  # None: the option's help says what happens instead
        return
    assert set(stated) == set(defaults), f"{option}: help {text!r} states no default"
    for model, value in defaults.items():
        assert kind(stated[model]) == value, f"{option} --model {model}: {text!r} vs {value!r}"


@pytest.mark.parametrize("option, value, message", [
    ("--ratings", "0", "ratings must be a positive integer"),
    # the others were refused only after (some of) the textbook part had printed
    ("--ratings", "100000000000", "ratings must be from 100 (a test set of 10 % needs some) "
                                  "to 11,192,120 (half the 6040 × 3706 cells); got "
                                  "100,000,000,000"),
    ("--ratings", "3", "ratings must be from 100"),
    ("--seed", "-1", "seed must be None, a non-negative int"),
])
def test_user_error_is_one_line(capsys, option, value, message):
    assert main(["demo", option, value]) == 2
    out, err = capsys.readouterr()
    assert err.strip().startswith(f"sparseals demo: error: {message}")
    assert "\n" not in err.strip()
    assert out == ""  # checked before the textbook part runs, not after


# ---------------------------------------------------------------------- fit / evaluate / query


def run(capsys, *argv):
    """main(argv) → (status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def user_error(capsys, *argv):
    """The one stderr line of a command that must fail as a user mistake."""
    status, _, err = run(capsys, *argv)
    assert status == 2, err
    err = err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def ml100k_model(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "ml100k.npz"
    status = main(["fit", str(shared_data / "ml-100k" / "u.data"), "-o", str(path),
                   "--factors", "8", "--iterations", "3", "--biases", "--reg-exponent", "1",
                   "--random-state", "0"])
    assert status == 0
    return path


@pytest.fixture
def small_csv(tmp_path):
    """A generated ratings file with text user ids and a custom header."""
    rng = np.random.default_rng(3)
    cells = rng.choice(40 * 30, 400, replace=False)
    lines = ["who;what;stars"] + [f"u{c // 30};{100 + c % 30};{rng.integers(1, 6)}"
                                   for c in cells]
    path = tmp_path / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_ml100k_saves_a_model_with_original_ids(ml100k_model):
    model = sa.load(ml100k_model)
    assert isinstance(model, sa.ExplicitALS) and model.biases and model.factors == 8
    assert model.user_ids_.tolist() == list(range(1, 944))
    assert len(model.loss_history_) == 3


def test_fit_prints_what_it_did(shared_data, tmp_path, capsys):
    status, out, _ = run(capsys, "fit", shared_data / "ml-100k" / "u1.base", "-o",
                         tmp_path / "m.npz", "--factors", "4", "--iterations", "2")
    assert status == 0
    assert "read 80,000 ratings of 943 users × 1,650 items" in out
    assert "fitted ExplicitALS(factors=4, iterations=2): 2 iterations" in out
    assert f"saved the model to {tmp_path / 'm.npz'}" in out


def test_recommend_uses_original_ids_and_titles(ml100k_model, shared_data, capsys):
    status, out, _ = run(capsys, "recommend", ml100k_model, "--user", "1", "-n", "5",
                         "--titles", shared_data / "ml-100k" / "u.item", "--json")
    assert status == 0
    result = json.loads(out)
    model = sa.load(ml100k_model)
    items, scores = model.recommend(0, n=5)  # user id 1 is row 0
    assert result["user"] == 1
    assert [r["item"] for r in result["items"]] == model.item_ids_[items].tolist()
    assert [r["score"] for r in result["items"]] == pytest.approx(scores.tolist(), rel=1e-6)
    titles = sa.datasets.load_movielens_titles(shared_data / "ml-100k")
    assert [r["title"] for r in result["items"]] == [titles[r["item"]] for r in result["items"]]


def test_recommend_table(ml100k_model, shared_data, capsys):
    status, out, _ = run(capsys, "recommend", ml100k_model, "--user", "42",
                         "--titles", shared_data / "ml-100k")
    lines = out.strip().splitlines()
    assert status == 0 and lines[0] == "top 10 items for user 42"
    assert lines[1].split() == ["rank", "item", "score", "title"] and len(lines) == 12


def test_similar_items_are_cosines_without_the_item(ml100k_model, capsys):
    status, out, _ = run(capsys, "similar", ml100k_model, "--item", "50", "-n", "4", "--json")
    assert status == 0
    result = json.loads(out)
    assert result["item"] == 50 and len(result["items"]) == 4
    scores = [r["score"] for r in result["items"]]
    # regression: the global mean of a biased model was once added to the cosines
    assert all(-1.0 <= s <= 1.0 + 1e-6 for s in scores) and scores == sorted(scores, reverse=True)
    assert 50 not in [r["item"] for r in result["items"]]


def test_info(ml100k_model, capsys):
    status, out, _ = run(capsys, "info", ml100k_model)
    assert status == 0
    assert "ExplicitALS" in out and "format version 1" in out
    assert "943 users × 1,682 items, 100,000 training ratings" in out
    assert re.search(r"loss history +3 iterations: first", out)
    status, out, _ = run(capsys, "info", ml100k_model, "--json")
    info = json.loads(out)
    assert info["format_version"] == 1 and info["factors"] == 8
    assert info["params"]["biases"] is True and len(info["loss_history"]) == 3


def test_info_reads_the_file_once(ml100k_model, capsys, monkeypatch):
    """info read and validated the whole file twice: load, then read_metadata."""
    from sparseals import persistence

    reads, real_read = [], persistence._read
    monkeypatch.setattr(persistence, "_read", lambda path: reads.append(path) or real_read(path))
    status, out, _ = run(capsys, "info", ml100k_model, "--json")
    assert status == 0 and json.loads(out)["library_version"] == sa.__version__
    assert reads == [str(ml100k_model)]


def test_fit_refuses_a_write_protected_output_before_fitting(small_csv, tmp_path, capsys):
    """A chmod 444 model file was replaced by the fit's result."""
    output = tmp_path / "kept.npz"
    output.write_bytes(b"a model to keep")
    output.chmod(0o444)
    status, out, err = run(capsys, "fit", small_csv, "-o", output, "--user", "who", "--item",
                           "what", "--rating", "stars", "--iterations", "1")
    assert status == 2 and out == ""  # nothing read nor fitted
    assert f"cannot save the model to '{output}': the file is write-protected" in err
    assert output.read_bytes() == b"a model to keep"


def test_evaluate_split_and_kfold(small_csv, capsys):
    columns = ["--user", "who", "--item", "what", "--rating", "stars", "--factors", "3",
               "--iterations", "3", "--random-state", "0"]
    status, out, _ = run(capsys, "evaluate", small_csv, *columns, "--json", "--clip", "1", "5")
    assert status == 0
    report = json.loads(out)
    assert report["protocol"] == "split" and report["ratings"] == 400
    assert set(report["metrics"]) == {"rmse", "mae"} and 0 < report["metrics"]["rmse"] < 4
    status, out, _ = run(capsys, "evaluate", small_csv, *columns, "--kfold", "3",
                         "--metrics", "rmse,ndcg")
    assert status == 0
    assert "3-fold cross-validation" in out
    header = out.splitlines()[2].split()
    assert header[:3] == ["metric", "mean", "std"] and header[-2:] == ["fold", "3"]


def test_evaluate_is_repeatable_without_random_state(small_csv, capsys):
    """The folds were seeded (--seed 0) but the initial factors were not: the same
    command printed another RMSE each run."""
    columns = ["--user", "who", "--item", "what", "--rating", "stars", "--factors", "3",
               "--iterations", "2", "--json"]
    reports = [json.loads(run(capsys, "evaluate", small_csv, *columns, *more)[1])
               for more in ([], [], ["--random-state", "0"], ["--seed", "1"])]
    assert reports[0]["metrics"] == reports[1]["metrics"] == reports[2]["metrics"]
    assert reports[0]["params"]["random_state"] == 0
    assert reports[3]["params"]["random_state"] == 1  # the seed serves both


def test_evaluate_ml100k_kfold_matches_cross_validate(shared_data, capsys):
    from sparseals.model_selection import cross_validate

    status, out, _ = run(capsys, "evaluate", shared_data / "ml-100k" / "u.data", "--kfold", "2",
                         "--factors", "4", "--iterations", "2", "--random-state", "0", "--json")
    assert status == 0
    report = json.loads(out)
    expected = cross_validate(sa.ExplicitALS(factors=4, iterations=2, random_state=0),
                              sa.datasets.load_movielens(shared_data / "ml-100k"), cv=2,
                              random_state=0)
    assert report["metrics"]["rmse"]["folds"] == pytest.approx(expected["rmse"].tolist())


def test_implicit_model_with_text_ids(small_csv, tmp_path, capsys):
    path = tmp_path / "implicit.npz"
    status, out, err = run(capsys, "fit", small_csv, "-o", path, "--model", "implicit",
                           "--user", "who", "--item", "what", "--rating", "stars",
                           "--factors", "4", "--iterations", "2", "--alpha", "2", "--progress")
    assert status == 0, err
    assert isinstance(sa.load(path), sa.ImplicitALS)
    status, out, _ = run(capsys, "recommend", path, "--user", "u7", "-n", "3", "--json")
    assert status == 0
    assert json.loads(out)["user"] == "u7" and len(json.loads(out)["items"]) == 3


def test_fit_with_early_stopping(small_csv, tmp_path, capsys):
    status, out, _ = run(capsys, "fit", small_csv, "-o", tmp_path / "m.npz", "--user", "who",
                         "--item", "what", "--rating", "stars", "--iterations", "30",
                         "--validation", "0.2", "--patience", "1", "--regularization", "0.001",
                         "--factors", "6", "--random-state", "0")
    assert status == 0
    assert "early stopping: held-out rmse" in out
    model = sa.load(tmp_path / "m.npz")
    assert model.validation_history_[model.best_iteration_] == min(model.validation_history_)


def test_loss_plot(small_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plot = tmp_path / "loss.png"
    status, out, _ = run(capsys, "fit", small_csv, "-o", tmp_path / "m.npz", "--user", "who",
                         "--item", "what", "--rating", "stars", "--iterations", "3",
                         "--plot", plot)
    assert status == 0 and f"saved the loss plot to {plot}" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_loss_plot_after_early_stopping_kept_an_earlier_iteration(small_csv, tmp_path, capsys):
    """The loss history ends at the kept iteration, the held-out one at the last run: both
    were plotted against one x range ('x and y must have same first dimension')."""
    pytest.importorskip("matplotlib")
    plot = tmp_path / "loss.png"
    status, out, err = run(capsys, "fit", small_csv, "-o", tmp_path / "m.npz", "--user", "who",
                           "--item", "what", "--rating", "stars", "--iterations", "30",
                           "--validation", "0.2", "--patience", "1", "--metric", "ndcg",
                           "--factors", "6", "--random-state", "0", "--plot", plot)
    assert status == 0, err
    model = sa.load(tmp_path / "m.npz")
    assert model.best_iteration_ < len(model.validation_history_) - 1  # an earlier one kept
    assert f"saved the loss plot to {plot}" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_paths(small_csv, tmp_path, capsys):
    """--plot lossplot wrote lossplot.png but said lossplot; a directory was written into (as
    its '.png'), and so was the current one for ''; loss.txt was refused only after the fit
    and the save."""
    pytest.importorskip("matplotlib")
    argv = ["fit", small_csv, "-o", tmp_path / "m.npz", "--user", "who", "--item", "what",
            "--rating", "stars", "--iterations", "1", "--plot"]
    status, out, err = run(capsys, *argv, tmp_path / "lossplot")
    assert status == 0, err
    assert out.splitlines()[-1] == f"saved the loss plot to {tmp_path / 'lossplot.png'}"
    assert (tmp_path / "lossplot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "m.npz").unlink()
    for plot, message in [(tmp_path, f"--plot {tmp_path} names a directory"),
                          (f"{tmp_path}{os.sep}", f"--plot {tmp_path}{os.sep} names a directory"),
                          ("", "--plot needs a file name"),
                          (tmp_path / "loss.txt", f"--plot {tmp_path / 'loss.txt'}: matplotlib "
                                                  "cannot write .txt files; use one of .")]:
        status, out, err = run(capsys, *argv, plot)
        assert status == 2 and message in err
        assert out == "" and not (tmp_path / "m.npz").exists()  # checked before the fit


def test_plot_without_matplotlib_is_one_line(small_csv, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    err = user_error(capsys, "fit", small_csv, "-o", tmp_path / "m.npz", "--plot", "loss.png")
    assert err == ("sparseals fit: error: --plot needs matplotlib, which is not installed: pip "
                   "install matplotlib (or pip install sparseals[plot])")
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.parametrize("argv, message", [
    (["recommend", "{model}", "--user", "99999"],
     "user id 99999 is not in the model (it has 943 users, ids 1..943)"),
    (["recommend", "{model}", "--user", "abc"],
     "--user 'abc' is not an integer; this model's user ids are integers"),
    (["similar", "{model}", "--item", "5000"], "item id 5000 is not in the model"),
    # Python's int() reads these as 10, 1 and 1
    (["recommend", "{model}", "--user", "1_0"], "--user '1_0' is not an integer"),
    (["recommend", "{model}", "--user", " 1"], "--user ' 1' is not an integer"),
    (["similar", "{model}", "--item", "\u0661"], "--item '\u0661' is not an integer"),
    (["recommend", "{model}", "--user", "1", "-n", "0"], "-n must be a positive number"),
    (["recommend", "{model}", "--user", "1", "--titles", "{tmp}/none.item"],
     "movie titles file '{tmp}/none.item' does not exist"),
    (["recommend", "{tmp}/missing.npz", "--user", "1"],
     "model file '{tmp}/missing.npz' does not exist"),
    (["info", "{data}"], "is not a sparseals model file: it is not an .npz (zip) archive"),
    (["fit", "{tmp}/none.csv", "-o", "{tmp}/m.npz"], "data file '{tmp}/none.csv' does not exist"),
    # the model's message names the option, not the parameter (cg_steps)
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--factors", "0"],
     "error: --factors must be a positive integer; got 0"),
    (["evaluate", "{data}", "--model", "implicit", "--cg-steps", "0"],
     "error: --cg-steps must be a positive integer; got 0"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--reg-users", "-1"],
     "error: --reg-users must be a non-negative finite number; got -1.0"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--factors", "many"],
     "argument --factors: invalid int value: 'many'"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--dtype", "float16"],
     "error: --dtype must be 'float32' or 'float64'; got 'float16'"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--alpha", "2"],
     "--alpha applies to --model implicit only, not --model explicit"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--model", "implicit", "--biases"],
     "--biases applies to --model explicit only, not --model implicit"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--patience", "2"],
     "--patience applies to early stopping; add --validation FRACTION"),
    # options that were accepted and did nothing
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--split-seed", "5"],
     "--split-seed applies to early stopping; add --validation FRACTION"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--blocks", "7", "--routing", "routed"],
     "--blocks, --routing applies to fitting on a Dask cluster; add --scheduler ADDRESS"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--connect-timeout", "1"],
     "--connect-timeout applies to fitting on a Dask cluster"),
    (["evaluate", "{data}", "--seed", "-1"], "--seed must be a non-negative integer; got -1"),
    (["fit", "{ml}", "-o", "{tmp}/m.npz", "--validation", "0.2", "--split-seed", "-1"],
     "--split-seed must be a non-negative integer; got -1"),  # blamed --validation
    (["info", "{tmp}"], "is a directory; give the .npz file"),  # 'does not exist'
    (["evaluate", "{data}", "--kfold", "3", "--test-size", "0.9"],
     "--test-size applies to the random split; with --kfold K each fold holds out 1/K"),
    # the data file overwritten by the model or the plot, the model by the plot
    (["fit", "{data}", "-o", "{data}"], "-o {data} is the data file itself"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--plot", "{data}"],
     "--plot {data} is the data file itself"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--plot", "{tmp}/m.npz"],
     "--plot and -o name the same file"),
    (["fit", "{ml}", "-o", "{tmp}/m.npz", "--validation", "1.5"],
     "--validation 1.5: test_size must be a fraction strictly between 0 and 1"),
    (["fit", "{data}"], "the following arguments are required: -o/--output"),
    (["fit", "{data}", "-o", "{tmp}/m.npz", "--user", "uid"],
     "user column 'uid' is not in the header"),
    (["evaluate", "{data}", "--kfold", "1"], "--kfold must be at least 2; got 1"),
    # checked before the data is read (a missing file would be named) and the model fitted
    (["evaluate", "{tmp}/missing.csv", "-k", "0", "--metrics", "rmse"], "-k: k must be"),
    (["evaluate", "{tmp}/missing.csv", "--clip", "5", "1"], "--clip: clip"),
    (["evaluate", "{data}", "--metrics", "rmse,accuracy"], "unknown metric 'accuracy'"),
    (["evaluate", "{data}", "--model", "tensor"], "argument --model: invalid choice: 'tensor'"),
])
def test_user_mistakes_are_one_line_with_status_2(argv, message, small_csv, ml100k_model,
                                                  shared_data, tmp_path, capsys):
    fill = dict(model=ml100k_model, tmp=tmp_path, data=small_csv,
                ml=shared_data / "ml-100k" / "u.data")
    err = user_error(capsys, *[a.format(**fill) for a in argv])
    assert err.startswith(f"sparseals {argv[0]}: error: ")
    assert message.format(**fill) in err


def test_header_line_read_by_positions_is_one_line(shared_data, tmp_path, capsys):
    """Last.fm's user_artists.dat by positions without a rating: the header line became a
    rating of user 'userID', the fit ran on 92,835 ratings with text ids."""
    data = shared_data / "hetrec2011-lastfm-2k" / "user_artists.dat"
    argv = ["fit", data, "-o", tmp_path / "m.npz", "--user", "0", "--item", "1",
            "--rating", "none", "--model", "implicit", "--factors", "2", "--iterations", "1"]
    err = user_error(capsys, *argv)
    assert err == (f"sparseals fit: error: the first line of {data} looks like a header, not a "
                   "rating: its user id 'userID' is the only one that is not a number; pass "
                   "--header to skip that line (--no-header reads it as data)")
    status, out, _ = run(capsys, *argv, "--header")
    assert status == 0 and "read 92,834 ratings of 1,892 users × 17,632 items" in out


def test_movielens_u_data_with_a_data_option_keeps_its_columns(shared_data, tmp_path,
                                                               capsys):
    """--help says MovieLens files are recognised, but any data option dropped u.data's
    layout: --rating none (implicit pairs) looked for a 'userId' column in a file without
    a header and failed."""
    data = shared_data / "ml-100k" / "u1.base"
    status, out, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--rating", "none",
                           "--model", "implicit", "--factors", "2", "--iterations", "1")
    assert status == 0, err
    assert "read 80,000 ratings of 943 users × 1,650 items" in out
    model = sa.load(tmp_path / "m.npz")
    assert model.user_ids_.tolist() == list(range(1, 944))
    status, out, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--sep", "\\t",
                           "--factors", "2", "--iterations", "1")
    assert status == 0 and "read 80,000 ratings" in out, err


def test_reader_advice_names_the_options(shared_data, tmp_path, capsys):
    """ratings.csv by positions, its header read as data: the advice said 'check sep=,
    header=', the reader's Python arguments, which the command line does not have."""
    data = shared_data / "ml-latest-small" / "ratings.csv"
    err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz", "--user", "0", "--item",
                     "1", "--rating", "2")
    assert err == ("sparseals fit: error: rating column 2 is not numeric: line 1 holds 'rating'; "
                   "check --sep, --header and the column names")
    err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz", "--no-header")
    assert err.endswith("user column 'userId' is a name, but --no-header; give column "
                        "positions (0, 1, …) for a file without a header row")


def test_a_latin_1_file_is_read_with_encoding(tmp_path, capsys):
    """The reader's advice for a file that is not UTF-8 was 'pass encoding=', an option
    the command line did not have: such a file could not be read at all."""
    data = tmp_path / "ratings.csv"
    data.write_bytes("user;item;rating\nJosé;Amélie;4\nAnn;Amélie;3\nAnn;Brazil;5\n"
                     .encode("latin-1"))
    argv = ["fit", data, "-o", tmp_path / "m.npz", "--user", "user", "--item", "item",
            "--rating", "rating", "--factors", "1", "--iterations", "1"]
    err = user_error(capsys, *argv)
    assert err.endswith("it is not utf-8 text: pass --encoding (e.g. 'latin-1')")
    status, out, err = run(capsys, *argv, "--encoding", "latin-1")
    assert status == 0, err
    assert sa.load(tmp_path / "m.npz").user_ids_.tolist() == ["Ann", "José"]


def test_too_little_memory_is_one_line(small_csv, tmp_path, capsys, monkeypatch):
    """The library's MemoryError ('would need about ... use fewer factors') and numpy's own
    allocation failure printed a traceback and exit status 1."""
    columns = ["--user", "who", "--item", "what", "--rating", "stars"]
    err = user_error(capsys, "fit", small_csv, "-o", tmp_path / "m.npz", *columns,
                     "--factors", "1000000000")
    assert err.startswith("sparseals fit: error: ExplicitALS.fit would need about ")
    assert "use fewer factors" in err

    def allocate(*args, **kwargs):
        try:
            from numpy._core._exceptions import _ArrayMemoryError
        except ImportError:  # numpy < 2
            from numpy.core._exceptions import _ArrayMemoryError
        raise _ArrayMemoryError((2 ** 40,), np.dtype("float64"))

    monkeypatch.setattr(sa.ExplicitALS, "fit", allocate)
    err = user_error(capsys, "fit", small_csv, "-o", tmp_path / "m.npz", *columns)
    assert err == ("sparseals fit: error: Unable to allocate 8.00 TiB for an array with shape "
                   "(1099511627776,) and data type float64")


def test_fit_reads_a_parquet_file(tmp_path, capsys):
    # the MovieLens-layout check read the first lines as text and, once text checks its
    # bytes, refused the Parquet file before read_ratings could take it
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"userId": [1, 2, 2, 3], "movieId": [10, 10, 11, 12],
                             "rating": [4.0, 3.0, 5.0, 1.0]}), tmp_path / "r.parquet")
    status, out, err = run(capsys, "fit", tmp_path / "r.parquet", "-o", tmp_path / "m.npz",
                           "--factors", "2", "--iterations", "1")
    assert status == 0, err
    assert "read 4 ratings of 3 users × 3 items" in out


@pytest.mark.parametrize("name, text, values", [
    ("r.csv", "userId,movieId,rating\n1,10,1e39\n1,11,0.1\n2,10,0.7\n", [1e39, 0.1, 0.7]),
    ("ratings.csv", "userId,movieId,rating,timestamp\n1,10,0.1,5\n1,11,0.2,6\n2,10,0.7,7\n",
     [0.1, 0.2, 0.7]),
], ids=["read_ratings", "load_movielens"])
def test_dtype_float64_reads_the_ratings_as_float64(name, text, values, tmp_path, capsys):
    """The ratings were read as float32 whatever --dtype said: 1e39 was refused as too large
    and the other values were rounded before the float64 fit."""
    data = tmp_path / name
    data.write_text(text)
    status, _, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--dtype", "float64",
                         "--biases", "--factors", "1", "--iterations", "1")
    assert status == 0, err
    assert sa.load(tmp_path / "m.npz").global_mean_ == np.mean(values)


def test_headings_count_the_rows_shown(tmp_path, capsys):
    """'top 100 items' headed the 2 items that exclusions leave."""
    data = tmp_path / "tiny.csv"
    data.write_text("userId,movieId,rating\n1,10,4\n1,11,3\n2,10,5\n2,12,1\n")
    assert main(["fit", str(data), "-o", str(tmp_path / "m.npz"), "--factors", "2",
                 "--iterations", "1"]) == 0
    capsys.readouterr()
    status, out, _ = run(capsys, "recommend", tmp_path / "m.npz", "--user", "1", "-n", "100")
    assert status == 0 and out.splitlines()[0] == "top 1 items for user 1"
    status, out, _ = run(capsys, "similar", tmp_path / "m.npz", "--item", "10", "-n", "100")
    assert status == 0 and out.splitlines()[0].startswith("2 items most similar to item 10")


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`sparseals recommend ... | head -1` printed 'error: [Errno 32] Broken pipe'."""
    model = sa.ExplicitALS(factors=2, iterations=1, random_state=0).fit(
        synthetic(20, 6000, 3000, seed=0))
    model.save(tmp_path / "m.npz")
    with subprocess.Popen([sys.executable, "-m", "sparseals", "recommend",
                           str(tmp_path / "m.npz"), "--user", "0", "-n", "6000"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as reader:
        assert reader.stdout.readline().startswith(b"top ")
        reader.stdout.close()  # ~150 kB of rows left: more than a pipe holds
        assert reader.wait(timeout=120) == 1
        assert reader.stderr.read() == b""


def test_a_closed_pipe_does_not_cost_the_fit(small_csv, tmp_path):
    """`sparseals fit ... | head -1` lost the model: printing 'fitted ...' to the closed
    pipe ended the command before the model was saved."""
    model = tmp_path / "m.npz"
    with subprocess.Popen([sys.executable, "-u", "-m", "sparseals", "fit", str(small_csv),
                           "-o", str(model), "--user", "who", "--item", "what", "--rating",
                           "stars", "--iterations", "1", "--factors", "2"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as fit:
        while not fit.stdout.readline().startswith(b"read "):  # after a BLAS note, maybe
            pass
        fit.stdout.close()  # long before the fit ends
        assert fit.wait(timeout=300) in (0, 1)  # 1: it found the pipe closed
        assert b"Traceback" not in fit.stderr.read()
    assert sa.load(model).user_factors_.shape == (40, 2)


def test_positions_with_a_header_and_titles_for_integer_ids_only(tmp_path, capsys,
                                                                  shared_data):
    """Columns by position meant no header: the header row became a rating; '03' took
    movie 3's title."""
    data = tmp_path / "s.csv"
    data.write_text("userId,movieId,rating\n1,10,4\n2,10,3\n1,11,5\n3,12,2\n")
    status, out, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--user", "0",
                           "--item", "1", "--rating", "none", "--header", "--iterations", "1")
    assert status == 0, err
    assert "read 4 ratings of 3 users × 3 items" in out
    err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz", "--user", "none")
    assert "--user and --item name id columns" in err  # was a KeyError traceback
    data.write_text("u,i,r\nann,03,4\nann,3,5\nbob,x,2\n")  # text ids: x
    assert main(["fit", str(data), "-o", str(tmp_path / "t.npz"), "--user", "u", "--item", "i",
                 "--rating", "r", "--iterations", "1"]) == 0
    capsys.readouterr()
    # neither '03' nor '3' is movie 3: no item has a title
    err = user_error(capsys, "similar", tmp_path / "t.npz", "--item", "3", "--titles",
                     shared_data / "ml-100k")
    assert "none of the model's 3 item ids has a title there" in err


def test_date_and_duration_ids(tmp_path, capsys):
    """Ids of pandas datetime / timedelta columns were compared with the text as given:
    no id was found, not even the ones the error message listed."""
    import pandas as pd

    frame = pd.DataFrame({"user": pd.to_datetime(["2020-01-01 00:00", "2020-01-01 00:00",
                                                  "2020-01-02 12:30", "2020-01-03 00:00"]),
                          "item": pd.to_timedelta([5, 7, 5, 9], unit="s"),
                          "rating": [4.0, 3.0, 5.0, 1.0]})
    model = sa.ExplicitALS(factors=2, iterations=1, random_state=0).fit(
        sa.Ratings.from_dataframe(frame, user="user", item="item", rating="rating"))
    path = tmp_path / "m.npz"
    model.save(path)
    status, out, err = run(capsys, "recommend", path, "--user", "2020-01-02T12:30", "--json")
    assert status == 0, err
    result = json.loads(out)
    assert result["user"] == str(model.user_ids_[1])
    shown = [row["item"] for row in result["items"]]  # '7000000 microseconds' or the like
    assert sorted(shown) == [str(model.item_ids_[1]), str(model.item_ids_[2])]  # 5 s was seen
    for item in shown:  # the ids printed are read back
        assert run(capsys, "similar", path, "--item", item)[0] == 0
    unit = np.datetime_data(model.item_ids_.dtype)[0]
    count = int(model.item_ids_[2] / np.timedelta64(1, unit))  # 9 s in the model's unit
    status, out, _ = run(capsys, "similar", path, "--item", count, "--json")
    assert status == 0 and json.loads(out)["item"] == str(model.item_ids_[2])
    assert "user id 2020-01-02 is not in the model" in user_error(  # not cut to a day
        capsys, "recommend", path, "--user", "2020-01-02")
    assert "--user 'soon' is not a date; this model's user ids are dates" in user_error(
        capsys, "recommend", path, "--user", "soon")
    assert "is not a date" in user_error(  # numpy would shift a time zone to UTC
        capsys, "recommend", path, "--user", "2020-01-02T13:30+01:00")
    assert "--item '9 parsecs' is not a duration" in user_error(
        capsys, "similar", path, "--item", "9 parsecs")
    for text in ("1_0", str(10 ** 30)):  # int() reads 10; numpy overflowed (a traceback)
        assert f"--item {text!r} is not a duration" in user_error(
            capsys, "similar", path, "--item", text)


def test_tables_print_float_ids_in_full(tmp_path, capsys):
    """Float ids were printed to 4 decimals like the scores: item 0.493828 showed as 0.4938,
    which is no item of the model."""
    data = tmp_path / "r.csv"
    data.write_text("userId,movieId,rating\n1,0.493828,4\n1,0.25,3\n2,0.493828,5\n2,1e-20,1\n"
                    "3,7.5,2\n")
    assert run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--factors", "2",
               "--iterations", "1")[0] == 0
    status, out, _ = run(capsys, "similar", tmp_path / "m.npz", "--item", "0.25")
    assert status == 0
    shown = [line.split()[1] for line in out.splitlines()[2:]]
    assert sorted(shown, key=float) == ["1e-20", "0.493828", "7.5"]
    assert all(f"{float(line.split()[2]):.4f}" == line.split()[2]  # scores: 4 decimals
               for line in out.splitlines()[2:])
    for item in shown:
        assert run(capsys, "similar", tmp_path / "m.npz", "--item", item)[0] == 0
    assert "--item '0.2_5' is not a number" in user_error(  # float() reads 0.25
        capsys, "similar", tmp_path / "m.npz", "--item", "0.2_5")


def test_duplicate_pairs_hint_names_the_flag(tmp_path, capsys):
    data = tmp_path / "twice.csv"
    data.write_text("userId,movieId,rating\n1,2,3\n1,3,4\n1,2,5\n")
    err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz")
    assert "1 duplicated (user, item) pair(s): the first, (1, 2), is at line 2 and line 4" in err
    assert err.endswith("pass --duplicates sum, last or mean to combine them")
    assert main(["fit", str(data), "-o", str(tmp_path / "m.npz"), "--duplicates", "mean",
                 "--factors", "2", "--iterations", "1"]) == 0
    capsys.readouterr()  # its note: the means are all 4
    # a file with the MovieLens header: the same hint, and following it works (the
    # MovieLens path said '--duplicates applies to other files than MovieLens ones')
    data.write_text("userId,movieId,rating,timestamp\n1,10,4,100\n1,10,5,200\n2,20,3,300\n")
    err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz")
    assert err.endswith("pass --duplicates sum, last or mean to combine them")
    assert main(["fit", str(data), "-o", str(tmp_path / "m.npz"), "--duplicates", "last",
                 "--factors", "2", "--iterations", "1"]) == 0


@pytest.mark.parametrize("output, plot, message", [
    ("{tmp}/missing/m.npz", None, "the directory '{tmp}/missing' does not exist"),
    ("{tmp}", None, "cannot save the model to '{tmp}': it is a directory"),
    ("{tmp}/m.npz", "{tmp}/missing/loss.png", "--plot {tmp}/missing/loss.png: the folder"),
])
def test_output_paths_are_checked_before_the_fit(output, plot, message, small_csv, tmp_path,
                                                 capsys):
    """A bad -o or --plot is reported before the data is read, not after an hour's fit."""
    argv = ["fit", small_csv, "-o", output.format(tmp=tmp_path)]
    if plot is not None:
        argv += ["--plot", plot.format(tmp=tmp_path)]
    status, out, err = run(capsys, *argv)
    assert status == 2 and message.format(tmp=tmp_path) in err
    assert out == ""  # nothing read, nothing fitted


def test_damaged_model_file(ml100k_model, tmp_path, capsys):
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(ml100k_model.read_bytes()[:5000])
    err = user_error(capsys, "recommend", damaged, "--user", "1")
    assert "is truncated or corrupt" in err


def test_python_m_sparseals_recommend(ml100k_model):
    done = subprocess.run([sys.executable, "-m", "sparseals", "recommend", str(ml100k_model),
                           "--user", "1", "-n", "3"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "top 3 items for user 1"
    failed = subprocess.run([sys.executable, "-m", "sparseals", "recommend", str(ml100k_model),
                             "--user", "0"], capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert failed.stderr.strip().count("\n") == 0


def test_fit_on_a_dask_scheduler_equals_the_local_fit(tmp_path):
    from dask.distributed import LocalCluster

    import sparseals as sa

    rng = np.random.default_rng(3)
    users, items = np.nonzero(rng.random((40, 30)) < 0.3)
    data = tmp_path / "ratings.csv"
    data.write_text("userId,movieId,rating\n" + "".join(
        f"{u},{i},{rng.integers(1, 6)}\n" for u, i in zip(users, items)))
    common = ["--factors", "3", "--iterations", "3", "--random-state", "0", "--dtype", "float64"]
    assert main(["fit", str(data), "-o", str(tmp_path / "local.npz"), *common]) == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        assert main(["fit", str(data), "-o", str(tmp_path / "cluster.npz"), *common,
                     "--scheduler", cluster.scheduler_address, "--blocks", "2"]) == 0
    local, remote = sa.load(tmp_path / "local.npz"), sa.load(tmp_path / "cluster.npz")
    np.testing.assert_allclose(remote.user_factors_, local.user_factors_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(remote.item_factors_, local.item_factors_, rtol=1e-6, atol=1e-8)


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    data = tmp_path / "ratings.csv"
    data.write_text("userId,movieId,rating\n0,0,1\n1,1,2\n")
    status = main(["fit", str(data), "-o", str(tmp_path / "m.npz"), "--scheduler",
                   "tcp://127.0.0.1:9", "--connect-timeout", "2"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "\n" not in err
    assert main(["fit", str(data), "-o", str(tmp_path / "m.npz"), "--scheduler",
                 "tcp://127.0.0.1:9", "--validation", "0.2"]) == 2


# ---------------------------------------------------------------------- counts fitted as ratings
COUNTS_NOTE = "look like counts"


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_explicit_model_on_play_counts_says_so(shared_data, tmp_path, capsys, command):
    """Last.fm's play counts (1 to 352,698) were fitted as star ratings without a word."""
    output = ["-o", tmp_path / "m.npz"] if command == "fit" else []
    data = shared_data / "hetrec2011-lastfm-2k" / "user_artists.dat"
    argv = [command, data, *output, "--user", "userID", "--item", "artistID", "--rating",
            "weight", "--iterations", "1", "--factors", "2"]
    status, _, err = run(capsys, *argv)
    assert status == 0, err
    notes = [line for line in err.splitlines() if COUNTS_NOTE in line]
    assert len(notes) == 1 and "1 to 352,698" in notes[0] and "--model implicit" in notes[0]
    status, _, err = run(capsys, *argv, "--model", "implicit")
    assert status == 0 and COUNTS_NOTE not in err


@pytest.mark.parametrize("name, argv", [
    ("ml-100k/u.data", []),
    ("ml-latest-small/ratings.csv", []),
    ("filmtrust/ratings.txt", ["--user", "0", "--item", "1", "--rating", "2",
                               "--duplicates", "mean"]),
    ("filmtrust/trust.txt", ["--user", "0", "--item", "1", "--rating", "2"]),
    ("hetrec2011-lastfm-2k/user_friends.dat", ["--user", "userID", "--item", "friendID",
                                               "--rating", "none"]),
])
def test_no_counts_note_on_rating_scales_of_the_real_data(shared_data, tmp_path, capsys,
                                                            name, argv):
    status, _, err = run(capsys, "fit", shared_data / name, "-o", tmp_path / "m.npz", *argv,
                         "--iterations", "1", "--factors", "2")
    assert status == 0, err
    assert COUNTS_NOTE not in err


@pytest.mark.parametrize("name, argv", [
    ("filmtrust/trust.txt", ["--user", "0", "--item", "1", "--rating", "2"]),  # all 1
    ("hetrec2011-lastfm-2k/user_friends.dat", ["--user", "userID", "--item", "friendID",
                                               "--rating", "none"]),
])
def test_explicit_model_on_one_value_for_every_pair_says_so(shared_data, tmp_path, capsys,
                                                            name, argv):
    """A trust list, or --rating none ('implicit feedback without values'), was fitted by
    the default --model explicit, which can only learn the constant 1."""
    argv = ["fit", shared_data / name, "-o", tmp_path / "m.npz", *argv, "--iterations", "1",
            "--factors", "2"]
    status, _, err = run(capsys, *argv)
    assert status == 0
    assert err.strip() == ("note: every value is 1, so --model explicit can only learn that "
                           "constant; for implicit feedback (who rated, played or follows "
                           "what) use --model implicit")
    status, _, err = run(capsys, *argv, "--model", "implicit")
    assert status == 0 and err == ""


@pytest.mark.parametrize("values, noted", [
    ([1, 2, 5, 40, 1200], True),  # counts
    ([0, 3, 101, 7, 1], True),
    ([1, 2, 3, 4, 5], False),  # stars
    ([0, 25, 50, 75, 100], False),  # a 0–100 scale
    ([-10, -2.5, 0, 3.75, 10], False),  # Jester
    ([0.5, 1.5, 150.5, 4, 2], False),  # not whole
    ([-1, 200, 300, 5, 1], False),  # negative: not counts
])
def test_counts_note_only_for_whole_non_negative_values_past_100(tmp_path, capsys, values,
                                                                 noted):
    data = tmp_path / "r.csv"
    data.write_text("u,i,r\n" + "".join(f"{k % 3},{k},{x}\n" for k, x in enumerate(values)))
    status, _, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--user", "u", "--item",
                         "i", "--rating", "r", "--iterations", "1", "--factors", "1")
    assert status == 0, err
    assert (COUNTS_NOTE in err) == noted


# ---------------------------------------------------------------------- titles of another data set
@pytest.fixture(scope="module")
def lastfm_model(shared_data, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "lastfm.npz"
    assert main(["fit", str(shared_data / "hetrec2011-lastfm-2k" / "user_artists.dat"),
                 "-o", str(path), "--user", "userID", "--item", "artistID", "--rating",
                 "weight", "--model", "implicit", "--iterations", "1", "--factors", "2"]) == 0
    return path


def test_titles_of_another_data_set_say_how_many_items_have_none(lastfm_model, shared_data,
                                                                   capsys):
    """MovieLens titles were attached to Last.fm artist ids without a word."""
    status, out, err = run(capsys, "similar", lastfm_model, "--item", "51", "-n", "3",
                           "--titles", shared_data / "ml-100k")
    assert status == 0
    assert (f"note: --titles {shared_data / 'ml-100k'}: 15,958 of the model's 17,632 items "
            "have no title there") in err
    status, out, err = run(capsys, "recommend", lastfm_model, "--user", "2", "-n", "3",
                           "--titles", shared_data / "ml-100k")
    assert status == 0 and "15,958 of the model's 17,632 items" in err


def test_titles_matching_every_item_add_no_note(ml100k_model, shared_data, capsys):
    for titles in ("ml-100k", "ml-100k/u.item"):
        status, _, err = run(capsys, "recommend", ml100k_model, "--user", "1", "--titles",
                             shared_data / titles)
        assert status == 0 and err == ""


def test_titles_matching_no_item_are_an_error(tmp_path, shared_data, capsys):
    data = tmp_path / "r.csv"
    data.write_text("u,i,r\n1,5001,4\n1,5002,3\n2,5001,5\n2,5003,1\n")
    assert main(["fit", str(data), "-o", str(tmp_path / "m.npz"), "--user", "u", "--item", "i",
                 "--rating", "r", "--iterations", "1", "--factors", "1"]) == 0
    capsys.readouterr()
    for command, subject in (("recommend", ["--user", "1"]), ("similar", ["--item", "5001"])):
        err = user_error(capsys, command, tmp_path / "m.npz", *subject, "--titles",
                         shared_data / "ml-100k")
        assert err == (f"sparseals {command}: error: --titles {shared_data / 'ml-100k'}: none "
                       "of the model's 3 item ids has a title there (its 1,682 titles are for "
                       "other ids); give the titles file of the data set the model was fitted "
                       "on")


def test_a_file_without_a_header_read_by_the_default_names_says_to_give_positions(
        shared_data, tmp_path, capsys):
    """FilmTrust's ratings.txt said only that 'userId' is not among ['1', '1', '2']."""
    err = user_error(capsys, "fit", shared_data / "filmtrust" / "ratings.txt", "-o",
                     tmp_path / "m.npz")
    assert err.endswith("its columns are ['1', '1', '2'], numbers, as in a line of data: if "
                        "the file has no header, give all the columns by position (0, 1, …)")
    status, out, err = run(capsys, "fit", shared_data / "filmtrust" / "ratings.txt", "-o",
                           tmp_path / "m.npz", "--user", "0", "--item", "1", "--rating", "2",
                           "--duplicates", "mean", "--iterations", "1", "--factors", "1")
    assert status == 0 and "read 35,494 ratings of 1,508 users × 2,071 items" in out
    data = tmp_path / "r.csv"
    data.write_text("who,what,stars\n1,2,3\n")  # a header: no such advice
    assert "numbers" not in user_error(capsys, "fit", data, "-o", tmp_path / "m.npz")


def test_a_parquet_file_without_a_parquet_name(tmp_path, capsys):
    """'pass format='parquet' or give it a .parquet name': the first is no option here."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "ratings.dat"  # a MovieLens 1M name, too
    pq.write_table(pa.table({"userId": [1, 2, 2], "movieId": [10, 20, 10],
                             "rating": [4.0, 3.0, 5.0]}), data)
    status, out, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--iterations", "1",
                           "--factors", "1")
    assert status == 0, err
    assert "read 3 ratings of 2 users × 2 items" in out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_pipe_as_data_is_refused_before_it_is_read(tmp_path, fail_if_it_blocks, capsys):
    """`sparseals fit <(cat u.data)`: 'data file /dev/fd/63 does not exist', after the
    MovieLens probe had read the start of the pipe."""
    pipe = tmp_path / "u.data"
    os.mkfifo(pipe)  # never to be opened: without a writer, that blocks
    for argv in (["fit", pipe, "-o", tmp_path / "m.npz"], ["info", pipe]):
        err = user_error(capsys, *argv)
        assert f"'{pipe}' is not a regular file (a pipe or a device?)" in err


@pytest.mark.parametrize("column", ["\u0663", "\u00b2"])
def test_a_column_of_other_digits_is_a_name(tmp_path, capsys, column):
    """'--rating ٣' read column 3 (int() takes Arabic-Indic digits); '--rating ²' was
    'invalid literal for int()'."""
    data = tmp_path / "r.csv"
    data.write_text(f"u,i,{column},x\n1,2,4,9\n2,3,5,9\n", encoding="utf-8")
    status, _, err = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--user", "u", "--item",
                         "i", "--rating", column, "--iterations", "1", "--factors", "1")
    assert status == 0, err
    assert "every value is 9" not in err  # column 'x' was read


def test_a_cluster_without_workers_is_refused_not_waited_for(tmp_path, capsys):
    """--scheduler on a cluster with 0 workers printed '(0 workers)' and waited for ever."""
    import threading

    from dask.distributed import LocalCluster

    data = tmp_path / "ratings.csv"
    data.write_text("userId,movieId,rating\n0,0,1\n1,1,2\n")
    result = {}
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        argv = ["fit", str(data), "-o", str(tmp_path / "m.npz"), "--scheduler",
                cluster.scheduler_address]
        # in a thread: the old code never returned, and the test must fail, not hang
        thread = threading.Thread(target=lambda: result.update(status=main(argv)), daemon=True)
        thread.start()
        thread.join(60)
        assert not thread.is_alive(), "sparseals fit waited for workers that never came"
    err = capsys.readouterr().err.strip()
    assert result["status"] == 2
    assert f"the Dask cluster at {cluster.scheduler_address} has no workers" in err
    assert "\n" not in err


def test_a_bad_block_count_names_the_option(tmp_path, capsys):
    """--blocks 0 was refused as 'blocks must be a positive integer'."""
    from dask.distributed import LocalCluster

    data = tmp_path / "ratings.csv"
    data.write_text("userId,movieId,rating\n0,0,1\n1,1,2\n")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz", "--scheduler",
                         cluster.scheduler_address, "--blocks", "0")
    assert err == "sparseals fit: error: --blocks must be a positive integer; got 0"


def test_a_refused_data_file_prints_only_the_error(tmp_path, capsys, monkeypatch):
    """The OpenBLAS advice came on stdout before the error about a missing file."""
    from sparseals.cli import fit

    monkeypatch.setattr(fit, "blas_advice", lambda: "ADVICE")
    status, out, err = run(capsys, "fit", tmp_path / "missing.csv", "-o", tmp_path / "m.npz")
    assert status == 2 and out == ""
    assert "missing.csv' does not exist" in err
    data = tmp_path / "ratings.csv"
    data.write_text("userId,movieId,rating\n0,0,1\n1,1,2\n")
    status, out, _ = run(capsys, "fit", data, "-o", tmp_path / "m.npz", "--iterations", "1")
    assert status == 0 and out.count("note: ADVICE") == 1  # still given once the data is read


@pytest.mark.parametrize("command", ["fit", "evaluate"])
def test_an_error_of_the_fit_names_the_options(tmp_path, capsys, command):
    """The model's checks during fit named its parameters (regularization=, reg_exponent)."""
    data = tmp_path / "ratings.csv"
    rows = "".join(f"0,{i},{1 + i % 5}\n" for i in range(100))  # one user of 100 ratings
    data.write_text("userId,movieId,rating\n" + rows)
    output = ["-o", tmp_path / "m.npz"] if command == "fit" else []
    err = user_error(capsys, command, data, *output, "--regularization", "1e30",
                     "--reg-exponent", "1")
    assert err.startswith(f"sparseals {command}: error: --regularization 1e+30 weighted by "
                          "--reg-exponent 1 is too large for float32"), err
    assert err.endswith("lower --reg-exponent") and "reg_exponent" not in err
    assert "regularization=" not in err
    if command == "evaluate":
        return
    err = user_error(capsys, "fit", data, "-o", tmp_path / "m.npz", "--validation", "0.2",
                     "--patience", "0")
    assert err.startswith("sparseals fit: error: --patience must be a positive integer"), err
