"""The environment variables an execution environment sees, as Lambda defines them:
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
"""

from __future__ import annotations

from collections.abc import Mapping

from lambent.control.model import FunctionConfig
from lambent.control.runtimes import RuntimeLaunch

RUNTIME_API_PORT = 9001

#: Defaults a function's own variables may override (Lambda lets users change these).
_OVERRIDABLE = {
    "LANG": "en_US.UTF-8",
    # AWS's PATH (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "TZ": ":UTC",
    # No HOME, PYTHONUNBUFFERED or PYTHONDONTWRITEBYTECODE: AWS sets none of them (the Python
    # bootstrap runs with -u itself; /var/task and /var/runtime are read-only mounts, so the
    # shared code tree cannot gain __pycache__ dirs whatever a function's interpreter tries).
}


def build_env(
    cfg: FunctionConfig,
    launch: RuntimeLaunch,
    *,
    region: str,
    log_stream: str,
    credentials: Mapping[str, str] | None = None,
    endpoint_url: str | None = None,
    xray_daemon: str | None = None,
) -> dict[str, str]:
    """The variables of one environment. ``credentials``: the execution role's temporary
    credentials (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``);
    ``endpoint_url``: lambent's API as the sandbox reaches it (``AWS_ENDPOINT_URL``). Both are set
    after the function's own variables, so they win over anything its configuration says."""
    env: dict[str, str] = {**_OVERRIDABLE, **dict(launch.extra_env), **(cfg.environment or {})}
    if cfg.log_format == "JSON":
        # Advanced logging controls: the runtime clients emit JSON records and drop those below
        # the level (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html).
        # In Text format the function's own AWS_LAMBDA_LOG_LEVEL, if any, is left as it is.
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = cfg.application_log_level or "INFO"
    # Reserved keys: validation refuses them in the function's configuration, so these always win.
    env.update(
        {
            "_HANDLER": cfg.handler,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{cfg.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": cfg.name,
            "AWS_LAMBDA_FUNCTION_VERSION": cfg.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(cfg.memory_mb),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": cfg.log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{RUNTIME_API_PORT}",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": "/var/task",
            "LAMBDA_RUNTIME_DIR": "/var/runtime",
        }
    )
    if credentials is not None:
        env.update(credentials)
    if endpoint_url is not None:
        env["AWS_ENDPOINT_URL"] = endpoint_url
    if xray_daemon is not None:
        # As Lambda sets them (configuration-envvars.html#configuration-envvars-runtime): the
        # daemon's UDP address, and a missing context logged rather than raised.
        host, _, port = xray_daemon.rpartition(":")
        # The function may set AWS_XRAY_CONTEXT_MISSING itself (Lambda lets it).
        env.setdefault("AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR")
        env.update({"AWS_XRAY_DAEMON_ADDRESS": xray_daemon, "_AWS_XRAY_DAEMON_ADDRESS": host,
                    "_AWS_XRAY_DAEMON_PORT": port})
    return env
