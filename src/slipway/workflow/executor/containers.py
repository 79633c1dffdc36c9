"""The container runner: each script step in its image, started with podman as Argo would
start the step's pod, so that a run here exercises what the cluster runs.

kfp's DockerRunner (kfp.local) is the model: a step is its image and its command, host
folders are bind-mounted for what goes in and out, the exit status is the step's status.
What Argo gives a script step's container, and so this runner:

- the template's image (mapped to a local one by an explicit ``ImageMap``; no pulls: an
  image that is not in podman's storage is a WorkflowError before any step runs);
- its command and args with the template's references substituted, and the script
  ``source`` (``{{inputs.parameters}}``: the inputs as Argo's JSON list of name/value)
  written to a file that is the last argument, where Argo's executor puts it
  (``/argo/staging/script``); Hera's runner reads its inputs from that file;
- its environment: the ``envFrom`` ConfigMaps (the caller's local stand-ins), then ``env``
  (optional Secrets absent), exactly what the in-process runner overlays;
- working directory, user and group, read-only root filesystem, all capabilities dropped,
  no privilege escalation, from the container's securityContext; the template's emptyDir
  volumes as tmpfs mounts (``/dev/shm`` as the container's shared memory);
- output parameters read after the container ends from the file each
  ``valueFrom.path`` names: a host folder is mounted at each such file's folder, since a
  tmpfs is gone with its container.

Podman runs with ``--network host``, so the local stack's loopback services (MLflow,
Prometheus, S3) are where the ConfigMap says; ``pod_env`` is what the platform injects into
every pod rather than the template (on EKS, IRSA's webhook: the role and its token file;
here, the local stack's S3 endpoint and local credentials), passed by name so that no
value shows on podman's command line; host paths the step reads (its data) are
mounted at the same path, read-only unless the caller says otherwise. ``CONTAINERS_CONF``
points podman at a repository-managed containers.conf when one is given.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from slipway.errors import StepFailed, WorkflowError
from slipway.workflow.executor.placeholders import ALL_INPUTS, substitute
from slipway.workflow.executor.plan import TaskPlan, TemplatePlan
from slipway.workflow.executor.pod import SCRIPT_PATH, ContainerSpec
from slipway.workflow.executor.step import step_env

_QUANTITY = re.compile(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?")
_UNITS = {
    None: 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
}  # fmt: skip
_LOG_TAIL = 30  # lines of a failed step's output kept for its error message


class ContainerExited(StepFailed):
    """A step's container ended with a non-zero exit code, which a retryStrategy reads."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class ImageMap:
    """Template images to local ones: ``repository=local`` (any tag or digest of that
    repository) or ``repository:tag=local`` (that reference only)."""

    entries: Mapping[str, str]

    @classmethod
    def parse(cls, items: Iterable[str]) -> ImageMap:
        entries: dict[str, str] = {}
        for item in items:
            source, sep, local = item.partition("=")
            if not sep or not source.strip() or not local.strip() or "=" in local:
                raise WorkflowError(
                    f"image map {item!r}: expected TEMPLATE_IMAGE=LOCAL_IMAGE, e.g. "
                    "ghcr.io/slipway-ml/slipway-trainer=localhost/slipway-trainer:dev"
                )
            entries[source.strip()] = local.strip()
        return cls(entries)

    def resolve(self, image: str) -> str:
        """The local image for a template's image: an exact entry, else its repository's."""
        if image in self.entries:
            return self.entries[image]
        return self.entries.get(repository(image), image)


