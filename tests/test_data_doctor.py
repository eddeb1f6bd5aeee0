"""tinydl doctor's dataset checks: a path when the data is there, the exact command when not."""
from __future__ import annotations

import pytest

from tinydl.cli import main
from tinydl.data import doctor


def test_missing_data_names_the_command_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYDL_DATA", str(tmp_path))
    monkeypatch.setattr(doctor, "FORTUNES_ROOT", str(tmp_path / "nowhere"))
    monkeypatch.setattr("tinydl.data.locate.SYSTEM_DATA_DIRS", (str(tmp_path / "none"),))
    with pytest.raises(FileNotFoundError, match="apt-get install fortunes"):
        doctor.fortunes_location()
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        doctor.fashion_mnist_location()
    with pytest.raises(FileNotFoundError, match="TINYDL_DATA"):
        doctor.cifar10_location()


def test_found_data_gives_its_folder(monkeypatch, tmp_path):
    import numpy as np

    from tinydl.data.idx import write_idx

    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    for name in doctor.TRAIN_FILES + doctor.TEST_FILES:
        write_idx(np.zeros((1, 28, 28) if "images" in name else (1,), np.uint8), folder / name)
    monkeypatch.setenv("TINYDL_DATA", str(tmp_path))
    assert doctor.fashion_mnist_location() == str(folder)


def test_doctor_lists_every_dataset(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name, _ in doctor.DATASET_CHECKS:
        assert f"{name}:" in out
