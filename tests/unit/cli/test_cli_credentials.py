"""A ``lambent`` command that calls the API finds its credentials, endpoint and region as the aws
CLI does (botocore's session: ``--profile``, ``AWS_PROFILE``, ``AWS_*`` keys, the shared files),
and signs with a local server's root credentials only as the last resort
(:mod:`lambent.cli._client`). Every test runs with no ``AWS_*``/``LAMBENT_*`` variable of the
machine's, a temp HOME and temp config files."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest

from lambent.cli import _client, deploy_cmd
from lambent.cli._client import NoCredentials, Target, TargetError, is_loopback, local_url, resolve, resolve_args
from lambent.credentials import CREDENTIALS_FILE, load_root_credentials, read_root_credentials
from lambent.settings import Settings


class Aws:
    """The temp ``~/.aws/config`` and ``~/.aws/credentials`` (named by AWS_CONFIG_FILE and
    AWS_SHARED_CREDENTIALS_FILE, as a user would point them)."""

    def __init__(self, home: Path) -> None:
        self.config = home / "aws-config"
        self.credentials = home / "aws-credentials"

    def write(self, *, config: str = "", credentials: str = "") -> None:
        self.config.write_text(config)
        self.credentials.write_text(credentials)


@pytest.fixture
def aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Aws:
    for name in list(os.environ):
        if name.startswith(("AWS_", "LAMBENT_", "BOTO_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # the default data dir, ./.lambent, is in here
    files = Aws(tmp_path)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(files.config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(files.credentials))
    # botocore's instance-metadata provider is removed by the resolver; belt and braces, so that
    # no test could ever reach for 169.254.169.254
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return files


TWO_PROFILES = """\
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default-secret

