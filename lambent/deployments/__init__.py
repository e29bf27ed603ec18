"""Safe deployments: move an alias from its version to another one in steps, CodeDeploy-style
(https://docs.aws.amazon.com/codedeploy/latest/userguide/deployment-steps-lambda.html), with
validation hooks, an error-rate alarm, a manual stop and automatic rollback.

Three layers, one module each (``model``, ``decide``, ``service``), plus ``strategies``
(deployment configurations → steps, pure):

* **Values** — :class:`Deployment` (frozen; persisted as JSON), :class:`Status`, :class:`Phase`.
* **Decision core** — :func:`decide` and the ``after_*`` transitions: pure functions of a
  deployment, the time and an alarm reading. They say what to do next (run a hook, shift, wait,
  restore the alias, nothing) and never do it.
* **Shell** — :class:`DeploymentService` validates requests and owns one :class:`_Runner` task per
  InProgress deployment; the runner performs the actions (``AliasService.update``, hook invokes
  through ``InvokeService.invoke``), persists every transition with its events, and is resumed
  from the database after a restart.

Lifecycle (CodeDeploy's Lambda lifecycle events)::

    BeforeAllowTraffic ──► AllowTraffic (steps) ──► AfterAllowTraffic ──► End   Succeeded
           │                     │                         │
           └──── hook failed / alarm / stop / error ───────┴──► Rollback ──► End   RolledBack | Stopped
                                                                   (alias not restored: Failed)

Statuses (final ones; ``InProgress`` until then):

* ``Succeeded`` — the alias points at the target version (no routing) and every hook passed.
* ``RolledBack`` — lambent aborted it (a hook failed, the error-rate alarm fired, or an
  unexpected error while shifting) and put the alias back at 100 % of the original version.
* ``Stopped`` — somebody asked it to stop; the alias was put back at 100 % of the original version.
* ``Failed`` — it could not go on and lambent did *not* restore the alias: the alias or a version
  was changed or deleted outside the deployment, or the restore itself failed. The alias is left
  as it was found; ``ErrorInformation`` says why.

Crash safety: every action is idempotent against the persisted state. A step is re-checked
against the alias (already applied → only recorded), a rollback is persisted as intent before the
alias is touched, and a hook whose result was not persisted runs again (hooks are at-least-once).
"""

from lambent.deployments.decide import (
    after_hook,
    after_restore,
    after_shift,
    begin_rollback,
    decide,
    fail,
    finish,
)
from lambent.deployments.model import (
    HOOK_RESPONSE_KEPT_BYTES,
    TERMINAL,
    Action,
    Alarm,
    AliasState,
    Decision,
    Deployment,
    ErrorCode,
    Event,
    Finished,
    Phase,
    Restore,
    RunHook,
    Shift,
    Status,
    WaitUntil,
)
from lambent.deployments.service import (
    Clock,
    CreateDeployment,
    DeploymentService,
    HookInvoker,
    SystemClock,
    new_deployment_id,
)

__all__ = [
    "HOOK_RESPONSE_KEPT_BYTES", "TERMINAL", "Action", "Alarm", "AliasState", "Clock", "CreateDeployment",
    "Decision", "Deployment", "DeploymentService", "ErrorCode", "Event", "Finished", "HookInvoker", "Phase",
    "Restore", "RunHook", "Shift", "Status", "SystemClock", "WaitUntil", "after_hook", "after_restore",
    "after_shift", "begin_rollback", "decide", "fail", "finish", "new_deployment_id",
]