def repository(image: str) -> str:
    """An image reference without its digest or tag (a registry's port is kept)."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


@dataclass(frozen=True)
class Mount:
    """A host path the steps see at the same path."""

    path: Path
    read_only: bool = True


class ContainerSteps:
    """Runs each script step in its image with podman (a StepRunner for LocalExecutor).

    ``mounts``: host paths the steps read (or write), at the same path; ``containers_conf``:
    podman's configuration for these runs (CONTAINERS_CONF); ``echo``: each line the step
    prints, prefixed by its template's name; ``timeout``: seconds a step may run;
    ``pod_env``: variables every step's container gets before its own (see the module).
    """

    def __init__(
        self,
        images: ImageMap | None = None,
        mounts: Sequence[Mount] = (),
        containers_conf: Path | None = None,
        echo: Callable[[str], None] | None = None,
        podman: str = "podman",
        timeout: float | None = None,
        pod_env: Mapping[str, str] | None = None,
    ) -> None:
        self.images = images or ImageMap({})
        self.mounts = list(mounts)
        self.containers_conf = containers_conf
        self.echo = echo or (lambda line: None)
        self.podman = podman
        self.timeout = timeout
        self.pod_env = dict(pod_env or {})

    # ------------------------------------------------------------ before any step runs

    def check(self, tasks: list[TaskPlan], where: str) -> None:
        """podman runs, every script step's image is here, its mounts have a meaning here,
        and the host paths to mount exist; WorkflowError naming what is wrong otherwise."""
        if shutil.which(self.podman) is None:
            raise WorkflowError(f"{where}: the container runner needs podman ({self.podman!r})")
        if self.containers_conf is not None and not self.containers_conf.is_file():
            raise WorkflowError(f"{where}: no containers.conf at {self.containers_conf}")
        for mount in self.mounts:
            if not mount.path.is_absolute() or not mount.path.exists():
                raise WorkflowError(f"{where}: cannot mount {mount.path}: no such absolute path")
            _check_readable(mount.path, where)
        checked: set[str] = set()
        for task in tasks:
            spec = task.template.container
            if spec is None:  # a resource template: its workflow's steps are checked then
                continue
            here = f"{where} task {task.name}"
            if spec.foreign_mounts:
                raise WorkflowError(
                    f"{here}: volume mounts {spec.foreign_mounts} are not emptyDir volumes "
                    "(the container runner has only a pod's scratch space)"
                )
            local = self.images.resolve(spec.image)
            if local in checked:
                continue
            found = self._podman(["image", "exists", local], check=False)
            if found.returncode != 0:
                mapped = f" (mapped from {spec.image})" if local != spec.image else ""
                raise WorkflowError(
                    f"{here}: image {local}{mapped} is not in podman's local storage; "
                    "build it (`make images`) or map the template's image to a local one "
                    "(--image-map TEMPLATE_IMAGE=LOCAL_IMAGE); nothing is pulled"
                )
            checked.add(local)

    # ------------------------------------------------------------ one step

    def run(
        self,
        template: TemplatePlan,
        inputs: Mapping[str, str],
        scope: Mapping[str, str],
        config_maps: Mapping[str, Mapping[str, str]],
        where: str,
    ) -> dict[str, str]:
        """Run the step's container to its end; its output parameters by name."""
        spec = template.container
        if spec is None:
            raise WorkflowError(f"{where}: {template.name} is not a script template")
        listed = [{"name": i.name, "value": inputs[i.name]} for i in template.inputs]
        values = {**scope, ALL_INPUTS[2:-2]: json.dumps(listed)}
        command = [substitute(part, values, where) for part in [*spec.command, *spec.args]]
        source = substitute(spec.source, values, where)
        env = step_env(template, scope, config_maps, where)
        with tempfile.TemporaryDirectory(prefix="slipway-step-") as folder:
            staging = Path(folder)
            script = staging / "script"
            script.write_text(source, encoding="utf-8")
            script.chmod(0o644)
            outputs = _output_folders(spec, staging)
            argv = self._argv(template.name, spec, env, script, outputs, command)
            self._run(argv, f"{template.name} | ", where)
            return _read_outputs(spec, outputs, where)

    def _argv(
        self,
        name: str,
        spec: ContainerSpec,
        env: Mapping[str, str],
        script: Path,
        outputs: Mapping[str, Path],
        command: list[str],
    ) -> list[str]:
        container = f"slipway-{name}-{uuid.uuid4().hex[:8]}"
        argv = [
            self.podman, "run", "--rm", "--name", container, "--pull", "never",
            "--runtime", "runc", "--network", "host",
            # Kubernetes runs no image HEALTHCHECK; podman would want systemd for one.
            "--no-healthcheck",
        ]  # fmt: skip
        if spec.user is not None:
            argv += ["--user", f"{spec.user}:{spec.group if spec.group is not None else 0}"]
        if spec.read_only_root:
            # Only the template's own volumes are writable, not podman's default tmpfs set.
            argv += ["--read-only", "--read-only-tmpfs=false"]
        if spec.drop_all_capabilities:
            argv += ["--cap-drop", "all"]
        if spec.no_new_privileges:
            argv += ["--security-opt", "no-new-privileges"]
        if spec.working_dir:
            argv += ["--workdir", spec.working_dir]
        for scratch in spec.scratch:
            size = _bytes(scratch.size) if scratch.size else None
            if scratch.path == "/dev/shm":  # noqa: S108  (the container's own shared memory)
                argv += ["--shm-size", str(size)] if size else []
            else:
                options = "rw,mode=1777" + (f",size={size}" if size else "")
                argv += ["--tmpfs", f"{scratch.path}:{options}"]
        argv += ["--volume", f"{script}:{SCRIPT_PATH}:ro"]
        for inside, host in outputs.items():
            argv += ["--volume", f"{host}:{inside}:rw"]
        for mount in self.mounts:
            argv += ["--volume", f"{mount.path}:{mount.path}:{'ro' if mount.read_only else 'rw'}"]
        for key in self.pod_env:  # the value comes from podman's environment
            argv += ["--env", key]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        return [*argv, self.images.resolve(spec.image), *command, SCRIPT_PATH]

    def _run(self, argv: list[str], prefix: str, where: str) -> None:
        """Start the container, pass its output on line by line, fail on a non-zero exit."""
        name = argv[argv.index("--name") + 1]
        tail: collections.deque[str] = collections.deque(maxlen=_LOG_TAIL)
        expired = threading.Event()

        def expire() -> None:
            # Killing podman's client would leave its container running: removing the
            # container ends the client and its output.
            expired.set()
            self._remove(name)

        timer = threading.Timer(self.timeout, expire) if self.timeout is not None else None
        process = subprocess.Popen(
            argv, env=self._environment(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            if timer is not None:
                timer.start()
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                self.echo(prefix + tail[-1])
            code = process.wait()
        finally:
            if timer is not None:
                timer.cancel()
            if process.poll() is None:  # interrupted: no container is left behind
                self._remove(name)
                process.kill()
                process.wait()
        if expired.is_set():
            raise StepFailed(f"{where}: the container ran past {self.timeout}s and was removed")
        if code != 0:
            raise ContainerExited(
                f"{where}: the container exited with {code}; its last lines:\n" + "\n".join(tail),
                code,
            )

    def _remove(self, name: str) -> None:
        self._podman(["rm", "--force", "--ignore", "--time", "2", name], check=False)

    def _podman(self, args: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.podman, *args], env=self._environment(), capture_output=True, text=True,
            check=check,
        )  # fmt: skip

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ) | self.pod_env
        if self.containers_conf is not None:
            env["CONTAINERS_CONF"] = str(self.containers_conf.resolve())
        return env


