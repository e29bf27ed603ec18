"""The CLI finds the root credentials and settings through the server's code (lambent.credentials +
Settings.from_env): ``LAMBENT_DATA_DIR`` and ``--data-dir`` name the same directory for both."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest

from lambent.cli import deploy_cmd
from lambent.credentials import CREDENTIALS_FILE, load_root_credentials, read_root_credentials
from lambent.settings import Settings


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    deploy_cmd.register(parser.add_subparsers())
    return parser.parse_args(argv)


def _cli_settings(argv: list[str], env: dict[str, str]) -> Settings:
    args = _parse(argv)
    return Settings.from_env(env, data_dir=args.data_dir, region=args.region)


def test_the_cli_reads_what_the_server_generated_in_lambent_data_dir(tmp_path: Path) -> None:
    # The server ran with LAMBENT_DATA_DIR (no --data-dir): the CLI, given the same environment,
    # finds its credentials there (it used to look only in ./.lambent).
    env = {"LAMBENT_DATA_DIR": str(tmp_path / "data"), "LAMBENT_REGION": "eu-west-3"}
    server = load_root_credentials(Settings.from_env(env))
    assert server.generated
    settings = _cli_settings(["deploy", "list", "f"], env)
    assert settings.data_dir == tmp_path / "data"
    assert settings.region == "eu-west-3"
    assert deploy_cmd.credentials(settings, env) == (server.access_key_id, server.secret_access_key)


def test_data_dir_flag_and_region_flag_win_over_the_environment(tmp_path: Path) -> None:
    server = load_root_credentials(Settings.from_env({}, data_dir=tmp_path / "flag"))
    env = {"LAMBENT_DATA_DIR": str(tmp_path / "elsewhere"), "LAMBENT_REGION": "eu-west-3"}
    settings = _cli_settings(["deploy", "list", "f", "--data-dir", str(tmp_path / "flag"), "--region", "ap-south-1"], env)
    assert settings.region == "ap-south-1"
    assert deploy_cmd.credentials(settings, env) == (server.access_key_id, server.secret_access_key)


def test_lambent_root_variables_win_as_in_the_server(tmp_path: Path) -> None:
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path))
    env = {"LAMBENT_DATA_DIR": str(tmp_path), "LAMBENT_ROOT_ACCESS_KEY_ID": "LKIAENV",
           "LAMBENT_ROOT_SECRET_ACCESS_KEY": "s3cret", "AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "y"}
    settings = _cli_settings(["deploy", "list", "f"], env)
    assert deploy_cmd.credentials(settings, env) == ("LKIAENV", "s3cret")
    assert load_root_credentials(Settings.from_env(env)).access_key_id == "LKIAENV"


def test_aws_variables_are_only_a_fallback(tmp_path: Path) -> None:
    env = {"LAMBENT_DATA_DIR": str(tmp_path / "none"), "AWS_ACCESS_KEY_ID": "AKIAX", "AWS_SECRET_ACCESS_KEY": "y"}
    assert deploy_cmd.credentials(_cli_settings(["deploy", "list", "f"], env), env) == ("AKIAX", "y")


def test_no_credentials_is_a_clear_exit_and_writes_nothing(tmp_path: Path) -> None:
    env = {"LAMBENT_DATA_DIR": str(tmp_path / "none")}
    with pytest.raises(SystemExit) as info:
        deploy_cmd.credentials(_cli_settings(["deploy", "list", "f"], env), env)
    assert str(info.value) == (
        "no credentials: set LAMBENT_ROOT_ACCESS_KEY_ID/LAMBENT_ROOT_SECRET_ACCESS_KEY or AWS_ACCESS_KEY_ID/"
        f"AWS_SECRET_ACCESS_KEY, or point --data-dir at the server's data dir ({tmp_path / 'none' / CREDENTIALS_FILE} "
        "not readable)"
    )
    assert not (tmp_path / "none").exists()  # a client never creates the data dir or credentials


def test_the_server_generates_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    first = load_root_credentials(settings)
    again = load_root_credentials(settings)
    assert first.generated and not again.generated
    assert (again.access_key_id, again.secret_access_key) == (first.access_key_id, first.secret_access_key)
    assert stat.S_IMODE(os.stat(tmp_path / CREDENTIALS_FILE).st_mode) == 0o600
    assert read_root_credentials(settings) == again
