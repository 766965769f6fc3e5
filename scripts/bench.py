"""Benchmark: the tools' wall time, CPU, peak memory, start-up and AWS calls against the local
AWS, and aws-amicleaner pruning the same number of AMIs side by side.

    scripts/bench [--profile release|dev] [--runs N] [--sizes 50,200,500] [--region-size N] [--no-peer]
                  [--only latest,bump,delete,refresh,rollback,verify,prune,regions,accounts,aws]
                  [--aws-sizes 60,200,500] [--aws-runs N]

The "aws" rows run under AWS's rules: the local AWS answers each call after 40 ms (plus up to
10 ms of jitter) and meters EC2's request-rate buckets (tests/local_aws/local_aws/metering.py),
each tool in a Region of its own with full buckets, at its default settings. Their floor is the
buckets': for each bucket, the calls past its burst over its refill rate, the largest of them.

Prints a Markdown table (the README keeps a copy). Calls are counted by the local AWS itself;
the "minimum" column is the least each job needs (see the README). The local AWS is the floor
for wall time: its measured rate (calls per second, with as many clients at once as prune's
--concurrency in the benchmark) turns the calls a run made into the time the local AWS alone
needed for them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".venv-bench-peer"
# prune's --concurrency here, and the clients at once when the local AWS's rate is measured.
CONCURRENCY = 8


class LocalAws:
    def __init__(self):
        env = {**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/local_aws/server.py"), "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("LOCAL_AWS_READY"), line
        self.url = line.split()[1]

    def control(self, what: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/_local_aws/{what}", data=data, method="POST" if data is not None else "GET")
        return json.loads(urllib.request.urlopen(req).read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def client(url: str, service: str, region: str, keys: dict | None = None):
    """A client of the local AWS; with `keys` (the account-key control's), in that account."""
    key, secret = (keys["access_key_id"], keys["secret_access_key"]) if keys else ("bench", "bench")
    return boto3.client(service, endpoint_url=url, region_name=region, aws_access_key_id=key, aws_secret_access_key=secret)


def workload(ec2, asg, region: str, image: str) -> None:
    """What an account launches from: 5 templates of 4 versions each, a group on each, 3 instances."""
    for t in range(5):
        lt = ec2.create_launch_template(LaunchTemplateName=f"app-{t}", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"})
        lt_id = lt["LaunchTemplate"]["LaunchTemplateId"]
        for _ in range(3):
            ec2.create_launch_template_version(LaunchTemplateId=lt_id, SourceVersion="1", LaunchTemplateData={"ImageId": image})
        asg.create_auto_scaling_group(AutoScalingGroupName=f"web-{t}", MinSize=0, MaxSize=2, DesiredCapacity=0,
                                      AvailabilityZones=[f"{region}a"], LaunchTemplate={"LaunchTemplateId": lt_id, "Version": "2"})
    ec2.run_instances(ImageId=image, MinCount=3, MaxCount=3)


def bake(ec2, instance: str, branch: str, n: int) -> list[str]:
    tags = [{"Key": "branch", "Value": branch}]
    return [
        ec2.create_image(
            InstanceId=instance,
            Name=f"{branch}-{i:04d}",
            TagSpecifications=[{"ResourceType": "image", "Tags": tags}, {"ResourceType": "snapshot", "Tags": tags}],
        )["ImageId"]
        for i in range(n)
    ]


def env_for(url: str, region: str, workdir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    cfg = Path(workdir) / "empty"
    cfg.write_text("")
    env.update(
        AWS_ENDPOINT_URL=url, AWS_REGION=region, AWS_DEFAULT_REGION=region, AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench", AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(cfg),
        AWS_SHARED_CREDENTIALS_FILE=str(cfg),
    )
    return env


def timed(cmd: list[str], env: dict, cwd: str, allow_failure: bool = False) -> dict:
    """Runs under /usr/bin/time: wall, user+sys CPU, peak RSS, exit status (a failure stops the
    benchmark unless `allow_failure`)."""
    started = time.time()
    out = subprocess.run(["/usr/bin/time", "-f", "BENCH %e %U %S %M", *cmd], env=env, cwd=cwd, capture_output=True, text=True)
    line = [l for l in out.stderr.splitlines() if l.startswith("BENCH ")][-1].split()
    if out.returncode != 0 and not allow_failure:
        raise SystemExit(f"{cmd[0]} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    return {"wall": float(line[1]), "cpu": float(line[2]) + float(line[3]), "rss_mb": int(line[4]) / 1024, "started": started,
            "rc": out.returncode}


def bucket_floor(calls: dict, throttled: dict) -> float:
    """The least time EC2's buckets allow for these calls (metering.py's sizes): for each
    bucket, the calls that took a token (not the throttled ones) past its burst over its refill
    rate; the largest of them."""
    sys.path.insert(0, str(ROOT / "tests/local_aws"))
    from local_aws.metering import size_and_refill

    floor = 0.0
    for action, count in calls.items():
        service, _, name = action.partition(":")
        if service == "ec2":
            _, size, refill = size_and_refill(name, False)
            floor = max(floor, (count - throttled.get(action, 0) - size) / refill)
    return floor


def measure_rate(aws: LocalAws, region: str) -> float:
    """Calls per second the local AWS serves for prune's calls, CONCURRENCY clients at once."""
    ec2 = client(aws.url, "ec2", region)
    src = ec2.register_image(Name="rate-base", Architecture="x86_64", EnaSupport=True)["ImageId"]
    inst = ec2.run_instances(ImageId=src, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    amis = bake(ec2, inst, "rate", 200)
    snaps = [ec2.describe_images(ImageIds=[a])["Images"][0]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"] for a in amis]
    clients = [client(aws.url, "ec2", region) for _ in range(CONCURRENCY)]
    work = list(zip(amis, snaps))
    lock = threading.Lock()

    def worker(c):
        while True:
            with lock:
                if not work:
                    return
                ami, snap = work.pop()
            c.deregister_image(ImageId=ami)
            c.delete_snapshot(SnapshotId=snap)

    start = time.time()
    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 400 / (time.time() - start)


class Bench:
    """One benchmark run: the local AWS, the tools, a fresh Region for each world, and the rows measured."""

    def __init__(self, args):
        self.args = args
        self.sizes = [int(s) for s in args.sizes.split(",")]
        self.bins = ROOT / "target" / ("debug" if args.profile == "dev" else args.profile)
        self.aws = LocalAws()
        self.work = tempfile.mkdtemp()
        # Each run gets a fresh world: a Region of its own (moto keeps a world per Region). When
        # the Regions run out, a new local AWS starts.
        self.all_regions = boto3.session.Session().get_available_regions("ec2")
        self.regions = iter([r for r in self.all_regions if r != "us-east-1"])
        self.rows: list[dict] = []
        self.lags: list[float] = []
        self.rollback_lags: list[float] = []
        self.verdicts: list[tuple[float, float]] = []
        self.rates: list[float] = []
        # deploy-tools deploy's waves: (wall, the targets' own times summed, one at a time's wall).
        self.waves: tuple[float, float, float] | None = None

    def stop(self) -> None:
        self.aws.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def fresh_region(self) -> str:
        region = next(self.regions, None)
        if region is None:
            self.aws.stop()
            self.aws = LocalAws()
            self.regions = iter(self.all_regions)
            region = next(self.regions)
        return region

    def fresh_regions(self, n: int) -> list[str]:
        """`n` fresh Regions of one local AWS (a new one starts when the Regions run out)."""
        regions: list[str] = []
        while len(regions) < n:
            server = self.aws
            region = self.fresh_region()
            if self.aws is not server:
                regions = []
            regions.append(region)
        return regions

    def with_floor(self, run) -> dict:
        """The local AWS's pace varies from minute to minute (it is one Python process):
        each prune run's floor comes from its rate measured just before the run."""
        rate = measure_rate(self.aws, self.fresh_region())
        self.rates.append(rate)
        r = run()
        r["floor"] = r["calls"] / rate
        return r

    def fresh_world(self, n: int):
        region = self.fresh_region()
        ec2 = client(self.aws.url, "ec2", region)
        src = ec2.register_image(Name="base", Architecture="x86_64", EnaSupport=True)["ImageId"]
        inst = ec2.run_instances(ImageId=src, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
        amis = bake(ec2, inst, "main", n)
        return region, ec2, amis

    def run_cmd(self, cmd: list[str], region: str, minimum: str) -> dict:
        env = env_for(self.aws.url, region, self.work)
        self.aws.control("calls/reset", {"region": region})
        r = timed(cmd, env, self.work)
        calls = self.aws.control(f"calls?region={region}")
        first = self.aws.control(f"first-call?region={region}")["at"]
        r.update(calls=sum(calls.values()), by_action=calls, minimum=minimum, first_ms=(first - r["started"]) * 1000 if first else None)
        return r

    def run_tool(self, name: str, region: str, argv: list[str], minimum: str) -> dict:
        return self.run_cmd([str(self.bins / name), *argv], region, minimum)

    def summarize(self, label: str, results: list[dict], floor_calls: bool = False) -> None:
        wall = statistics.median(r["wall"] for r in results)
        cpu = statistics.median(r["cpu"] for r in results)
        rss = max(r["rss_mb"] for r in results)
        firsts = [r["first_ms"] for r in results if r["first_ms"] is not None]
        calls = results[0]["calls"]
        row = {
            "what": label, "wall_s": wall, "cpu_s": cpu, "rss_mb": rss,
            "first_request_ms": statistics.median(firsts) if firsts else None,
            "calls": calls, "by_action": results[0]["by_action"], "minimum": results[0]["minimum"],
            "floor_s": statistics.median(r["floor"] for r in results) if floor_calls else None,
            "wall_over_floor": statistics.median(r["wall"] / r["floor"] for r in results) if floor_calls and all(r["floor"] > 0 for r in results) else None,
        }
        self.rows.append(row)
        print(json.dumps(row), file=sys.stderr)

    def branch_left(self, ec2) -> int:
        return len(ec2.describe_images(Owners=["self"], Filters=[{"Name": "tag:branch", "Values": ["main"]}])["Images"])


def row_latest(b: Bench) -> None:
        # latest-ami: one listing of 50 AMIs.
        region, ec2, amis = b.fresh_world(50)
        b.summarize("latest-ami (50 AMIs)", [b.run_tool("latest-ami", region, ["main"], "1 (DescribeImages)") for _ in range(b.args.runs)])

def row_bump(b: Bench) -> None:
        # bump: 10 versions, keep 5.
        results = []
        for _ in range(b.args.runs):
            region, ec2, amis = b.fresh_world(1)
            lt = ec2.create_launch_template(LaunchTemplateName="app", LaunchTemplateData={"ImageId": amis[0], "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
            for _ in range(9):
                ec2.create_launch_template_version(LaunchTemplateId=lt, LaunchTemplateData={"ImageId": amis[0]})
            results.append(b.run_tool("bump-launch-template", region, [lt, amis[0], "5"],
                                    "6 (the AMI, versions, groups, the instance type it must fit, create, 1 delete)"))
        b.summarize("bump-launch-template (10 versions, keep 5)", results)

def row_delete(b: Bench) -> None:
        # delete-ami: one AMI with one snapshot.
        results = []
        for _ in range(b.args.runs):
            region, ec2, amis = b.fresh_world(1)
            results.append(b.run_tool("delete-ami", region, [amis[0]], "8 (describe, 4 in-use lookups, 1 SSM and recipe reference lookup, 1 launch permissions, 1 deregister with its snapshot)"))
        b.summarize("delete-ami (1 snapshot)", results)

def group_of_two(b: Bench, region: str, ec2, ami: str, version: str) -> tuple:
    """A launch template on `ami` and a group "web" of 2 on its `version`: the refresh rows' world."""
    asg = client(b.aws.url, "autoscaling", region)
    lt = ec2.create_launch_template(LaunchTemplateName="app", LaunchTemplateData={"ImageId": ami, "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    asg.create_auto_scaling_group(AutoScalingGroupName="web", MinSize=2, MaxSize=4, DesiredCapacity=2, AvailabilityZones=[f"{region}a"],
                                  LaunchTemplate={"LaunchTemplateId": lt, "Version": version})
    return asg, lt


def row_refresh(b: Bench) -> None:
        # instance-refresh: a group of 2, polled every 0.2 s; how long after the refresh ended
        # (its EndTime at the local AWS) the tool had exited.
        results = []
        for _ in range(b.args.runs):
            region, ec2, amis = b.fresh_world(2)
            asg, lt = group_of_two(b, region, ec2, amis[0], "$Latest")
            cfg = Path(b.work) / "refresh.json"
            cfg.write_text("{}")
            r = b.run_tool("instance-refresh", region, [str(cfg), "web", "--interval", "0.2"], "1 start + 1 describe per poll")
            ended = asg.describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"][0]["EndTime"].timestamp()
            b.lags.append(r["started"] + r["wall"] - ended)
            results.append(r)
        b.summarize("instance-refresh (2 instances, 0.2 s polls)", results)

def row_rollback(b: Bench) -> None:
    # rollback: a refresh of a group of 2 under way, rolled back, polled every 0.2 s; how long
    # after AWS reported the rollback done (the refresh's EndTime) the tool had exited.
    results = []
    for _ in range(b.args.runs):
        region, ec2, amis = b.fresh_world(2)
        asg, lt = group_of_two(b, region, ec2, amis[0], "1")
        ec2.create_launch_template_version(LaunchTemplateId=lt, SourceVersion="1", LaunchTemplateData={"ImageId": amis[1]})
        asg.start_instance_refresh(AutoScalingGroupName="web", DesiredConfiguration={"LaunchTemplate": {"LaunchTemplateId": lt, "Version": "2"}})
        r = b.run_tool("rollback", region, [lt, "web", "--interval", "0.2"], "1 describe of the refreshes + 1 rollback + 1 describe per poll")
        ended = asg.describe_instance_refreshes(AutoScalingGroupName="web")["InstanceRefreshes"][0]["EndTime"].timestamp()
        b.rollback_lags.append(r["started"] + r["wall"] - ended)
        results.append(r)
    b.summarize("rollback (a refresh of 2 instances under way, 0.2 s polls)", results)


def row_verify(b: Bench) -> None:
        # verify-ami: one instance, status checks only; how long after the status checks turned
        # ok (at the local AWS, 2 s after the launch) the tool had exited with its verdict. The
        # interval changes from run to run (0.6-1 s), so the looks fall at other moments of
        # the wait: what is measured is the delay against the interval, not one lucky phase.
        results, verdicts = [], []
        for i in range(b.args.runs):
            interval = [1.0, 0.9, 0.8, 0.7, 0.6][i % 5]
            region, ec2, amis = b.fresh_world(1)
            lt = ec2.create_launch_template(LaunchTemplateName="app", LaunchTemplateData={"ImageId": amis[0], "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
            before = set(b.aws.control(f"status-ok-at?region={region}"))
            r = b.run_tool("verify-ami", region, [lt, amis[0], "--interval", str(interval)],
                         "6 (the AMI, the template version, leftovers, launch, terminate, the verdict's tags) + 1 DescribeInstanceStatus a look")
            ok_at = [t for i, t in b.aws.control(f"status-ok-at?region={region}").items() if i not in before]
            assert len(ok_at) == 1, ok_at
            b.verdicts.append((r["started"] + r["wall"] - ok_at[0], interval))
            results.append(r)
        b.summarize("verify-ami (1 instance, status checks, 0.6-1 s looks)", results)

def row_prune(b: Bench) -> None:
        # prune at each size; at the largest, aws-amicleaner too, run for run beside it.

        def prune_run(n: int, include_shared: bool = False) -> dict:
            region, ec2, amis = b.fresh_world(n + 1)
            refs = -(-n // 10)
            perms = 0 if include_shared else n
            minimum = (f"{1 + 4 + refs + perms + n} (list, 4 in-use lookups, {refs} SSM and recipe reference lookups (10 AMIs each), "
                       + (f"{perms} launch permissions, " if perms else "")
                       + f"{n} deregisters with their snapshots)")
            argv = ["main", "1", "--rate", "100000", "--concurrency", str(CONCURRENCY)] + (["--include-shared"] if include_shared else [])
            r = b.run_tool("prune-amis", region, argv, minimum)
            assert b.branch_left(ec2) == 1, f"prune left {b.branch_left(ec2)} AMIs"
            return r

        def peer_run(n: int) -> dict:
            region, ec2, amis = b.fresh_world(n + 1)
            cmd = [str(PEER_VENV / "bin/amicleaner"), "--mapping-key", "tags", "--mapping-values", "branch", "--keep-previous", "1", "-f"]
            r = b.run_cmd(cmd, region, "")
            # The table gives the peer's first request no column.
            r.update(first_ms=None, left=b.branch_left(ec2))
            return r

        for n in b.sizes:
            with_peer = not b.args.no_peer and n == max(b.sizes)
            results, peer = [], []
            for _ in range(b.args.runs):
                results.append(b.with_floor(lambda: prune_run(n)))
                if with_peer:
                    peer.append(b.with_floor(lambda: peer_run(n)))
            b.summarize(f"prune-amis, {n} AMIs", results, floor_calls=True)
            if n == max(b.sizes):
                shared = [b.with_floor(lambda: prune_run(n, include_shared=True)) for _ in range(b.args.runs)]
                b.summarize(f"prune-amis --include-shared, {n} AMIs", shared, floor_calls=True)
            if with_peer:
                b.summarize(f"aws-amicleaner 0.2.2, {n} AMIs (left {peer[0]['left']})", peer, floor_calls=True)

def row_regions(b: Bench) -> None:
        # Three Regions: one prune-amis --regions against three single-Region prunes run one
        # after another, each over the same worlds (n AMIs to delete in each Region). Twice:
        # paced as EC2 meters each Region (the tools' default: DeregisterImage 5/s after a burst
        # of 100), which is what a real account sees; and unpaced, where the local AWS (one
        # process for all Regions) is the limit.
        n = b.args.region_size

        def three_worlds() -> list[tuple[str, object]]:
            worlds = [b.fresh_world(n + 1) for _ in range(3)]
            return [(region, ec2) for region, ec2, _ in worlds]

        def calls_in(regions: list[str]) -> tuple[int, dict]:
            total: dict = {}
            for region in regions:
                for action, count in b.aws.control(f"calls?region={region}").items():
                    total[action] = total.get(action, 0) + count
            return sum(total.values()), total

        per_region = 1 + 4 + -(-n // 10) + 2 * n
        for paced, argv in ((True, ["main", "1", "--concurrency", str(CONCURRENCY)]),
                            (False, ["main", "1", "--rate", "100000", "--concurrency", str(CONCURRENCY)])):
            how = "EC2's pace" if paced else "unpaced"
            together, apart = [], []
            for _ in range(b.args.runs):
                worlds = three_worlds()
                regions_ = [r for r, _ in worlds]
                for r in regions_:
                    b.aws.control("calls/reset", {"region": r})
                r = timed([str(b.bins / "prune-amis"), "--regions", ",".join(regions_), *argv], env_for(b.aws.url, regions_[0], b.work), b.work)
                r["calls"], r["by_action"] = calls_in(regions_)
                assert all(b.branch_left(ec2) == 1 for _, ec2 in worlds), "a Region was not pruned"
                r.update(minimum=f"{3 * per_region + 1} (three Regions' prunes and 1 DescribeRegions)", first_ms=None)
                together.append(r)

                worlds = three_worlds()
                each = [b.run_tool("prune-amis", region, argv, "") for region, _ in worlds]
                assert all(b.branch_left(ec2) == 1 for _, ec2 in worlds), "a Region was not pruned"
                apart.append({
                    "wall": sum(e["wall"] for e in each), "cpu": sum(e["cpu"] for e in each), "rss_mb": max(e["rss_mb"] for e in each),
                    "calls": sum(e["calls"] for e in each), "by_action": {}, "minimum": f"{3 * per_region}", "first_ms": None,
                })
            b.summarize(f"prune-amis --regions, 3 Regions x {n} AMIs, {how}", together)
            b.summarize(f"3 x prune-amis one after another, {n} AMIs each, {how}", apart)

def row_accounts(b: Bench) -> None:
        # prune-amis --targets over three workload accounts against a prune of one account:
        # the same AMIs to delete (50, shared with the three), the same world in each
        # account looked at (templates, versions, groups, instances). The lookups in the
        # three accounts (through their roles) run at once.
        n = 50
        accounts = ["222233334444", "333344445555", "444455556666"]
        keys = {a: b.aws.control("account-key", {"account": a}) for a in accounts}
        one, three = [], []
        for _ in range(b.args.runs):
            region, ec2, amis = b.fresh_world(n + 1)
            workload(ec2, client(b.aws.url, "autoscaling", region), region, amis[-1])
            lookups = 1 + 4 + 5 + -(-n // 10)
            one.append(b.with_floor(lambda: b.run_tool("prune-amis", region, ["main", "1", "--rate", "100000", "--concurrency", str(CONCURRENCY)],
                                                 f"{lookups + 2 * n} (list, 4 in-use lookups and 5 templates' versions, "
                                                 f"{-(-n // 10)} reference lookups, {n} launch permissions, {n} deregisters)")))
            region, ec2, amis = b.fresh_world(n + 1)
            workload(ec2, client(b.aws.url, "autoscaling", region), region, amis[-1])
            targets = []
            for a in accounts:
                for ami in amis:
                    ec2.modify_image_attribute(ImageId=ami, LaunchPermission={"Add": [{"UserId": a}]})
                there = client(b.aws.url, "ec2", region, keys[a])
                workload(there, client(b.aws.url, "autoscaling", region, keys[a]), region, amis[-1])
                lt = there.describe_launch_templates()["LaunchTemplates"][0]["LaunchTemplateId"]
                targets.append({"region": region, "launch_template_id": lt, "auto_scaling_group": "web-0",
                                "role_arn": f"arn:aws:iam::{a}:role/deploy-tools"})
            path = Path(b.work) / "targets.json"
            path.write_text(json.dumps(targets))
            argv = ["main", "1", "--targets", str(path), "--rate", "100000", "--concurrency", str(CONCURRENCY)]
            three.append(b.with_floor(lambda: b.run_tool("prune-amis", region, argv,
                                                     f"{lookups + 2 * n + 3 * lookups} (as in one account, and in each of 3: "
                                                     "1 AssumeRole, its in-use lookups and reference lookups)")))
            assert b.branch_left(ec2) == 1, f"prune --targets left {b.branch_left(ec2)} AMIs"
        b.summarize(f"prune-amis, {n} AMIs, one account looked at", one, floor_calls=True)
        b.summarize(f"prune-amis --targets, {n} AMIs shared with 3 accounts, 4 accounts looked at", three, floor_calls=True)

def row_aws(b: Bench) -> None:
        # Under AWS's rules: 40 ms a call (+ up to 10 ms), EC2's buckets. prune-amis at its
        # defaults and aws-amicleaner, each on its own AMIs in a Region of its own.
        runs = b.args.aws_runs
        latency, jitter = 40.0, 10.0

        def metered(region: str, cmd: list[str], minimum: str, allow_failure: bool = False) -> dict:
            b.aws.control("metering", {"region": region, "latency_ms": latency, "jitter_ms": jitter, "buckets": True})
            b.aws.control("calls/reset", {"region": region})
            r = timed(cmd, env_for(b.aws.url, region, b.work), b.work, allow_failure)
            calls = b.aws.control(f"calls?region={region}")
            throttled = b.aws.control(f"throttled?region={region}")
            b.aws.control("metering", {"region": region})
            r.update(calls=sum(calls.values()), by_action=calls, minimum=minimum, first_ms=None,
                     floor=bucket_floor(calls, throttled), throttled=sum(throttled.values()))
            return r

        for n in [int(x) for x in b.args.aws_sizes.split(",")]:
            ours, theirs = [], []
            for _ in range(runs):
                region, ec2, amis = b.fresh_world(n + 1)
                refs = -(-n // 10)
                ours.append(metered(region, [str(b.bins / "prune-amis"), "main", "1"],
                                    f"{1 + 4 + refs + 2 * n} (list, 4 in-use lookups, {refs} reference lookups, {n} launch permissions, {n} deregisters)"))
                assert b.branch_left(ec2) == 1, f"prune left {b.branch_left(ec2)} AMIs"
                if not b.args.no_peer:
                    region, ec2, amis = b.fresh_world(n + 1)
                    cmd = [str(PEER_VENV / "bin/amicleaner"), "--mapping-key", "tags", "--mapping-values", "branch", "--keep-previous", "1", "-f"]
                    r = metered(region, cmd, "", allow_failure=True)
                    r["left"] = b.branch_left(ec2)
                    theirs.append(r)
            b.summarize(f"AWS's rules: prune-amis, {n} AMIs", ours, floor_calls=True)
            b.rows[-1]["throttled"] = statistics.median(r["throttled"] for r in ours)
            if theirs:
                rcs = sorted({r["rc"] for r in theirs})
                b.summarize(f"AWS's rules: aws-amicleaner 0.2.2, {n} AMIs (exit {','.join(map(str, rcs))}, left {theirs[0]['left']})", theirs, floor_calls=True)
                b.rows[-1]["throttled"] = statistics.median(r["throttled"] for r in theirs)

        # A prune of one AMI, the pipeline's common case, in round trips at 100 ms a call, in
        # an account with templates, groups and instances (the groups' templates' versions
        # are a second round of lookups).
        results = []
        for _ in range(runs):
            region, ec2, amis = b.fresh_world(2)
            workload(ec2, client(b.aws.url, "autoscaling", region), region, amis[-1])
            b.aws.control("metering", {"region": region, "latency_ms": 100.0, "jitter_ms": 0, "buckets": True})
            b.aws.control("calls/reset", {"region": region})
            r = b.run_tool("prune-amis", region, ["main", "1"], "13 (list, 4 in-use lookups and 5 templates' versions, 1 reference lookup, 1 launch permissions, 1 deregister)")
            r["rounds"] = b.aws.control(f"rounds?region={region}")["rounds"]
            b.aws.control("metering", {"region": region})
            results.append(r)
        b.summarize("AWS's rules: prune-amis, 1 AMI to delete, 100 ms a call", results)
        b.rows[-1]["rounds"] = statistics.median(r["rounds"] for r in results)


def row_waves(b: Bench) -> None:
    # deploy-tools deploy: 1 + 4 targets (a Region each, a group of 2) in two waves, against the
    # same deploy one target at a time (no waves); the targets' own times summed beside them.
    def five_worlds() -> list[tuple[str, str]]:
        worlds = []
        for region in b.fresh_regions(5):
            ec2 = client(b.aws.url, "ec2", region)
            src = ec2.register_image(Name="base", Architecture="x86_64", EnaSupport=True)["ImageId"]
            inst = ec2.run_instances(ImageId=src, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
            tags = [{"Key": k, "Value": v} for k, v in (("branch", "main"), ("app", "app"), ("build", "b2"), ("timestamp", "1"))]
            ec2.create_image(InstanceId=inst, Name="main-b2", TagSpecifications=[{"ResourceType": "image", "Tags": tags}])
            _, lt = group_of_two(b, region, ec2, src, "1")
            worlds.append((region, lt))
        return worlds

    def deploy(waves: bool) -> dict:
        worlds = five_worlds()
        targets = [{"region": r, "launch_template_id": lt, "auto_scaling_group": "web", **({"wave": 1 + (i > 0)} if waves else {})}
                   for i, (r, lt) in enumerate(worlds)]
        path = Path(b.work) / "targets.json"
        path.write_text(json.dumps(targets))
        (Path(b.work) / "refresh.json").write_text("{}")
        env = env_for(b.aws.url, worlds[0][0], b.work)
        env.update(APP="app", BRANCH="main", CODEBUILD_BUILD_ID="b2", AMIS_TO_KEEP="5", VERSIONS_TO_KEEP="3",
                   REFRESH_CONFIG=str(Path(b.work) / "refresh.json"), VERIFY_INTERVAL="0.2", REFRESH_INTERVAL="0.2")
        for r, _ in worlds:
            b.aws.control("calls/reset", {"region": r})
        out = Path(b.work) / "deploy.json"
        r = timed(["sh", "-c", f'exec "$0" deploy -o json "$1" > "{out}"', str(b.bins / "deploy-tools"), str(path)], env, b.work)
        report = json.loads(out.read_text())
        assert report["outcome"] == "succeeded", report
        calls: dict = {}
        for region, _ in worlds:
            for action, count in b.aws.control(f"calls?region={region}").items():
                calls[action] = calls.get(action, 0) + count
        own = sum(t["seconds"]["total"] for w in report["waves"] for t in w["targets"])
        r.update(calls=sum(calls.values()), by_action=calls, first_ms=None, own=own,
                 minimum="per target: its checks + verify + bump + refresh, + 1 prune and 1 pick a Region")
        return r

    waved = [deploy(True) for _ in range(b.args.runs)]
    apart = [deploy(False) for _ in range(b.args.runs)]
    b.summarize("deploy-tools deploy, 1 + 4 targets in two waves", waved)
    b.summarize("deploy-tools deploy, 5 targets one at a time", apart)
    b.waves = (statistics.median(r["wall"] for r in waved), statistics.median(r["own"] for r in waved),
               statistics.median(r["wall"] for r in apart))


# The rows, in the order they run; --only picks among them.
ROWS = {"latest": row_latest, "bump": row_bump, "delete": row_delete, "refresh": row_refresh, "rollback": row_rollback, "verify": row_verify, "prune": row_prune, "regions": row_regions, "accounts": row_accounts, "waves": row_waves, "aws": row_aws}


def print_report(b: Bench) -> None:
    """The Markdown tables and the comparisons, from the rows measured."""

    measured = f"local AWS measured at {min(b.rates):.0f}-{max(b.rates):.0f} calls/s ({CONCURRENCY} clients), just before each prune run" if b.rates else "no prune run"
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
          f"profile {b.args.profile}; median of {b.args.runs} runs; {measured}\n")
    print("| run | wall (s) | tool CPU (s) | peak RSS (MB) | first request (ms) | AWS calls | minimum | local AWS floor (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in [r for r in b.rows if not r["what"].startswith("AWS's rules: ")]:
        first = f"{r['first_request_ms']:.1f}" if r["first_request_ms"] is not None else "-"
        floor = f"{r['floor_s']:.2f}" if r["floor_s"] is not None else "-"
        print(f"| {r['what']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['rss_mb']:.1f} | {first} | {r['calls']} | {r['minimum']} | {floor} |")
    under_aws = [r for r in b.rows if r["what"].startswith("AWS's rules: ")]
    if under_aws:
        print(f"\nUnder AWS's rules ({40} ms a call plus up to 10 ms, EC2's buckets; each tool at its defaults, in a Region of its own):\n")
        print("| run | wall (s) | tool CPU (s) | AWS calls | throttled | bucket floor (s) | over the floor |")
        print("|---|---|---|---|---|---|---|")
        for r in under_aws:
            what = r["what"].removeprefix("AWS's rules: ")
            if "rounds" in r:
                what += f" ({r['rounds']:.0f} round trips)"
            floor = r["floor_s"] or 0.0
            over = f"{(r['wall_s'] - floor):+.2f} s ({(r['wall_s'] / floor - 1) * 100:+.0f}%)" if floor else "inside the burst"
            throttled = f"{r['throttled']:.0f}" if "throttled" in r else "-"
            print(f"| {what} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['calls']} | {throttled} | {floor:.2f} | {over} |")
        sizes_ = sorted({int(r["what"].split(", ")[1].split()[0]) for r in under_aws if "amicleaner" in r["what"]})
        for n in sizes_:
            ours = next(r for r in under_aws if r["what"] == f"AWS's rules: prune-amis, {n} AMIs")
            theirs = next(r for r in under_aws if r["what"].startswith(f"AWS's rules: aws-amicleaner 0.2.2, {n} AMIs"))
            print(f"\nAt {n} AMIs under AWS's rules: prune-amis {ours['wall_s']:.2f} s, aws-amicleaner {theirs['wall_s']:.2f} s "
                  f"({theirs['wall_s'] / ours['wall_s']:.2f}x; {theirs['what'].split('(')[-1].rstrip(')')}); "
                  f"throttled {ours['throttled']:.0f} against {theirs['throttled']:.0f}")
    rows = [r for r in b.rows if r not in under_aws]
    if b.waves:
        wall, own, apart = b.waves
        print(f"\nWaves: 1 + 4 targets in two waves took {wall:.1f} s; the targets' own times sum to {own:.1f} s; "
              f"the same deploy one target at a time took {apart:.1f} s ({apart / wall:.2f}x)")
    for how in ("EC2's pace", "unpaced"):
        one = next((r for r in b.rows if r["what"].startswith("prune-amis --regions") and r["what"].endswith(how)), None)
        seq = next((r for r in b.rows if r["what"].startswith("3 x prune-amis") and r["what"].endswith(how)), None)
        if one and seq:
            print(f"\nprune-amis --regions over 3 Regions, {how}: {one['wall_s']:.2f} s; three single-Region prunes one after another: "
                  f"{seq['wall_s']:.2f} s ({seq['wall_s'] / one['wall_s']:.1f}x as long); {one['calls']} calls against {seq['calls']}")
    single = next((r for r in b.rows if r["what"].startswith("prune-amis, ") and "one account" in r["what"]), None)
    across = next((r for r in b.rows if r["what"].startswith("prune-amis --targets")), None)
    if single and across:
        print(f"\nprune-amis --targets looking in 3 more accounts: {across['wall_s']:.2f} s; in this account only: {single['wall_s']:.2f} s "
              f"({across['wall_s'] / single['wall_s']:.2f}x); {across['calls']} calls against {single['calls']}")
    if b.rollback_lags:
        print(f"\nrollback exited {statistics.median(b.rollback_lags):.2f} s (median) after AWS reported the rollback done, polling every 0.2 s")
    if b.lags:
        print(f"\ninstance-refresh exited {statistics.median(b.lags):.2f} s (median) after the refresh ended, polling every 0.2 s")
    if b.verdicts:
        lag = statistics.median(d for d, _ in b.verdicts)
        worst = max(d / i for d, i in b.verdicts)
        print(f"\nverify-ami exited {lag:.2f} s (median) after the status checks turned ok, looking every 0.6-1 s; "
              f"at most {worst:.2f} of its interval after")
    prunes = [r for r in b.rows if r["what"].startswith("prune-amis") and str(max(b.sizes)) in r["what"]]
    peers = [r for r in b.rows if r["what"].startswith("aws-amicleaner")]
    if prunes and peers:
        theirs = peers[0]
        # aws-amicleaner reads no launch permissions: the like-for-like row is --include-shared.
        for ours in prunes:
            label = "prune-amis --include-shared" if "--include-shared" in ours["what"] else "prune-amis (reading launch permissions)"
            print(f"\n{label} vs aws-amicleaner at {max(b.sizes)} AMIs: wall {theirs['wall_s'] / ours['wall_s']:.1f}x faster, "
                  f"CPU {theirs['cpu_s'] / max(ours['cpu_s'], 0.01):.1f}x less, memory {theirs['rss_mb'] / ours['rss_mb']:.1f}x less, "
                  f"{ours['calls']} calls against {theirs['calls']}; prune wall / local AWS floor = {ours['wall_over_floor']:.2f} (median of the runs' ratios)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="release")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="50,200,500")
    parser.add_argument("--region-size", type=int, default=150, help="AMIs to prune in each of 3 Regions")
    parser.add_argument("--no-peer", action="store_true", help="skip aws-amicleaner")
    parser.add_argument("--only", default="latest,bump,delete,refresh,rollback,verify,prune,regions,accounts,waves,aws", help="the rows to run (comma-separated)")
    parser.add_argument("--aws-sizes", default="60,200,500", help="AMIs to prune in the rows under AWS's rules")
    parser.add_argument("--aws-runs", type=int, default=1, help="runs of each row under AWS's rules (each takes minutes, its time set by the buckets)")
    args = parser.parse_args()
    only = set(args.only.split(","))
    unknown = only - set(ROWS)
    if unknown:
        parser.error(f"--only: no row {sorted(unknown)}; the rows are {','.join(ROWS)}")
    bins = ROOT / "target" / ("debug" if args.profile == "dev" else args.profile)

    listed = subprocess.run([str(bins / "deploy-tools"), "--list"], capture_output=True, text=True) if (bins / "deploy-tools").exists() else None
    tools = listed.stdout.split() if listed and listed.returncode == 0 else ["deploy-tools"]
    missing = [t for t in tools if not (bins / t).exists()]
    if missing:
        raise SystemExit(f"bench: build first: cargo build {'--release ' if args.profile == 'release' else ''}--workspace --bins (missing {missing})")
    if not args.no_peer and not (PEER_VENV / "bin/amicleaner").exists():
        print("bench: installing aws-amicleaner==0.2.2 into .venv-bench-peer ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin/pip"), "install", "-q", "aws-amicleaner==0.2.2"], check=True)

    b = Bench(args)
    try:
        for name, row in ROWS.items():
            if name in only:
                row(b)
    finally:
        b.stop()
    print_report(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
