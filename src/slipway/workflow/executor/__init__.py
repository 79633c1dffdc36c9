"""slipway's local executor: runs a Hera workflow's DAG on this machine, step by step.

Argo Workflows and Hera have no local runner (hera issues #992 and #1492), so this is a
small interpreter for the subset of Argo that slipway's workflows use. It walks the *same*
Hera object that is rendered for the cluster (``workflow.build()``, what Argo would get),
and calls each script template's Python function in-process with the parameters that Argo
would pass.

Supported, with Argo's meaning:

- the entrypoint is a DAG; tasks ordered by ``depends`` (task names joined by ``&&``) or
  ``dependencies``; a dependency that is Skipped still lets its dependants run; after a
  failure no new task starts (Argo's default ``failFast``); ``target`` as a run option;
- ``when``: ``==``, ``!=``, ``&&``, ``||``, parentheses, quoted strings and bare words,
  evaluated after substitution as Argo does;
- ``{{workflow.parameters.x}}``, ``{{inputs.parameters.x}}`` and, in DAG tasks,
  ``{{tasks.t.outputs.parameters.y}}`` of a task that ``t`` depends on;
- workflow arguments (required when they have no value; ``enum`` enforced), template
  inputs with defaults, output parameters from the function's return value;
- script templates made by Hera's runner constructor, under ``python`` or
  ``torchrun --standalone --nproc-per-node 1`` (one rank, in-process); the template's
  ``env`` and its ``envFrom`` ConfigMaps (which come from the caller, the local stand-in
  for the cluster's) are the step's environment; optional Secrets are absent as on a
  cluster that lacks them;
- resource templates that create a Workflow from a ``workflowTemplateRef`` the executor
  was given: that workflow runs here, to its end, as part of the task;
- loops: ``withItems`` and ``withParam`` (a JSON list; ``{{item}}``, ``{{item.key}}``), one
  step an item in threads, at most the DAG template's ``parallelism`` at once; an empty
  list is Skipped; a loop's aggregated outputs are not resolved;
- ``retryStrategy`` (retry.py): limit, backoff (duration, factor, cap, maxDuration), the
  policies Always, OnFailure, OnError, OnTransientError, and the expression
  ``asInt(lastRetry.exitCode) == N``, over the step's exit code (a SystemExit's, else 1);
- ``onExit`` naming a DAG template, run after the DAG whatever its end, with
  ``{{workflow.status}}`` and ``{{workflow.failures}}``; ``{{workflow.name}}`` anywhere;
- ``synchronization`` with one mutex (the workflow's or a template's): a lock file under
  the state folder, so two runs on this machine never hold it at once;
- step caching (cache.py: the key, ``slipway.io/cache: never``, eviction) and ``resume``
  from a run's record (runner.py), whichever StepRunner runs the steps.

Ignored by design, because they say where and how a pod runs rather than what a step
does: image, pull policy, resources, security contexts, volumes and mounts, working
directory, node selectors and tolerations, a podSpecPatch that only patches container
resources, service account, pod GC, TTL and deadlines, labels and annotations.

The container runner (``containers.ContainerSteps``, chosen with ``LocalExecutor(steps=...)``)
runs each script step in its image instead, with podman, as Argo would start its pod: the
image (mapped to a local one), command and args with the script source as Argo's staging
file, env and ``envFrom``, working directory, user, read-only root, the emptyDir volumes,
output parameters read from their ``valueFrom.path`` files. For it, what the in-process
runner ignores by design is what it follows; a volume other than an emptyDir is refused.

Everything else (artifacts, ``withSequence``, semaphores, other retry expressions, inline
scripts, containers, expressions ``{{=...}}``, other variables) is rejected with a
WorkflowError naming the template or task, before any step runs.

A step's environment. A pod gets its own environment; a step here gets a context-local
overlay instead: ``slipway.config.step_environment`` sets the step's variables in a
``ContextVar`` for the length of the call, and ``slipway.config.environ()`` (``os.environ``
overlaid by them) is what slipway reads its environment through: the settings'
``SLIPWAY_<SECTION>__<KEY>`` source, ``SLIPWAY_HOME`` (the local stack's state folder)
and ``MLFLOW_TRACKING_URI`` (the runtime). ``os.environ`` is never changed, so nothing
of a step is left for the next one or for the process after the run, and another
thread (a second run, a server) never sees it. Chosen over a subprocess per step, which
would be the most faithful to a pod, because a step here stays a function call: its
exception (with its traceback) is the failed task's ``error`` and ``StepFailed``'s cause,
tests can fake steps in-process, and no step pays an interpreter start plus slipway's,
MLflow's and torch's imports (measured on this shared 2-core machine: 4.5 s for the
step module and the runtime, 45 s with MLflow and torch, against once per run here).
Its limits: code that reads ``os.environ`` directly, or a thread or process the step
starts, does not see the overlay (a thread can, through ``contextvars.copy_context()``);
slipway's steps read only through ``environ()``, and the servers a canary step starts
take what they need as arguments.

The package, one job a module: ``results`` (what a run reports), ``placeholders``
(``{{...}}`` references: checked, substituted), ``when`` (the ``when`` parser),
``refusals`` (the supported subset's edges), ``plan`` (the compiled form), ``graph``
(dependencies and their order), ``templates`` (one template compiled), ``compiler``
(a workflow to a plan, checked before any step runs), ``pod`` (a script template's
container, as Argo would start it), ``step`` (how a step runs; one script step called
in-process, with its environment), ``containers`` (one script step in its image, with
podman), ``retry`` (retryStrategy), ``cache`` (step caching), ``runner`` (LocalExecutor:
runs a plan, its loops, retries, exit handler, mutexes, cache and resume).
"""

from slipway.workflow.executor.compiler import compile_workflow
from slipway.workflow.executor.containers import ContainerSteps, ImageMap, Mount
from slipway.workflow.executor.placeholders import substitute
from slipway.workflow.executor.results import RunResult, Status, TaskResult
from slipway.workflow.executor.runner import LocalExecutor
from slipway.workflow.executor.step import InProcessSteps, StepRunner
from slipway.workflow.executor.when import evaluate_when

__all__ = [
    "ContainerSteps",
    "ImageMap",
    "InProcessSteps",
    "LocalExecutor",
    "Mount",
    "RunResult",
    "Status",
    "StepRunner",
    "TaskResult",
    "compile_workflow",
    "evaluate_when",
    "substitute",
]
