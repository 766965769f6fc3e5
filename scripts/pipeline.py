"""The deploy pipeline against the local AWS: the world it deploys to, buildspec.yml's own
commands, and a report of what happened. scripts/local-run and the pipeline tests use it.

    pipeline.py world                 make a source AMI, a launch template on it and an Auto
                                      Scaling group of 2 on its version 1 (a numbered version,
                                      so that a refresh can be rolled back); print them as JSON. With
                                      REGIONS=R1,R2,...: a base AMI, template and group in
                                      each Region, and deploy-targets.json naming them (in the
                                      work dir; printed as DEPLOY_TARGETS). With
                                      ACCOUNTS=A1,A2,...: the templates and groups are in
                                      each of those workload accounts instead (the build
                                      account keeps the base AMI), each target reached
                                      through the account's role deploy-tools
    pipeline.py run PHASE...          run buildspec.yml's commands of these phases, in one
                                      shell, stopping at the first that fails (as CodeBuild does)
    pipeline.py report                show the group, its instances and the branch's AMIs
    pipeline.py exports               the JSON object on stdin (the world's, or a CodeBuild
                                      project's environmentVariables) as shell export lines
    pipeline.py deploy                run (install with TOOLS_URL,) pre_build, build and post_build, then say what
                                      changed: the AMI baked, the AMIs pruned, the new
                                      launch template version, the refresh's outcome, and
                                      the AMI each instance of the group now runs
                                      and how the baked AMI's verification went. With
                                      VERIFY=fail the check command fails on the new image
                                      (a local AWS control), to show it stopped before the
                                      launch template changes. With ALARM=fire an alarm the
                                      refresh watches goes off in its bake time: the group
                                      is rolled back to the previous image

Its inputs are flags, each of which sets the environment variable the buildspec's commands
read (--help lists them): --endpoint-url (AWS_ENDPOINT_URL, the local AWS), --region,
--regions, --accounts, --asg-name, --group-size, --launch-template-id, --branch, --app,
--deploy-targets, --workdir (PIPELINE_WORKDIR: where the steps run and leave latest_ami_id
and launch_template_version; default the repository), --verify, --verify-command and
--tools-url. The variables work without the flags, as in CodeBuild.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import uuid
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
import yaml
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent


def client(service: str, region: str | None = None, account: str | None = None):
    """A client of the local AWS, in `account` if given (with a key of its own, from the
    local AWS's account-key control), else the caller's."""
    region = region or os.environ.get("AWS_REGION", "us-east-1")
    keys = {}
    if account:
        url = f"{os.environ['AWS_ENDPOINT_URL']}/_local_aws/account-key"
        body = json.dumps({"account": account}).encode()
        key = json.loads(urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST")).read())
        keys = {"aws_access_key_id": key["access_key_id"], "aws_secret_access_key": key["secret_access_key"]}
    return boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=region, **keys)


def accounts() -> list[str]:
    """ACCOUNTS, the workload accounts of a multi-account world (empty: this account only)."""
    return [a.strip() for a in os.environ.get("ACCOUNTS", "").split(",") if a.strip()]


def waves() -> list[int]:
    """WAVES, each target's wave in the targets file's order (empty: one target at a time)."""
    return [int(w) for w in os.environ.get("WAVES", "").split(",") if w.strip()]


def regions() -> list[str]:
    """REGIONS, the Regions of a multi-Region world (empty: one Region, AWS_REGION)."""
    return [r.strip() for r in os.environ.get("REGIONS", "").split(",") if r.strip()]


def world() -> dict:
    """What a team has before its first deploy: a base image, a template, a running group; with
    REGIONS, one of each in every Region and a targets file naming them; with ACCOUNTS, the
    templates and groups in each workload account, reached through its role."""
    home = os.environ.get("AWS_REGION", "us-east-1")
    if not regions() and not accounts():
        return world_in(home)
    source = base_image(home)
    targets = []
    for account in accounts() or [None]:
        for region in regions() or [home]:
            made = world_in(region, account, source if region == home else None)
            target = {"region": region, "launch_template_id": made["LAUNCH_TEMPLATE_ID"], "auto_scaling_group": made["ASG_NAME"]}
            if account:
                target["role_arn"] = f"arn:aws:iam::{account}:role/deploy-tools"
            targets.append(target)
    if waves():
        if len(waves()) != len(targets):
            raise SystemExit(f"WAVES names {len(waves())} waves, but there are {len(targets)} targets")
        for target, wave in zip(targets, waves()):
            target["wave"] = wave
    path = workdir() / "deploy-targets.json"
    path.write_text(json.dumps(targets, indent=2) + "\n")
    return {"SOURCE_AMI": source, "DEPLOY_TARGETS": str(path)}


def base_image(region: str, account: str | None = None) -> str:
    ec2 = client("ec2", region, account)
    image = ec2.register_image(Name="ubuntu-base", Description="the base image Packer builds on", Architecture="x86_64", EnaSupport=True)["ImageId"]
    # With EC2's eventual consistency on (the local AWS's consistency control), a new image is
    # unknown by its ID for a while: a careful client waits until it is known.
    deadline = time.monotonic() + 120
    while True:
        try:
            ec2.describe_images(ImageIds=[image])
            return image
        except ClientError as e:
            if e.response["Error"]["Code"] != "InvalidAMIID.NotFound" or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def world_in(region: str, account: str | None = None, source: str | None = None) -> dict:
    """A template on `source` (else a base image of its own) and a group on it, in `account`
    (else this one). A workload account launches a base image of its own until the first deploy."""
    ec2, asg = client("ec2", region, account), client("autoscaling", region, account)
    group = os.environ.get("ASG_NAME") or "app"
    if source is None or account:
        source = base_image(region, account)
    lt = ec2.create_launch_template(
        LaunchTemplateName=f"{group}-lt",
        # The instance profile lets the SSM agent register, for verify-ami's VERIFY_COMMAND.
        LaunchTemplateData={"ImageId": source, "InstanceType": "t3.micro", "IamInstanceProfile": {"Name": f"{group}-ssm"}},
    )["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(
        AutoScalingGroupName=group,
        MinSize=2,
        MaxSize=4,
        DesiredCapacity=int(os.environ.get("GROUP_SIZE", "2")),
        AvailabilityZones=[f"{region}a"],
        # A numbered version, not $Latest: AWS rolls a refresh back only to a numbered version.
        LaunchTemplate={"LaunchTemplateId": lt, "Version": "1"},
    )
    return {"SOURCE_AMI": source, "LAUNCH_TEMPLATE_ID": lt, "ASG_NAME": group}


def buildspec_commands(spec: dict, phases: list[str]) -> list[str]:
    commands = []
    for phase in phases:
        commands += spec["phases"][phase]["commands"]
    return commands


def run(phases: list[str]) -> int:
    """Runs the commands in one bash, as CodeBuild's buildspec 0.2 does, echoing each, and
    stops at the first that fails."""
    spec = yaml.safe_load((ROOT / "buildspec.yml").read_text())
    env = {**os.environ}
    for key, value in (spec.get("env", {}).get("variables", {}) or {}).items():
        if not env.get(key):
            env[key] = str(value)
    script = ["set -e"]
    for command in buildspec_commands(spec, phases):
        script.append(f"echo {shlex.quote('[buildspec] ' + command)} >&2")
        script.append(command)
    # Paths in the buildspec are relative to the source root, as in CodeBuild; the files the
    # steps hand each other (latest_ami_id, launch_template_version) go to the work dir.
    # CodeBuild names the source directory so; the install phase runs a script from it.
    env["CODEBUILD_SRC_DIR"] = str(ROOT)
    # CodeBuild names each build and the commit it built; Packer tags the AMI with both, and
    # the deploy picks this build's AMI by them. A local run is a build of its own.
    env.setdefault("CODEBUILD_BUILD_ID", f"local-run:{uuid.uuid4()}")
    if not env.get("CODEBUILD_RESOLVED_SOURCE_VERSION"):
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
        env["CODEBUILD_RESOLVED_SOURCE_VERSION"] = head.stdout.strip() if head.returncode == 0 else ""
    for key in ("PACKER_TEMPLATE", "REFRESH_CONFIG"):
        if not os.path.isabs(env[key]):
            env[key] = str(ROOT / env[key])
    return subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir(), env=env).returncode


def workdir() -> Path:
    path = Path(os.environ.get("PIPELINE_WORKDIR") or ROOT)
    path.mkdir(parents=True, exist_ok=True)
    return path


def targets() -> list[dict]:
    """The targets file's entries (DEPLOY_TARGETS), or [] for a single-Region deploy."""
    path = os.environ.get("DEPLOY_TARGETS")
    return json.loads(Path(path).read_text()) if path else []


def report() -> dict:
    """The single-Region report, or with DEPLOY_TARGETS one for each target, in order."""
    if targets():
        return {"regions": [{"region": t["region"], "account": account_of(t), **report_in(t["region"], t["auto_scaling_group"], account_of(t))}
                            for t in targets()]}
    return report_in(None, os.environ["ASG_NAME"])


def account_of(target: dict) -> str | None:
    """The account of a target's role (None: this account)."""
    role = target.get("role_arn")
    return role.split(":")[4] if role else None


def report_in(region: str | None, group: str, account: str | None = None) -> dict:
    """The group, its instances and template in `account` (else this one), and the branch's
    AMIs, which the build account (this one) owns."""
    ec2, asg = client("ec2", region, account), client("autoscaling", region, account)
    owner = client("ec2", region)
    branch = os.environ.get("BRANCH", "main")
    g = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in g["Instances"]]
    instances = []
    if ids:
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]:
            for i in r["Instances"]:
                instances.append({"instance_id": i["InstanceId"], "image_id": i["ImageId"], "state": i["State"]["Name"]})
        names = {im["ImageId"]: im.get("Name") for im in ec2.describe_images(ImageIds=sorted({i["image_id"] for i in instances}), IncludeDisabled=True)["Images"]}
        for i in instances:
            i["image_name"] = names.get(i["image_id"])
    app = os.environ.get("APP", "app")
    images = owner.describe_images(
        Owners=["self"],
        Filters=[{"Name": "tag:branch", "Values": [branch]}, {"Name": "tag:app", "Values": [app]}],
        IncludeDisabled=True,
    )["Images"]
    lt = g["LaunchTemplate"]
    versions = ec2.describe_launch_template_versions(LaunchTemplateId=lt["LaunchTemplateId"])["LaunchTemplateVersions"]
    refreshes = asg.describe_instance_refreshes(AutoScalingGroupName=group, MaxRecords=1)["InstanceRefreshes"]
    return {
        "group": group,
        "group_launch_template_version": lt.get("Version"),
        "instances": sorted(instances, key=lambda i: i["instance_id"]),
        "branch_amis": sorted((i["CreationDate"], i["ImageId"]) for i in images),
        "launch_template_versions": sorted(v["VersionNumber"] for v in versions),
        "default_version": next((v["VersionNumber"] for v in versions if v["DefaultVersion"]), None),
        "last_refresh": refreshes[0]["Status"] if refreshes else None,
        "last_refresh_reason": refreshes[0].get("StatusReason") if refreshes else None,
    }


