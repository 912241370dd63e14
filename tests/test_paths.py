"""The per-user folders follow their environment variables; the resources are found."""

import sys

from modelledger import paths


def test_each_folder_follows_its_environment_variable(tmp_path, monkeypatch):
    for variable, folder in ((paths.CONFIG_DIR_ENV, paths.config_folder),
                             (paths.DATA_DIR_ENV, paths.data_folder),
                             (paths.LOG_DIR_ENV, paths.log_folder)):
        monkeypatch.setenv(variable, str(tmp_path / variable))
        assert folder() == tmp_path / variable


def test_the_demo_workspace_lives_in_the_data_folder(tmp_path, monkeypatch):
    from modelledger.services.demo.build import default_demo_path

    monkeypatch.setenv(paths.DATA_DIR_ENV, str(tmp_path))
    assert default_demo_path().is_relative_to(tmp_path)


def test_resources_are_found_in_a_checkout_and_in_a_frozen_bundle(tmp_path, monkeypatch):
    assert (paths.resources_folder() / "icons" / "modelledger.svg").is_file()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.resources_folder() == tmp_path / "resources"
