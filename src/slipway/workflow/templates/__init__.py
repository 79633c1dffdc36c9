"""The workflows' steps as Hera script templates, run by Hera's runner in slipway's image.

Each function is a whole step: its parameters are the template's input parameters, its
return annotation names the output parameters, and its body is a thin call into
slipway.pipeline.steps (or slipway.rollout, slipway.monitoring). On the cluster Argo starts
``python -m hera.workflows.runner -e slipway.workflow.templates.<module>:<function>`` in a
pod; locally slipway.workflow.executor calls the same function in-process. Steps hand over
through the MLflow run id and the registry, never through memory or files.

One module per part of the platform: ``pipeline`` (validate, train, evaluate, register,
canary), ``tuning`` (the fan-out), ``exit_handler``, ``drift``; ``common`` holds what every
step shares. Heavy imports (torch, MLflow) happen inside the functions, so that rendering
the workflows, which imports these modules, stays fast.

Settings reach a step three ways, as everywhere in slipway: the ``config`` input (a YAML
path; empty means the packaged configuration), ``SLIPWAY_*`` variables that the templates
set from workflow parameters, and the ``slipway-platform`` ConfigMap (MLflow tracking URI).
"""