def verification(ami: str, region: str | None = None, account: str | None = None) -> str:
    """What verify-ami recorded on the AMI (in `account`, where it verified it), in words."""
    if not ami:
        return "none (no AMI picked)"
    images = client("ec2", region, account).describe_images(ImageIds=[ami], IncludeDisabled=True, IncludeDeprecated=True)["Images"]
    tags = {t["Key"]: t["Value"] for t in (images[0].get("Tags", []) if images else [])}
    verdict = tags.get("verification")
    if verdict == "failed":
        return f"FAILED: {tags.get('verification-reason', '')} ({ami})"
    return f"{verdict} ({ami})" if verdict else f"not verified ({ami})"


def failing_verification() -> None:
    """VERIFY=fail: the new image's check command fails (the local AWS's command-outcome control)."""
    if os.environ.get("VERIFY") != "fail":
        return
    command = os.environ.get("VERIFY_COMMAND") or ""
    if not command:
        raise SystemExit("VERIFY=fail needs VERIFY_COMMAND")
    body = {"region": os.environ.get("AWS_REGION", "us-east-1"), "contains": command, "exit_code": 1,
            "stdout": "app.service: inactive (dead)\ncurl: (7) Failed to connect to localhost port 8080: Connection refused\n", "seconds": 0.5}
    for region in [t["region"] for t in targets()] or [body["region"]]:
        request = urllib.request.Request(f"{os.environ['AWS_ENDPOINT_URL']}/_local_aws/command-outcome",
                                         data=json.dumps({**body, "region": region}).encode(), method="POST")
        urllib.request.urlopen(request).read()


