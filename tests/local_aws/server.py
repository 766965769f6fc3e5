"""Runs the local AWS (moto, extended by the local_aws package) on a loopback port.

    python server.py [--port N]

Port 0 (the default) lets the system pick a free port. Once it is listening, the server prints
one line on stdout, ``LOCAL_AWS_READY http://127.0.0.1:PORT``, and serves until it gets
SIGTERM or SIGINT, or (with --exit-on-stdin-eof) until its stdin closes, so that a test
runner that dies takes it along.

It serves HTTP/1.1 with keep-alive, as AWS's endpoints do: a client reuses its connections
from call to call. (moto's own server, werkzeug's development server, closes the connection
after every reply, so every call would pay for a new TCP connection, which no AWS client pays.)
waitress serves it: requests are handled by a pool of threads, idle connections by its event
loop.

Besides AWS's API it answers a few test controls, as JSON, under /_local_aws/:

    GET  /_local_aws/health          {"ok": true}
    GET  /_local_aws/calls[?region=R][&account=A] {"ec2:DescribeImages": 3, ...} since start or reset
    POST /_local_aws/calls/reset     {"region": R} (or {} for all)
    GET  /_local_aws/authorized[?region=R] {"ssm:GetParameters": 1, ...}: other services'
                                      permissions calls used on the caller's behalf
    GET  /_local_aws/first-call?region=R  {"at": UNIX_TIME} of the first call since reset
    POST /_local_aws/refresh-fault   {"group": NAME, "fail_after": N | "cancel_after": N,
                                      "reason": TEXT, "region": R}: the group's next
                                      instance refresh fails (or is cancelled) after N
                                      instances were replaced
    POST /_local_aws/image-age       {"region": R, "image_id": ID, "days": N}: the image's
                                      CreationDate becomes N days ago
    POST /_local_aws/image-state     {"region": R, "image_id": ID, "state": "pending"}: the
                                      image is in that state until set "available" again
    POST /_local_aws/old-deregister  {"region": R, "on": true}: DeregisterImage ignores
                                      DeleteAssociatedSnapshots there, as an older endpoint
    GET  /_local_aws/status-ok-at?region=R  {INSTANCE_ID: UNIX_TIME}: when each instance's
                                      status checks end initializing (turn ok or impaired)
    POST /_local_aws/image-health    {"region": R, "image_id": ID, "status": "impaired" |
                                      "unhealthy" | "ok"}: instances of the image fail their
                                      status checks once past initializing (impaired), or
                                      pass them but fail a target group's health check
                                      (unhealthy), or pass both (ok)
    POST /_local_aws/command-outcome {"region": R, "contains": TEXT, "exit_code": N,
                                      "stdout": TEXT, "stderr": TEXT, "seconds": S}: how a
                                      Run Command whose commands contain TEXT ends
    POST /_local_aws/recipe          {"region": R, "arn": ARN, "kind": "image" | "container",
                                      "parent_image": AMI_ID}: an Image Builder recipe that
                                      builds on the AMI (DescribeImageReferences reports it)
    POST /_local_aws/metering        {"region": R, "latency_ms": N, "jitter_ms": N, "buckets":
                                      true}: AWS's pace in that Region (metering.py), its
                                      buckets full again
    POST /_local_aws/metering/drain  {"region": R, "account": A, "action": "DeregisterImage"}:
                                      that bucket empty, as other clients would leave it
    GET  /_local_aws/throttled[?region=R][&account=A] {"ec2:DeregisterImage": 3, ...}: calls
                                      answered RequestLimitExceeded, since start or reset
    GET  /_local_aws/rounds?region=R {"calls": N, "rounds": N}: with a latency on, the longest
                                      chain of calls made one after another
    POST /_local_aws/consistency     {"region": R, "seconds": N | "max_seconds": N}: EC2's eventual
                                     consistency in R: each instance, AMI and launch template version
                                     made from now on stays unknown by its ID for N seconds (or a
                                     random time up to max_seconds); 0 turns it off (consistency.py)
    GET  /_local_aws/consistency/refused[?region=R] {"TerminateInstances": 2, ...}: calls refused
                                     for naming a hidden ID
    POST /_local_aws/deny            {"region": R, "actions": ["ec2:DeregisterImage", ...]}:
                                      these answer UnauthorizedOperation (EC2) or
                                      AccessDenied (Auto Scaling) until denied again
"""

from __future__ import annotations

import argparse
import json
import logging
import os

os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

import local_aws  # noqa: E402
from local_aws import accounts, cloudwatch_cbor, consistency, image_uses, metering, verification  # noqa: E402
import waitress  # noqa: E402
from lifecycle import stop_on_signals_and_stdin_eof  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

PREFIX = "/_local_aws/"


