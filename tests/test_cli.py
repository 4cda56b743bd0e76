"""The command line (fit -> sample -> evaluate) and model files with a checked format."""
import joblib
import numpy as np
import pytest

import pydbn
from pydbn.__main__ import main
from pydbn.plotting import read_png


def test_fit_sample_evaluate_round_trip(tmp_path, capsys):
    model_file = tmp_path / "m.joblib"
    assert main(["fit", "--data", "digits", "--n-components", "12", "--n-iter", "3",
                 "--learning-rate", "0.05", "--out", str(model_file), "--verbose", "0"]) == 0
    model = pydbn.load_model(model_file)
    assert isinstance(model, pydbn.RBM) and model.components_.shape == (12, 64)
    # the saved model equals one trained directly with the same settings
    X = pydbn.datasets.load_digits_binary()[0]
    direct = pydbn.RBM(12, learning_rate=0.05, batch_size=10, n_iter=3, random_state=0).fit(X)
    np.testing.assert_array_equal(model.components_, direct.components_)

    png = tmp_path / "s.png"
    assert main(["sample", str(model_file), "--n-samples", "16", "--n-steps", "20",
                 "--out", str(png)]) == 0
    image = read_png(png)
    assert image.ndim == 2 and image.shape[0] > 8 * 4

    capsys.readouterr()
    assert main(["evaluate", str(model_file), "--data", "digits", "--method", "exact"]) == 0
    out = capsys.readouterr().out
    log_z = float(out.split("log Z (exact): ")[1].split()[0])
    assert log_z == pytest.approx(model.log_partition("exact"), abs=1e-3)
    mean_ll = float(out.split("mean log p(x): ")[1].split()[0])
    assert mean_ll == pytest.approx(model.log_likelihood(X).mean(), abs=1e-3)


def test_load_model_rejects_foreign_and_future_files(tmp_path):
    joblib.dump({"something": 1}, tmp_path / "foreign.joblib")
    with pytest.raises(ValueError, match="not a pydbn model file"):
        pydbn.load_model(tmp_path / "foreign.joblib")
    joblib.dump({"pydbn_format": 999, "pydbn_version": "9.9", "model": None}, tmp_path / "f.joblib")
    with pytest.raises(ValueError, match="format 999"):
        pydbn.load_model(tmp_path / "f.joblib")


def test_unknown_data_name_is_a_clear_exit():
    with pytest.raises(SystemExit, match="unknown data"):
        main(["fit", "--data", "nonsense"])


def test_dbn_fit_with_labels_sample_by_class_and_evaluate(tmp_path, capsys):
    model_file = tmp_path / "dbn.joblib"
    assert main(["fit", "--model", "dbn", "--hidden", "6,5", "--labels", "--data", "digits",
                 "--n-iter", "2", "--n-iter-fine-tune", "1", "--learning-rate", "0.05",
                 "--out", str(model_file), "--verbose", "0"]) == 0
    model = pydbn.load_model(model_file)
    assert isinstance(model, pydbn.DBN) and model.fine_tune == "up-down"
    assert [r.components_.shape for r in model.rbms_] == [(6, 64), (5, 16)]
    np.testing.assert_array_equal(model.classes_, np.arange(10))

    png = tmp_path / "s.png"
    assert main(["sample", str(model_file), "--label", "3", "--n-samples", "4", "--n-steps", "5",
                 "--out", str(png)]) == 0
    assert read_png(png).ndim == 2

    capsys.readouterr()
    assert main(["evaluate", str(model_file), "--data", "digits", "--method", "exact"]) == 0
    out = capsys.readouterr().out
    X, y = pydbn.datasets.load_digits_binary()
    accuracy = float(out.split("accuracy: ")[1].split()[0])
    assert accuracy == pytest.approx(model.score(X, y), abs=1e-4)
    bound = float(out.split("mean lower bound on log p(x): ")[1].split()[0])
    assert bound == pytest.approx(model.lower_bound(X, "exact").mean(), abs=1e-3)


def test_cli_turns_bad_settings_into_a_message():
    with pytest.raises(SystemExit, match="--hidden must be comma-separated"):
        main(["fit", "--model", "dbn", "--hidden", "5,x"])
    with pytest.raises(SystemExit, match="--labels needs --model dbn"):
        main(["fit", "--labels"])


@pytest.mark.parametrize("model, extra, cls", [
    ("dbm", ["--hidden", "8,6", "--n-iter", "1"], "DBM"),
    ("vpf", ["--hidden", "8", "--lateral", "--n-iter", "2"], "VPF"),
    ("adbn", ["--hidden", "8", "--n-iter", "100", "--loss", "wgan"], "AdversarialDBN"),
    ("adbn", ["--hidden", "8", "--n-iter", "100", "--labels"], "AdversarialDBN"),
    ("dcim", ["--hidden", "8", "--n-iter", "2", "--labels", "--objective", "sampled"], "DCIM"),
])
def test_every_model_fits_samples_and_evaluates(tmp_path, capsys, model, extra, cls):
    model_file = tmp_path / "m.joblib"
    assert main(["fit", "--model", model, "--data", "digits", "--out", str(model_file),
                 "--verbose", "0", "--batch-size", "20"] + extra) == 0
    fitted = pydbn.load_model(model_file)
    assert type(fitted).__name__ == cls
    # the options reached the estimator; the others kept its defaults
    params = fitted.get_params()
    assert params["batch_size"] == 20 and params["random_state"] == 0
    assert params["learning_rate"] == type(fitted)().get_params()["learning_rate"]
    if "--lateral" in extra:
        assert params["lateral"] is True
    if "--loss" in extra:
        assert params["loss"] == "wgan"
    if "--objective" in extra:
        assert params["objective"] == "sampled"
    # the saved model equals one trained directly with the same settings
    X, y = pydbn.datasets.load_digits_binary()
    direct = type(fitted)(**params).fit(X, y if "--labels" in extra else None) \
        if cls != "DCIM" else type(fitted)(**params).fit(X, y)
    first = fitted.components_[0]
    np.testing.assert_array_equal(first, direct.components_[0])

    png = tmp_path / "s.png"
    assert main(["sample", str(model_file), "--n-samples", "10", "--n-steps", "2",
                 "--out", str(png)]) == 0
    assert read_png(png).ndim == 2

    capsys.readouterr()
    assert main(["evaluate", str(model_file), "--data", "digits", "--n-betas", "200",
                 "--n-chains", "10", "--n-samples", "200"]) == 0
    out = capsys.readouterr().out
    expected = {"DBM": "mean lower bound on log p(x):", "VPF": "MPF objective",
                "AdversarialDBN": "mean log p(x) (Sec. 3.3", "DCIM": "accuracy:"}[cls]
    assert expected in out
    value = float(out.split(expected)[1].split(":")[-1].split()[0]) if cls != "VPF" else \
        float(out.split("): ")[1].split()[0])
    assert np.isfinite(value)


def test_fit_refuses_labels_where_the_model_takes_none(capsys):
    with pytest.raises(SystemExit, match="--labels needs"):
        main(["fit", "--model", "vpf", "--labels", "--data", "digits"])
    with pytest.raises(SystemExit, match="DCIM is a classifier"):
        main(["fit", "--model", "dcim", "--data", "digits"])