ALARM_NAME = "app-errors"


def firing_alarm() -> threading.Thread | None:
    """ALARM=fire: an alarm the refresh watches (REFRESH_ALARMS) goes off during its bake time:
    a CloudWatch alarm made now, set to ALARM once the group's refresh is Baking."""
    if os.environ.get("ALARM") != "fire":
        return None
    cw, asg = client("cloudwatch"), client("autoscaling")
    cw.put_metric_alarm(AlarmName=ALARM_NAME, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=5, ComparisonOperator="GreaterThanOrEqualToThreshold")
    os.environ["REFRESH_ALARMS"] = ALARM_NAME
    os.environ.setdefault("REFRESH_BAKE_TIME", "10m")
    group = os.environ["ASG_NAME"]

    def fire() -> None:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            refreshes = asg.describe_instance_refreshes(AutoScalingGroupName=group, MaxRecords=1)["InstanceRefreshes"]
            if refreshes and refreshes[0]["Status"] == "Baking":
                cw.set_alarm_state(AlarmName=ALARM_NAME, StateValue="ALARM",
                                   StateReason="Threshold Crossed: 37 datapoints were greater than or equal to the threshold (5.0)")
                return
            time.sleep(0.2)

    thread = threading.Thread(target=fire, daemon=True)
    thread.start()
    return thread


