# tflint configuration for terraform/ (run by .github/workflows/terraform.yml):
#   tflint --init --config "$PWD/terraform/.tflint.hcl"
#   tflint --chdir terraform --recursive --config "$PWD/terraform/.tflint.hcl"
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}

plugin "aws" {
  enabled = true
  version = "0.48.0"
  source  = "github.com/terraform-linters/tflint-ruleset-aws"
}

rule "terraform_documented_variables" {
  enabled = true
}

rule "terraform_documented_outputs" {
  enabled = true
}

rule "terraform_typed_variables" {
  enabled = true
}

rule "terraform_standard_module_structure" {
  enabled = true
}

rule "terraform_naming_convention" {
  enabled = true
}

# Registry modules at an exact version (the offline tests used to check this; tflint does now).
rule "terraform_module_version" {
  enabled = true
  exact   = true
}
