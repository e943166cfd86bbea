"""mlkit.bundle: a bundle loads back as saved, and a changed file or version is refused."""

import json

import numpy as np
import pytest
import sklearn
import skops.io

from mlkit import bundle, churn_model, data


@pytest.fixture(scope="module")
def trained():
    return churn_model.train_reference_model(seed=0, n_rows=400)


@pytest.fixture
def saved(trained, tmp_path):
    return bundle.save_bundle(
        trained.model, tmp_path / "b", training_data=trained.X_train, metrics=trained.metrics
    )


def test_round_trip_keeps_predictions_and_records_metadata(trained, saved):
    loaded = bundle.load_bundle(saved)
    np.testing.assert_array_equal(
        loaded.model.predict_proba(trained.X_test), trained.model.predict_proba(trained.X_test)
    )
    meta = loaded.metadata
    assert meta["versions"]["scikit-learn"] == sklearn.__version__
    assert meta["training_data"] == {
        "sha256": bundle.data_sha256(trained.X_train),
        "rows": len(trained.X_train),
    }
    assert meta["metrics"] == trained.metrics
    assert meta["files"][bundle.MODEL_FILE] == bundle.file_sha256(saved / bundle.MODEL_FILE)
    assert f"scikit-learn=={sklearn.__version__}" in (saved / "requirements.txt").read_text()


def test_a_changed_model_file_is_refused_before_it_is_deserialized(saved, monkeypatch):
    model_path = saved / bundle.MODEL_FILE
    expected = bundle.file_sha256(model_path)
    raw = bytearray(model_path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    model_path.write_bytes(bytes(raw))
    monkeypatch.setattr(skops.io, "load", lambda *a, **k: pytest.fail("loaded unverified bytes"))
    with pytest.raises(bundle.BundleIntegrityError) as info:
        bundle.load_bundle(saved)
    err = info.value
    assert (err.file, err.expected, err.found) == (
        bundle.MODEL_FILE,
        expected,
        bundle.file_sha256(model_path),
    )
    assert expected in str(err) and err.found in str(err) and bundle.MODEL_FILE in str(err)


def test_a_missing_file_is_named(saved):
    (saved / bundle.REQUIREMENTS_FILE).unlink()
    with pytest.raises(bundle.BundleIntegrityError, match="requirements.txt.*no such file"):
        bundle.verify_bundle(saved)


def _claim_sklearn_version(folder, claimed: str) -> None:
    meta_path = folder / bundle.METADATA_FILE
    meta = json.loads(meta_path.read_text())
    meta["versions"]["scikit-learn"] = claimed
    meta_path.write_text(json.dumps(meta))


def test_other_library_versions_are_refused_or_warned(saved):
    _claim_sklearn_version(saved, "0.0.1")
    with pytest.raises(bundle.BundleVersionError) as info:
        bundle.load_bundle(saved)
    assert info.value.mismatches == {"scikit-learn": ("0.0.1", sklearn.__version__)}
    assert "scikit-learn 0.0.1 (installed: " in str(info.value)
    with pytest.warns(UserWarning, match="scikit-learn 0.0.1"):
        loaded = bundle.load_bundle(saved, check_versions=False)
    assert loaded.metadata["versions"]["scikit-learn"] == "0.0.1"


def test_a_folder_without_metadata_is_not_a_bundle(tmp_path):
    with pytest.raises(bundle.BundleError, match="no metadata.json"):
        bundle.load_bundle(tmp_path)
    (tmp_path / bundle.METADATA_FILE).write_text("{not json")
    with pytest.raises(bundle.BundleError, match="not valid JSON"):
        bundle.load_bundle(tmp_path)


def test_an_existing_bundle_is_only_replaced_when_asked(trained, saved):
    kwargs = {"training_data": trained.X_train, "metrics": {"roc_auc": 0.5}}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        bundle.save_bundle(trained.model, saved, **kwargs)
    bundle.save_bundle(trained.model, saved, overwrite=True, **kwargs)
    assert bundle.verify_bundle(saved)["metrics"] == {"roc_auc": 0.5}


@pytest.mark.parametrize("metrics", [{"roc_auc": "high"}, [0.8], {"ok": True}])
def test_metrics_must_be_numbers_by_name(trained, tmp_path, metrics):
    with pytest.raises(TypeError, match="metrics must map names to numbers"):
        bundle.save_bundle(trained.model, tmp_path, training_data=trained.X_train, metrics=metrics)


def test_data_hash_sees_values_and_row_order():
    df = data.make_dataset(50, seed=1)
    assert bundle.data_sha256(df) == bundle.data_sha256(df.copy())
    changed = df.copy()
    changed.loc[3, "age"] += 1
    assert bundle.data_sha256(changed) != bundle.data_sha256(df)
    assert bundle.data_sha256(df.iloc[::-1]) != bundle.data_sha256(df)
    with pytest.raises(TypeError, match="df must be a pandas DataFrame"):
        bundle.data_sha256(df.to_numpy())