def picked(region: str | None = None) -> str:
    path = workdir() / "latest_ami_id"
    if not path.exists():
        return ""
    lines = path.read_text().split()
    if region is None:
        return lines[0] if lines else ""
    pairs = dict(zip(lines[0::2], lines[1::2]))
    return pairs.get(region, "")


def deploy() -> int:
    failing_verification()
    if targets():
        return deploy_regions()
    firing_alarm()
    before = report()
    # With a release package to install (TOOLS_URL), the install phase runs first, as in
    # CodeBuild; without, the tools on PATH are the ones just built.
    phases = (["install"] if os.environ.get("TOOLS_URL") else []) + ["pre_build", "build", "post_build"]
    rc = run(phases)
    after = report()
    old = {ami for _, ami in before["branch_amis"]}
    new = {ami for _, ami in after["branch_amis"]}
    baked = sorted(new - old)
    pruned = sorted(old - new)
    version_file = workdir() / "launch_template_version"
    version = version_file.read_text().strip() if version_file.exists() else "none"
    lines = [
        "",
        f"Deploy of branch {os.environ.get('BRANCH', 'main')} to group {after['group']}: "
        + ("succeeded" if rc == 0 else f"FAILED (exit status {rc})"),
        f"  AMI baked:               {', '.join(baked) or 'none'}",
        f"  AMIs pruned:             {', '.join(pruned) or 'none'}",
        f"  verification:            {verification(picked())}",
        f"  launch template version: {version} (versions kept: {after['launch_template_versions']}, default {after['default_version']})",
        f"  instance refresh:        {after['last_refresh'] or 'none'}"
        + (f" ({after['last_refresh_reason']})" if after["last_refresh"] in ("RollbackSuccessful", "Failed") else ""),
        f"  the group runs:          launch template version {after['group_launch_template_version']}",
        "  instances:",
    ]
    for i in after["instances"]:
        mark = "new AMI" if i["image_id"] in baked else "previous AMI"
        lines.append(f"    {i['instance_id']}  {i['image_id']}  {i['state']}  ({mark})")
    print("\n".join(lines))
    return rc


def deploy_regions() -> int:
    """deploy() across the targets' Regions: what each Region got, and whether every group
    now runs one build."""
    before = report()["regions"]
    phases = (["install"] if os.environ.get("TOOLS_URL") else []) + ["pre_build", "build", "post_build"]
    rc = run(phases)
    after = report()["regions"]
    lines = [
        "",
        f"Deploy of branch {os.environ.get('BRANCH', 'main')} to {len(after)} targets, "
        + (f"in waves {','.join(map(str, waves()))}: " if waves() else "one at a time: ")
        + ("succeeded" if rc == 0 else f"FAILED (exit status {rc})"),
    ]
    builds = set()
    for b, a, t in zip(before, after, targets()):
        old = {ami for _, ami in b["branch_amis"]}
        new = {ami for _, ami in a["branch_amis"]}
        version = a["group_launch_template_version"] or "none"
        lines += [
            f"  {a['region']}" + (f", account {a['account']}" if a["account"] else "") + f": group {a['group']}"
            + (f", wave {t['wave']}" if "wave" in t else ""),
            f"    new AMI:                 {', '.join(sorted(new - old)) or 'none'}",
            f"    AMIs pruned:             {', '.join(sorted(old - new)) or 'none'}",
            f"    verification:            {verification(picked(a['region']), a['region'], a['account'])}",
            f"    launch template version: {version} (versions kept: {a['launch_template_versions']}, default {a['default_version']})",
            f"    instance refresh:        {a['last_refresh'] or 'none'}",
            "    instances:",
        ]
        for i in a["instances"]:
            builds.add(i["image_name"])
            lines.append(f"      {i['instance_id']}  {i['image_id']}  {i['state']}  build {i['image_name']}")
    if len(builds) == 1:
        lines.append(f"  every group runs build {builds.pop()}")
    else:
        lines.append(f"  the groups run {len(builds)} builds: {', '.join(sorted(str(b) for b in builds))}")
    print("\n".join(lines))
    return rc


