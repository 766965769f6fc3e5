"""How fast a fresh machine gets the tools: from an empty folder to the tools answering
--version through the buildspec's install phase (scripts/install-tools) with the release
package from the local AWS's S3, beside a build from source (with --from-source: a clean
release build of the multi-call binary into an empty target directory, its wall time and peak
memory). Prints a table; run scripts/package first.

    scripts/bench-install [--runs N] [--from-source]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ROOT, LocalAws  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--from-source", action="store_true", help="also time a clean release build (minutes)")
    args = parser.parse_args()

    archives = sorted((ROOT / "dist").glob("deploy-tools-*-x86_64-linux.tar.gz"))
    if not archives:
        raise SystemExit("bench-install: run scripts/package first (no package in dist/)")
    archive = archives[-1]
    sha = subprocess.run(["sha256sum", str(archive)], capture_output=True, text=True, check=True).stdout.split()[0]
    awscli = subprocess.run([str(ROOT / "scripts/awscli-venv")], capture_output=True, text=True, check=True).stdout.strip()

    aws = LocalAws()
    work = Path(tempfile.mkdtemp(prefix="bench-install-"))
    try:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": aws.url, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench", "AWS_EC2_METADATA_DISABLED": "true",
            "PATH": f"{awscli}:{os.environ['PATH']}",
        }
        subprocess.run(["aws", "s3", "mb", "s3://tools"], env=env, check=True, capture_output=True)
        url = f"s3://tools/{archive.name}"
        subprocess.run(["aws", "s3", "cp", str(archive), url], env=env, check=True, capture_output=True)
        walls = []
        for n in range(args.runs):
            tools_dir = work / f"tools-{n}"
            run_env = {**env, "TOOLS_URL": url, "TOOLS_SHA256": sha, "TOOLS_DIR": str(tools_dir)}
            started = time.monotonic()
            subprocess.run([str(ROOT / "scripts/install-tools")], env=run_env, check=True, capture_output=True)
            walls.append(time.monotonic() - started)
            names = subprocess.run([str(tools_dir / "deploy-tools"), "--list"], capture_output=True, text=True, check=True).stdout.split()
            assert len(list(tools_dir.iterdir())) == 1 + len(names), "the binary and each tool's name"
        rows = [("install the package (S3, checksum, unpack, install, each --version)", f"{statistics.median(walls):.2f}", "-")]
        if args.from_source:
            target = work / "target"
            out = subprocess.run(
                ["/usr/bin/time", "-v", "cargo", "build", "--release", "--locked", "--bin", "deploy-tools"],
                cwd=ROOT, env={**os.environ, "CARGO_TARGET_DIR": str(target)}, capture_output=True, text=True,
            )
            if out.returncode != 0:
                raise SystemExit(out.stderr[-2000:])
            wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", out.stderr).group(1)
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
            rows.append(("build from source (clean release build of deploy-tools)", wall, f"{rss / 1024 / 1024:.1f} GB"))
    finally:
        aws.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"Package: {archive.name}, {archive.stat().st_size / 1024 / 1024:.1f} MB; median of {args.runs} installs\n")
    print("| path | wall | peak memory |")
    print("|---|---|---|")
    for what, wall, mem in rows:
        print(f"| {what} | {wall} | {mem} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