[dev]
aws_access_key_id = AKIADEV
aws_secret_access_key = dev-secret
aws_session_token = dev-token
"""


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    deploy_cmd.register(parser.add_subparsers())
    return parser.parse_args(argv)


def _keys(target: Target) -> tuple[str, str, str | None]:
    return target.access_key_id, target.secret_access_key, target.session_token


# -- credentials -----------------------------------------------------------------------------------
def test_environment_keys_and_session_token_sign(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given keys in the environment and a default profile in the files
    aws.write(credentials=TWO_PROFILES)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "env-token")
    # Then the environment's win, token included, as in botocore
    target = resolve()
    assert _keys(target) == ("AKIAENV", "env-secret", "env-token")
    assert target.source == "aws:env"


def test_the_default_profile_of_the_credentials_file(aws: Aws) -> None:
    aws.write(credentials=TWO_PROFILES)
    target = resolve()
    assert _keys(target) == ("AKIADEFAULT", "default-secret", None)
    assert target.source == "aws:shared-credentials-file"


def test_profile_flag_picks_that_profile_even_over_environment_keys(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given keys in the environment too
    aws.write(credentials=TWO_PROFILES)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    # When --profile dev is given, then dev signs (an explicit profile disables the env provider)
    args = _parse(["deploy", "list", "f", "--profile", "dev"])
    assert _keys(resolve_args(args)) == ("AKIADEV", "dev-secret", "dev-token")


def test_aws_profile_variable_picks_a_profile_and_environment_keys_still_win(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.write(credentials=TWO_PROFILES)
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert _keys(resolve()) == ("AKIADEV", "dev-secret", "dev-token")
    # botocore's order: AWS_ACCESS_KEY_ID beats AWS_PROFILE (only --profile beats the keys)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    assert _keys(resolve()) == ("AKIAENV", "env-secret", None)


def test_keys_and_settings_of_a_config_file_profile(aws: Aws) -> None:
    # Given a profile that lives only in ~/.aws/config, with its region and endpoint
    aws.write(config="[profile ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = ops-secret\n"
                     "region = eu-west-3\nendpoint_url = http://127.0.0.1:7001\n")
    target = resolve(profile="ops")
    assert _keys(target) == ("AKIAOPS", "ops-secret", None)
    assert (target.endpoint_url, target.region) == ("http://127.0.0.1:7001", "eu-west-3")
    assert target.source == "aws:config-file"


def test_a_credential_process_profile_is_run_as_botocore_runs_it(aws: Aws, tmp_path: Path) -> None:
    script = tmp_path / "creds.py"
    script.write_text("import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': 'AKIAPROC', "
                      "'SecretAccessKey': 'proc-secret', 'SessionToken': 'proc-token'}))\n")
    aws.write(config=f"[profile proc]\ncredential_process = {sys.executable} {script}\n")
    assert _keys(resolve(profile="proc")) == ("AKIAPROC", "proc-secret", "proc-token")


def test_an_unknown_profile_is_a_clear_error(aws: Aws) -> None:
    aws.write(credentials=TWO_PROFILES)
    with pytest.raises(TargetError) as err:
        resolve(profile="nope")
    assert err.value.message == ("cannot load AWS credentials or configuration: "
                                 "The config profile (nope) could not be found")


def test_a_named_profile_without_keys_never_falls_back_to_the_root_file(aws: Aws, tmp_path: Path) -> None:
    # Given a local server's root-credentials file, and a profile with a region but no keys
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path / ".lambent"))
    aws.write(config="[profile empty]\nregion = eu-west-1\n")
    # Then naming that profile is an error, not a silent switch to the root key
    with pytest.raises(NoCredentials) as err:
        resolve(profile="empty")
    assert err.value.message.startswith("no credentials: profile 'empty' has none")


def test_aws_profile_variable_without_keys_never_falls_back_either(
        aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path / ".lambent"))
    aws.write(config="[profile empty]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_PROFILE", "empty")
    with pytest.raises(NoCredentials, match="profile 'empty' has none"):
        resolve()


def test_half_set_environment_keys_never_fall_back(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path / ".lambent"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENV")
    with pytest.raises(TargetError) as err:
        resolve()
    assert err.value.message == ("cannot load AWS credentials or configuration: "
                                 "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "only-a-token")
    with pytest.raises(NoCredentials, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set"):
        resolve()


# -- the local operator's fallback -----------------------------------------------------------------
def test_a_local_operator_signs_with_what_the_server_generated_in_lambent_data_dir(
        aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a server that ran with LAMBENT_DATA_DIR and LAMBENT_REGION, and no AWS configuration
    env = {"LAMBENT_DATA_DIR": str(tmp_path / "data"), "LAMBENT_REGION": "eu-west-3"}
    server = load_root_credentials(Settings.from_env(env))
    assert server.generated
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Then the CLI, given the same environment, signs with its root key, for its server
    target = resolve_args(_parse(["deploy", "list", "f"]))
    assert _keys(target) == (server.access_key_id, server.secret_access_key, None)
    assert (target.endpoint_url, target.region) == ("http://127.0.0.1:9900", "eu-west-3")
    assert target.source == f"lambent:{tmp_path / 'data' / CREDENTIALS_FILE}"


def test_data_dir_and_region_flags_win_over_the_environment(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = load_root_credentials(Settings.from_env({}, data_dir=tmp_path / "flag"))
    monkeypatch.setenv("LAMBENT_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LAMBENT_REGION", "eu-west-3")
    target = resolve_args(_parse(["deploy", "list", "f", "--data-dir", str(tmp_path / "flag"), "--region", "ap-south-1"]))
    assert target.region == "ap-south-1"
    assert _keys(target) == (server.access_key_id, server.secret_access_key, None)


def test_lambent_root_variables_win_over_the_file_as_in_the_server(
        aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path))
    monkeypatch.setenv("LAMBENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAMBENT_ROOT_ACCESS_KEY_ID", "LKIAENV")
    monkeypatch.setenv("LAMBENT_ROOT_SECRET_ACCESS_KEY", "s3cret")
    target = resolve()
    assert (_keys(target), target.source) == (("LKIAENV", "s3cret", None), "lambent:env")
    assert load_root_credentials(Settings.from_env()).access_key_id == "LKIAENV"


def test_aws_keys_win_over_the_server_root_credentials(aws: Aws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given both the server's root settings and an AWS key pair in the environment
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path))
    monkeypatch.setenv("LAMBENT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LAMBENT_ROOT_ACCESS_KEY_ID", "LKIAENV")
    monkeypatch.setenv("LAMBENT_ROOT_SECRET_ACCESS_KEY", "s3cret")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAX")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    # Then the AWS pair signs: the root is only the last resort
    assert _keys(resolve()) == ("AKIAX", "y", None)


@pytest.mark.parametrize("endpoint", ["http://10.0.0.8:9900", "https://lambent.example.com",
                                      "http://127.0.0.1.example.com:9900", "http://0.0.0.0:9900"])
def test_the_root_key_never_signs_for_a_server_elsewhere(aws: Aws, tmp_path: Path, endpoint: str) -> None:
    # Given a root-credentials file here, and a request meant for another machine
    load_root_credentials(Settings.from_env({}, data_dir=tmp_path / ".lambent"))
    # Then there are no credentials for it (a remote server could replay the root's signatures here)
    with pytest.raises(NoCredentials) as err:
        resolve(endpoint_url=endpoint)
    assert err.value.message.startswith(f"no credentials for {endpoint}: set AWS_ACCESS_KEY_ID")


def test_no_credentials_is_a_clear_error_and_writes_nothing(aws: Aws, tmp_path: Path) -> None:
    with pytest.raises(NoCredentials) as err:
        resolve(data_dir=tmp_path / "none")
    assert err.value.message == (
        "no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, use --profile NAME (or AWS_PROFILE), or aws "
        "configure; or, as the local server's operator, point --data-dir at its data dir "
        f"({tmp_path / 'none' / CREDENTIALS_FILE} not found)"
    )
    assert not (tmp_path / "none").exists()  # a client never creates the data dir or credentials


def test_an_unreadable_root_file_says_so(aws: Aws, tmp_path: Path) -> None:
    (tmp_path / ".lambent").mkdir()
    (tmp_path / ".lambent" / CREDENTIALS_FILE).write_text("only-one-word\n")
    with pytest.raises(NoCredentials, match="root-credentials is not readable"):
        resolve()


def test_deploy_without_credentials_exits_1_with_the_reason(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    assert deploy_cmd.run(_parse(["deploy", "list", "f"])) == 1
    err = capsys.readouterr().err
    assert "lambent deploy" in err and "no credentials" in err


def test_the_server_generates_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path)
    first = load_root_credentials(settings)
    again = load_root_credentials(settings)
    assert first.generated and not again.generated
    assert (again.access_key_id, again.secret_access_key) == (first.access_key_id, first.secret_access_key)
    assert stat.S_IMODE(os.stat(tmp_path / CREDENTIALS_FILE).st_mode) == 0o600
    assert read_root_credentials(settings) == again


def test_instance_metadata_is_never_asked(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given IMDS *enabled* and a metadata fetcher that records any call
    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    asked: list[str] = []
    from botocore.utils import InstanceMetadataFetcher

    monkeypatch.setattr(InstanceMetadataFetcher, "retrieve_iam_role_credentials",
                        lambda self: asked.append("imds") or {})
    # When nothing else gives credentials
    with pytest.raises(NoCredentials):
        resolve()
    # Then the resolver never reached for the instance's role
    assert asked == []


# -- endpoint and region ---------------------------------------------------------------------------
ENDPOINTS = """\
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = default-secret
endpoint_url = http://127.0.0.1:7000