# Each input: its flag, the environment variable it sets (the buildspec's name, which the steps
# read), and what it is. A flag given wins over the variable already set.
INPUTS = [
    ("--endpoint-url", "AWS_ENDPOINT_URL", "the local AWS (required, flag or variable)"),
    ("--region", "AWS_REGION", "the build's Region (default us-east-1)"),
    ("--regions", "REGIONS", "world: the Regions, comma-separated, to make a template and group in each"),
    ("--waves", "WAVES", "world: each target's wave in the targets file, comma-separated (e.g. 1,2,2)"),
    ("--accounts", "ACCOUNTS", "world: the workload accounts, comma-separated, to make them in"),
    ("--asg-name", "ASG_NAME", "the group (default app)"),
    ("--group-size", "GROUP_SIZE", "world: the group's instances (default 2)"),
    ("--launch-template-id", "LAUNCH_TEMPLATE_ID", "the template the deploy bumps"),
    ("--branch", "BRANCH", "the branch baked and deployed (default main)"),
    ("--app", "APP", "the application's tag (default app)"),
    ("--deploy-targets", "DEPLOY_TARGETS", "the targets file of a deploy to several Regions or accounts"),
    ("--workdir", "PIPELINE_WORKDIR", "where the steps run and leave latest_ami_id (default: the repository)"),
    ("--verify", "VERIFY", "deploy: fail makes the new image's check command fail"),
    ("--verify-command", "VERIFY_COMMAND", "deploy: the check command verify-ami runs"),
    ("--alarm", "ALARM", "deploy: fire makes an alarm the refresh watches go off during its bake time"),
    ("--tools-url", "TOOLS_URL", "deploy: install the tools from this package first (the install phase)"),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Each flag sets the environment variable named beside it, which buildspec.yml's commands read too; "
        "the other buildspec variables (AMIS_TO_KEEP, VERSIONS_TO_KEEP, ...) pass through from the environment.",
    )
    parser.add_argument("what", choices=["world", "run", "report", "deploy", "exports"],
                        help="world, run PHASE..., report, deploy; exports prints the world (world's JSON on stdin) as shell exports")
    parser.add_argument("phases", nargs="*", help="with run: buildspec.yml's phases to run")
    for flag, var, what in INPUTS:
        parser.add_argument(flag, dest=var, metavar=var, help=f"{what} [{var}]")
    args = parser.parse_args()
    for _, var, _ in INPUTS:
        if getattr(args, var) is not None:
            os.environ[var] = getattr(args, var)
    if args.what in ("world", "run", "report", "deploy") and not os.environ.get("AWS_ENDPOINT_URL"):
        parser.error("the local AWS's URL: --endpoint-url or AWS_ENDPOINT_URL")
    if args.phases and args.what != "run":
        parser.error(f"{args.what} takes no phases")
    if args.what == "world":
        print(json.dumps(world()))
    elif args.what == "run":
        return run(args.phases)
    elif args.what == "deploy":
        return deploy()
    elif args.what == "report":
        print(json.dumps(report(), indent=2))
    else:
        # One `export NAME=VALUE` line a field of a JSON object on stdin, quoted for the shell:
        # the world's, or a CodeBuild project's variables ({"environmentVariables": [...]}).
        given = json.load(sys.stdin)
        pairs = {v["name"]: v["value"] for v in given["environmentVariables"]} if "environmentVariables" in given else given
        for name, value in pairs.items():
            print(f"export {name}={shlex.quote(str(value))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
