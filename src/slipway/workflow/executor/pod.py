"""What Argo would start for a script template: its container, as the container runner
needs it (image, command and args, working directory, user, read-only root, the emptyDir
volumes it mounts, where its output parameters are read from).

The in-process runner ignores all of this by design (refusals.IGNORED_*); the container
runner follows it. Compiled once per template, before any step runs, from the rendered
template (``workflow.build()``), so that what runs here is what the cluster gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hera.workflows import models as m

from slipway.errors import WorkflowError

# Where Argo's executor puts a script template's ``source`` and passes it as the last
# argument of the container's command (hera.workflows.runner reads it as ``args_path``).
SCRIPT_PATH = "/argo/staging/script"


@dataclass(frozen=True)
class ScratchMount:
    """An emptyDir volume mounted in the container: memory-backed here in any case."""

    path: str
    size: str | None  # the volume's sizeLimit, a Kubernetes quantity


@dataclass(frozen=True)
class ContainerSpec:
    image: str
    command: list[str]  # may hold references (torchrun's process count)
    args: list[str]
    source: str  # the script source, before substitution
    working_dir: str | None
    user: int | None
    group: int | None
    read_only_root: bool
    drop_all_capabilities: bool
    no_new_privileges: bool
    scratch: list[ScratchMount] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> valueFrom.path
    foreign_mounts: list[str] = field(default_factory=list)  # mounts of anything but emptyDir


def container_spec(template: m.Template, where: str) -> ContainerSpec:
    """The container of a script template (already checked to be a Hera runner script)."""
    script = template.script
    assert script is not None
    if not script.image:
        raise WorkflowError(f"{where}: the script has no image")
    volumes = {v.name: v for v in template.volumes or []}
    scratch: list[ScratchMount] = []
    foreign: list[str] = []
    for mount in script.volume_mounts or []:
        volume = volumes.get(mount.name)
        if volume is None or volume.empty_dir is None:
            # Only emptyDir volumes have a local meaning: a pod's own scratch space. Not an
            # error here: the in-process runner ignores volumes; the container runner refuses.
            foreign.append(mount.name)
            continue
        limit = volume.empty_dir.size_limit
        scratch.append(ScratchMount(mount.mount_path, limit.root if limit else None))
    security = script.security_context or m.SecurityContext()
    outputs = {
        p.name: p.value_from.path
        for p in (template.outputs.parameters if template.outputs else None) or []
        if p.value_from is not None and p.value_from.path is not None
    }
    capabilities = security.capabilities
    return ContainerSpec(
        image=script.image,
        command=list(script.command or []),
        args=list(script.args or []),
        source=script.source or "",
        working_dir=script.working_dir,
        user=security.run_as_user,
        group=security.run_as_group,
        read_only_root=bool(security.read_only_root_filesystem),
        drop_all_capabilities=bool(capabilities and "ALL" in (capabilities.drop or [])),
        no_new_privileges=security.allow_privilege_escalation is False,
        scratch=scratch,
        outputs=outputs,
        foreign_mounts=foreign,
    )
