#!/usr/bin/env bash
# Print config/samples (or the file/dir given) with the example subnet and security group
# IDs replaced by the sandbox's default-VPC ones, so the tutorial runs against moto.
#   hack/render-samples.sh [PATH]     (needs the sandbox env: AWS_ENDPOINT_URL etc.)
set -euo pipefail
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK_DIR/.." && pwd)
path=${1:-$ROOT/config/samples}
py=$("$HACK_DIR/tools.sh" path moto-python)
read -r subnet_a subnet_b sg < <("$py" - <<'PY'
import boto3
ec2 = boto3.client("ec2")
subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]}])["Subnets"], key=lambda s: s["AvailabilityZone"])
sg = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]["GroupId"]
print(subnets[0]["SubnetId"], subnets[1]["SubnetId"], sg)
PY
)
files=()
if [[ -d $path ]]; then
  for f in "$path"/*.yaml; do [[ $(basename "$f") == kustomization.yaml ]] || files+=("$f"); done
else
  files=("$path")
fi
for f in "${files[@]}"; do
  echo "---"
  sed -e "s/subnet-0123456789abcdef0/$subnet_a/g" \
      -e "s/subnet-0fedcba9876543210/$subnet_b/g" \
      -e "s/sg-0123456789abcdef0/$sg/g" "$f"
done