def _check_readable(path: Path, where: str) -> None:
    """A step runs as a user of its own (10001), an other to this machine's files: what it
    reads must be readable, and its folders searchable, by others."""
    needed = 0o005 if path.is_dir() else 0o004
    if path.stat().st_mode & needed != needed:
        raise WorkflowError(
            f"{where}: {path} is not readable by a step's user (others need "
            f"{'r-x' if path.is_dir() else 'r--'}; e.g. chmod o+{'rx' if path.is_dir() else 'r'})"
        )


def _output_folders(spec: ContainerSpec, staging: Path) -> dict[str, Path]:
    """A writable host folder for each folder that output files are written to."""
    folders: dict[str, Path] = {}
    for path in spec.outputs.values():
        inside = str(PurePosixPath(path).parent)
        if inside not in folders:
            host = staging / f"outputs-{len(folders)}"
            host.mkdir()
            host.chmod(0o777)  # the step's user is not this process's
            folders[inside] = host
    return folders


def _read_outputs(spec: ContainerSpec, folders: Mapping[str, Path], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, path in spec.outputs.items():
        inside = PurePosixPath(path)
        host = folders[str(inside.parent)] / inside.name
        if not host.is_file():
            raise StepFailed(f"{where}: output {name!r}: the step wrote no {path}")
        values[name] = host.read_text(encoding="utf-8")
    return values


def _bytes(quantity: str) -> int:
    """A Kubernetes quantity (``2Gi``, ``500M``, ``1024``) in bytes."""
    match = _QUANTITY.fullmatch(quantity)
    if match is None:
        raise WorkflowError(f"size {quantity!r} is not a quantity this runner reads")
    return int(match[1]) * _UNITS[match[2]]
