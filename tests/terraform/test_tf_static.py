"""Offline checks of terraform/ that neither tflint nor checkov makes: everything parses,
versions are bounded, README tables are in step, no password leaves in an output, no
credentials, and each environment's tfvars and tfbackend fit the one root. Each checker is
also run on a bad fixture to prove it can fail. (Typed and described variables, described
outputs, module layout, pinned sources and unused declarations are tflint's rules, run by
.github/workflows/terraform.yml.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tf_helpers import (
    ENVS_DIR,
    FIXTURES_DIR,
    MODULE_FILES,
    ROOT_DIR,
    TERRAFORM_DIR,
    WORKFLOW,
    HclError,
    all_tf_files,
    config_dirs,
    credential_problems,
    env_names,
    load_config,
    module_dirs,
    parse_file,
    sensitive_output_problems,
    submodule_dirs,
    tfbackend_problems,
    tfvars_problems,
    unquote,
    version_bound_problems,
)
from tfdocs import readme_problems, write_readme

MODULES = {d.name: d for d in module_dirs()}
ALL_DIRS = {str(d.relative_to(TERRAFORM_DIR)): d for d in config_dirs()}
ROOT = "platform"
BAD_MODULE = FIXTURES_DIR / "modules" / "bad_module"

EXPECTED_MODULES = {
    "network",
    "gpu-cluster",
    "object-storage",
    "secrets",
    "mlflow-db",
    "iam",
    "gitops-bridge",
}


def test_the_modules_the_root_and_the_environments_exist() -> None:
    assert set(MODULES) == EXPECTED_MODULES
    assert [str(d.relative_to(TERRAFORM_DIR)) for d in submodule_dirs()] == [
        "modules/gpu-cluster/modules/node-group"
    ]
    assert ROOT_DIR.is_dir()
    assert env_names() == ["dev", "prod"]
    assert sorted(p.stem for p in ENVS_DIR.glob("*.tfbackend")) == env_names()
    assert sorted(p.name for p in ENVS_DIR.iterdir()) == [
        "dev.tfbackend",
        "dev.tfvars",
        "prod.tfbackend",
        "prod.tfvars",
    ], "envs/ holds values only: the code is terraform/platform"


@pytest.mark.parametrize(
    "path",
    [
        *all_tf_files(),
        *sorted(TERRAFORM_DIR.rglob("*.tfvars")),
        *sorted(TERRAFORM_DIR.rglob("*.tfbackend")),
        *sorted(TERRAFORM_DIR.rglob("*.tftest.hcl")),
    ],
    ids=lambda p: str(p.relative_to(TERRAFORM_DIR)),
)
def test_file_parses(path: Path) -> None:
    assert isinstance(parse_file(path), dict)


def test_unparseable_file_is_reported() -> None:
    broken = FIXTURES_DIR / "bad_syntax" / "broken.tf"
    with pytest.raises(HclError, match=r"broken\.tf"):
        parse_file(broken)


def test_root_calls_every_module() -> None:
    called = {
        Path(str(body["source"]).strip('"')).name for body in load_config(ROOT_DIR).modules.values()
    }
    assert called == EXPECTED_MODULES


@pytest.mark.parametrize("name", sorted(ALL_DIRS))
def test_terraform_and_providers_bounded(name: str) -> None:
    assert version_bound_problems(load_config(ALL_DIRS[name]), root=name == ROOT) == []


@pytest.mark.parametrize("name", sorted(ALL_DIRS))
def test_readme_tables_in_step(name: str) -> None:
    assert readme_problems(ALL_DIRS[name]) == []


@pytest.mark.parametrize("name", sorted(ALL_DIRS))
def test_passwords_never_leave_in_outputs(name: str) -> None:
    assert sensitive_output_problems(load_config(ALL_DIRS[name]), root=name == ROOT) == []


def test_only_the_secrets_module_outputs_a_password_and_it_is_sensitive() -> None:
    config = load_config(MODULES["secrets"])
    assert config.outputs["mlflow_db_password"].get("sensitive") is True
    for name, directory in ALL_DIRS.items():
        outputs = load_config(directory).outputs
        assert not [o for o in outputs if "password" in o and name != "modules/secrets"]


@pytest.mark.parametrize("env", env_names())
def test_tfvars_set_declared_variables_only_and_every_required_one(env: str) -> None:
    assert tfvars_problems(load_config(ROOT_DIR), ENVS_DIR / f"{env}.tfvars") == []


@pytest.mark.parametrize("env", env_names())
def test_tfvars_name_their_environment(env: str) -> None:
    """`environment` names the resources and picks Argo CD's values/<env>/: it must be the
    file's own environment, or dev's values would build prod's names."""
    values = parse_file(ENVS_DIR / f"{env}.tfvars")
    assert unquote(values["environment"]) == env


@pytest.mark.parametrize("env", env_names())
def test_tfbackend_names_its_own_state_and_nothing_shared(env: str) -> None:
    assert tfbackend_problems(ENVS_DIR / f"{env}.tfbackend") == []


def test_every_environment_has_its_own_state() -> None:
    keys = {env: unquote(parse_file(ENVS_DIR / f"{env}.tfbackend")["key"]) for env in env_names()}
    assert len(set(keys.values())) == len(keys), f"state keys collide: {keys}"
    # The keys the environments had before they shared one root: their state stays put.
    assert keys == {
        "dev": "slipway/dev/terraform.tfstate",
        "prod": "slipway/prod/terraform.tfstate",
    }