[profile svc]
aws_access_key_id = AKIASVC
aws_secret_access_key = svc-secret
services = local
endpoint_url = http://127.0.0.1:7000

[services local]
lambent =
  endpoint_url = http://127.0.0.1:7100
lambda =
  endpoint_url = http://127.0.0.1:7200
"""


def test_endpoint_order_flag_service_variable_global_variable_services_section_profile(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.write(config=ENDPOINTS)
    assert resolve().endpoint_url == "http://127.0.0.1:7000"  # the profile's endpoint_url
    assert resolve(profile="svc").endpoint_url == "http://127.0.0.1:7100"  # its services section, lambent's entry
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7300")
    assert resolve(profile="svc").endpoint_url == "http://127.0.0.1:7300"
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBENT", "http://127.0.0.1:7400")
    assert resolve(profile="svc").endpoint_url == "http://127.0.0.1:7400"
    assert resolve(profile="svc", endpoint_url="http://127.0.0.1:7500").endpoint_url == "http://127.0.0.1:7500"
    # AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: variables and files are skipped, as in botocore
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert resolve(profile="svc").endpoint_url == "http://127.0.0.1:9900"


@pytest.mark.parametrize("endpoint", ["notaurl", "ftp://127.0.0.1:9900", "http://", "file:///etc/passwd"])
def test_an_endpoint_that_is_not_an_http_url_is_a_clear_error(aws: Aws, monkeypatch: pytest.MonkeyPatch,
                                                              endpoint: str) -> None:
    aws.write(credentials=TWO_PROFILES)
    with pytest.raises(TargetError) as err:
        resolve(endpoint_url=endpoint)
    assert err.value.message == f"endpoint {endpoint!r} is not an http:// or https:// URL"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # the same from the environment
    with pytest.raises(TargetError, match="is not an http:// or https:// URL"):
        resolve()


def test_the_default_endpoint_is_the_local_server_lambent_settings_name(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.write(credentials=TWO_PROFILES)
    assert resolve().endpoint_url == "http://127.0.0.1:9900"
    monkeypatch.setenv("LAMBENT_PORT", "9911")
    monkeypatch.setenv("LAMBENT_HOST", "0.0.0.0")
    assert resolve().endpoint_url == "http://127.0.0.1:9911"


def test_region_order_flag_aws_region_aws_default_region_profile_lambent_region(
        aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.write(credentials=TWO_PROFILES, config="[default]\nregion = eu-north-1\n")
    monkeypatch.setenv("LAMBENT_REGION", "sa-east-1")
    assert resolve().region == "eu-north-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert resolve().region == "eu-central-1"
    monkeypatch.setenv("AWS_REGION", "ap-northeast-1")
    assert resolve().region == "ap-northeast-1"
    assert resolve(region="us-west-2").region == "us-west-2"
    aws.write(credentials=TWO_PROFILES)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name)
    assert resolve().region == "sa-east-1"


@pytest.mark.parametrize(("url", "loopback"), [
    ("http://127.0.0.1:9900", True), ("http://127.3.2.1", True), ("http://localhost:1", True), ("http://[::1]:9", True),
    ("http://10.1.2.3", False), ("http://localhost.example.com", False), ("http://127.0.0.1.nip.io", False),
    ("http://[::]:9900", False), ("not a url", False),
])
def test_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_local_url_of_wildcard_and_ipv6_hosts() -> None:
    assert local_url(Settings(host="0.0.0.0", port=1)) == "http://127.0.0.1:1"
    assert local_url(Settings(host="::", port=2)) == "http://[::1]:2"
    assert local_url(Settings(host="::1", port=3)) == "http://[::1]:3"
    assert local_url(Settings(host="box.internal", port=4)) == "http://box.internal:4"


def test_target_repr_hides_the_secret_and_token() -> None:
    target = Target("http://127.0.0.1:9900", "us-east-1", "AKIA", "very-secret", "very-token", "aws:env")
    assert "very-secret" not in repr(target) and "very-token" not in repr(target)


def test_the_flags_are_named_as_the_aws_clis() -> None:
    parser = argparse.ArgumentParser()
    _client.add_arguments(parser)
    args = parser.parse_args(["--profile", "p", "--endpoint-url", "http://127.0.0.1:1", "--region", "r"])
    assert (args.profile, args.endpoint_url, args.region, args.data_dir) == ("p", "http://127.0.0.1:1", "r", None)
    assert json.dumps(vars(parser.parse_args([]))) == json.dumps(
        {"profile": None, "endpoint_url": None, "region": None, "data_dir": None})


def test_a_malformed_lambent_variable_is_a_clear_error(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBENT_PORT", "nine")
    with pytest.raises(TargetError, match="cannot read lambent's settings: LAMBENT_PORT='nine'"):
        resolve()


def test_client_of_a_target_signs_any_service_with_its_keys_and_token() -> None:
    # Given a target with temporary credentials, and a botocore client of Lambda for it
    from botocore.awsrequest import AWSResponse

    target = Target("http://127.0.0.1:9", "eu-west-3", "ASIATEMP", "temp-secret", "tok", "aws:env")
    lam = _client.client(target, "lambda")
    sent: list[tuple[str, dict[str, str]]] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        sent.append((request.url, {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}))
        return AWSResponse(request.url, 200, {}, _Body(b'{"Functions": []}'))

    lam.meta.events.register("before-send", capture)
    # When it lists functions
    assert lam.list_functions()["Functions"] == []
    # Then the request went to the target, scoped to its region, with the token
    ((url, headers),) = sent
    assert url.startswith("http://127.0.0.1:9/2015-03-31/functions")
    assert "Credential=ASIATEMP/" in headers["authorization"] and "/eu-west-3/lambda/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "tok"


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body
