#!/usr/bin/env bash
# Validates template.yaml (part of `make test`):
#   1. cfn-lint (from the project venv, scripts/ensure-venv.sh);
#   2. `sam validate --lint` (aws-sam-cli in its own venv .venv-sam: it pins an older boto3 than moto);
#   3. the template as AWS sees it: translated by samtranslator (what `sam validate` and CloudFormation's
#      SAM transform use) and checked resource by resource (scripts/check-template-translated.py: invoke
#      permissions, async failure destinations, alarm actions, table protection, logs, concurrency, secret
#      names, the KMS key, operator roles, the edge, throttles, tags);
#   4. checkov (policy as code; pinned, in its own venv .venv-checkov: its dependencies pin versions that
#      clash with moto's and cfn-lint's); project-wide skips with reasons in .checkov.yaml, per-resource ones
#      in the resource's Metadata.checkov.skip with a comment;
#   5. the workspace against the template: every crate under functions/ has its function resource, every
#      route and authorizer points at a function (cargo test -p local-stack --test template_consistency).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

venv="$(scripts/ensure-venv.sh)"
echo "check-template: cfn-lint" >&2
"$venv/bin/cfn-lint" template.yaml

sam_venv="$root/.venv-sam"
pip_venv "$sam_venv" .installed-v1 "check-template: installing aws-sam-cli into .venv-sam (about a minute, once)" \
  "aws-sam-cli==1.170.0"
echo "check-template: sam validate --lint" >&2
SAM_CLI_TELEMETRY=0 AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}" \
  "$sam_venv/bin/sam" validate --lint --template template.yaml

echo "check-template: translated template (samtranslator) against the deploy checks" >&2
AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}" "$sam_venv/bin/python" scripts/check-template-translated.py template.yaml

checkov_venv="$root/.venv-checkov"
pip_venv "$checkov_venv" .installed-v1 "check-template: installing checkov into .venv-checkov (a minute or two, once)" \
  "checkov==3.3.30"
echo "check-template: checkov" >&2
"$checkov_venv/bin/checkov" --config-file .checkov.yaml -f template.yaml

echo "check-template: workspace against template" >&2
cargo test -p local-stack --test template_consistency