def control_app(moto_app):
    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if cloudwatch_cbor.handles(path):
            return cloudwatch_cbor.app(environ, start_response)
        if not path.startswith(PREFIX):
            return moto_app(environ, start_response)
        request = Request(environ)
        what = path[len(PREFIX):].strip("/")
        body = {}
        if request.method == "POST" and request.get_data():
            body = json.loads(request.get_data())
        if what == "health":
            result = {"ok": True}
        elif what == "calls" and request.method == "GET":
            result = local_aws.calls(request.args.get("region"), request.args.get("account"))
        elif what == "authorized" and request.method == "GET":
            result = local_aws.authorized(request.args.get("region"), request.args.get("account"))
        elif what == "first-call" and request.method == "GET":
            result = {"at": local_aws.first_call(request.args.get("region", "us-east-1"))}
        elif what == "calls/reset" and request.method == "POST":
            local_aws.reset_calls(body.get("region"))
            result = {"ok": True}
        elif what == "refresh-fault" and request.method == "POST":
            fault = {k: body[k] for k in ("fail_after", "cancel_after", "reason") if k in body}
            local_aws.set_fault(
                body.get("account", DEFAULT_ACCOUNT_ID), body.get("region", "us-east-1"), body["group"], fault
            )
            result = {"ok": True}
        elif what == "image-age" and request.method == "POST":
            local_aws.age_image(body.get("account", DEFAULT_ACCOUNT_ID), body["region"], body["image_id"], float(body["days"]))
            result = {"ok": True}
        elif what == "image-state" and request.method == "POST":
            local_aws.set_image_state(body.get("account", DEFAULT_ACCOUNT_ID), body["region"], body["image_id"], body["state"])
            result = {"ok": True}
        elif what == "old-deregister" and request.method == "POST":
            local_aws.old_deregister(body["region"], bool(body.get("on", True)))
            result = {"ok": True}
        elif what == "status-ok-at" and request.method == "GET":
            result = verification.status_ok_times(request.args.get("account", DEFAULT_ACCOUNT_ID), request.args["region"])
        elif what == "image-health" and request.method == "POST":
            verification.set_image_health(body.get("account", DEFAULT_ACCOUNT_ID), body["region"], body["image_id"], body["status"])
            result = {"ok": True}
        elif what == "command-outcome" and request.method == "POST":
            outcome = {k: body[k] for k in ("contains", "exit_code", "stdout", "stderr", "seconds") if k in body}
            verification.add_command_outcome(body.get("account", DEFAULT_ACCOUNT_ID), body["region"], outcome)
            result = {"ok": True}
        elif what == "recipe" and request.method == "POST":
            image_uses.add_recipe(body.get("account", DEFAULT_ACCOUNT_ID), body["region"], body["arn"], body["kind"], body["parent_image"])
            result = {"ok": True}
        elif what == "account-key" and request.method == "POST":
            result = accounts.account_key(body["account"])
        elif what == "unassumable" and request.method == "POST":
            accounts.set_unassumable(body["role_arn"], body.get("external_id"))
            result = {"ok": True}
        elif what == "metering" and request.method == "POST":
            metering.configure(
                body["region"], float(body.get("latency_ms", 0)), float(body.get("jitter_ms", 0)), bool(body.get("buckets", False))
            )
            result = {"ok": True}
        elif what == "metering/drain" and request.method == "POST":
            metering.drain(body.get("account", DEFAULT_ACCOUNT_ID), body["region"], body["action"])
            result = {"ok": True}
        elif what == "rounds" and request.method == "GET":
            result = metering.rounds(request.args["region"])
        elif what == "throttled" and request.method == "GET":
            result = metering.throttled(request.args.get("region"), request.args.get("account"))
        elif what == "consistency" and request.method == "POST":
            consistency.configure(body["region"], float(body.get("seconds", 0)), float(body.get("max_seconds", 0)))
            result = {"ok": True}
        elif what == "consistency/refused" and request.method == "GET":
            result = consistency.refused(request.args.get("region"))
        elif what == "sns-sent" and request.method == "GET":
            result = local_aws.sns_sent(request.args.get("account", DEFAULT_ACCOUNT_ID), request.args["topic_arn"])
        elif what == "deny" and request.method == "POST":
            local_aws.deny(body.get("region", "us-east-1"), body.get("actions", []))
            result = {"ok": True}
        else:
            response = Response(json.dumps({"error": f"no control {what!r}"}), status=404, mimetype="application/json")
            return response(environ, start_response)
        return Response(json.dumps(result), mimetype="application/json")(environ, start_response)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    args = parser.parse_args()

    local_aws.install()
    app = control_app(DomainDispatcherApplication(create_backend_app))
    # 32 threads: a call holds its thread through its latency (metering.py), asleep, so
    # concurrent callers (a tool's workers, several tools in a benchmark) must not queue behind
    # one another's latency; without latency most threads stay idle. "Task queue depth"
    # warnings are noise here.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(app, host=args.host, port=args.port, threads=32, ident="local-aws")

    # Stopping ends waitress's loop with SystemExit (raised in the main thread, by the signal
    # handler); run() then stops its threads.
    def stop() -> None:
        raise SystemExit(0)

    stop_on_signals_and_stdin_eof(stop, args.exit_on_stdin_eof)

    print(f"LOCAL_AWS_READY http://{args.host}:{server.effective_port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