def test_no_credentials_or_account_ids_in_code_values_or_workflow() -> None:
    paths = [
        *all_tf_files(),
        *TERRAFORM_DIR.rglob("*.tfvars"),
        *TERRAFORM_DIR.rglob("*.tfbackend"),
        *TERRAFORM_DIR.rglob("*.hcl"),
        WORKFLOW,
    ]
    assert credential_problems(paths) == []


################################################################################
# Each checker fails on a bad fixture
################################################################################


def test_unbounded_versions_are_caught() -> None:
    config = load_config(BAD_MODULE)
    assert version_bound_problems(config, root=False) == [
        "bad_module: required_version '>= 1.11.0' has no upper bound"
    ]
    assert version_bound_problems(config, root=True) == [
        "bad_module: required_version '>= 1.11.0' has no upper bound",
        "bad_module: provider aws version '>= 6.0' is not pinned (~> or <)",
    ]


def test_bad_module_fails_sensitive_outputs() -> None:
    config = load_config(BAD_MODULE)
    assert sensitive_output_problems(config, root=False) == [
        "bad_module: output db_password carries a password but is not sensitive"
    ]
    assert "bad_module: root output db_password exposes a password" in sensitive_output_problems(
        config, root=True
    )


def test_stale_readme_is_caught(tmp_path: Path) -> None:
    assert readme_problems(BAD_MODULE)
    module = tmp_path / "network"
    shutil.copytree(MODULES["network"], module)
    assert readme_problems(module) == []
    variables = module / "variables.tf"
    variables.write_text(
        variables.read_text(encoding="utf-8").replace(
            "Name prefix for every resource", "Prefix of the resources"
        ),
        encoding="utf-8",
    )
    assert readme_problems(module), "a changed description must put the README out of step"
    assert write_readme(module) is True
    assert readme_problems(module) == []


def test_missing_readme_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "iam"
    shutil.copytree(MODULES["iam"], module)
    (module / "README.md").unlink()
    assert readme_problems(module) == ["iam: no README.md"]


def test_missing_tfvars_value_is_caught(tmp_path: Path) -> None:
    tfvars = tmp_path / "dev.tfvars"
    lines = (ENVS_DIR / "dev.tfvars").read_text(encoding="utf-8").splitlines()
    tfvars.write_text(
        "\n".join(line for line in lines if not line.startswith("db_multi_az"))
        + '\nnot_a_variable = "x"\n',
        encoding="utf-8",
    )
    assert sorted(tfvars_problems(load_config(ROOT_DIR), tfvars)) == [
        "dev.tfvars: sets undeclared variable not_a_variable",
        "dev.tfvars: variable db_multi_az has no default and is not set",
    ]
    assert tfvars_problems(load_config(ROOT_DIR), tmp_path / "qa.tfvars") == ["qa.tfvars: missing"]


def test_bad_tfbackend_is_caught(tmp_path: Path) -> None:
    backend = tmp_path / "prod.tfbackend"
    backend.write_text(
        'key          = "slipway/dev/terraform.tfstate"\n'
        'bucket       = "my-state-bucket"\n'
        "encrypt      = false\n"
        'profile      = "admin"\n',
        encoding="utf-8",
    )
    assert tfbackend_problems(backend) == [
        "prod.tfbackend: state key 'slipway/dev/terraform.tfstate' does not name the environment",
        "prod.tfbackend: sets bucket (the state bucket is account-specific: pass it with "
        "-backend-config)",
        "prod.tfbackend: sets encrypt (encryption is set in the root's backend.tf, for every "
        "environment)",
        "prod.tfbackend: sets profile (credentials never live in git)",
    ]
    backend.write_text('region = "eu-west-1"\n', encoding="utf-8")
    assert tfbackend_problems(backend) == ["prod.tfbackend: no state key"]
    assert tfbackend_problems(tmp_path / "qa.tfbackend") == ["qa.tfbackend: missing"]


def test_credentials_are_caught(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.tf"
    key_id = "AKIA" + "Q" * 16  # built here so that no key-shaped string is committed
    leaky.write_text(
        'provider "aws" {\n'
        f'  access_key = "{key_id}"\n'
        '  secret_key = "not-a-real-secret"\n'
        "}\n"
        'resource "aws_db_instance" "db" {\n'
        '  password = "hunter2hunter2"\n'
        '  tags     = { owner = "' + "1" * 12 + '" }\n'
        "}\n",
        encoding="utf-8",
    )
    found = {p.split(": ", 1)[1] for p in credential_problems([leaky])}
    assert found == {
        "AWS access key id",
        "provider access_key/secret_key",
        "literal password",
        "AWS account id",
    }


def test_every_module_has_the_standard_files() -> None:
    """terraform-aws-modules' layout, versions.tf and README.md included (tflint's
    standard_module_structure asks for main.tf, variables.tf and outputs.tf only)."""
    for directory in [*module_dirs(), *submodule_dirs()]:
        files = sorted(p.name for p in directory.iterdir() if p.is_file())
        assert files == sorted(MODULE_FILES), directory
    assert set(MODULE_FILES) <= {p.name for p in ROOT_DIR.iterdir()}


@pytest.mark.skipif(
    shutil.which("terraform") is None, reason="terraform not on PATH (CI runs fmt -check)"
)
def test_terraform_fmt() -> None:
    """terraform fmt needs no providers; where the binary exists, hold the code to it."""
    terraform = shutil.which("terraform")
    assert terraform
    proc = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"terraform fmt would change: {proc.stdout}"
