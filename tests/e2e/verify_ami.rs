//! verify-ami boots the AMI from the template, checks it, always terminates what it launched,
//! and records the verdict that latest-ami and prune-amis heed.

use std::path::Path;

use deploy_tests::{workdir, LocalAws, World};

const FAST: [&str; 2] = ["--interval", "0.2"];

/// Three builds of "main" and a template "app" (instance profile "app-ssm") on the oldest.
async fn world(aws: &LocalAws) -> (Vec<String>, String) {
    let World { amis, template: lt, .. } = aws.world("main", 3).profiled("app").build().await;
    (amis, lt)
}

fn verify<'a>(lt: &'a str, ami: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![lt, ami];
    args.extend_from_slice(&FAST);
    args.extend_from_slice(more);
    args
}

#[tokio::test]
async fn a_good_ami_passes_every_check_and_leaves_no_instance() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let tg = aws.target_group("web").await;
    let dir = workdir();
    let args = verify(&lt, &amis[2], &["--ssm-command", "systemctl is-active app", "--target-group-arn", &tg, "-o", "json"]);
    let run = aws.run("verify-ami", dir.path(), &args).expect(0);
    let report = run.json();
    assert_eq!(report["verdict"], "passed", "{}", run.stderr);
    let checks: Vec<(&str, &str)> =
        report["checks"].as_array().unwrap().iter().map(|c| (c["check"].as_str().unwrap(), c["result"].as_str().unwrap())).collect();
    assert_eq!(checks, [("status-checks", "passed"), ("ssm-command", "passed"), ("target-health", "passed")]);
    // The status checks start initializing (2 s here): the pass waited for them.
    assert!(report["checks"][0]["seconds"].as_f64().unwrap() >= 1.5, "{report}");
    let id = report["instances"][0]["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(report["instances"][0]["terminated"], true);

    // The instance was the template's, with the AMI replaced, tagged for people and later runs.
    let described = aws.ec2().describe_instances().instance_ids(&id).send().await.unwrap();
    let instance = &described.reservations()[0].instances()[0];
    assert_eq!(instance.image_id(), Some(amis[2].as_str()));
    assert_eq!(instance.instance_type().map(|t| t.as_str()), Some("t3.micro"));
    let tags: std::collections::BTreeMap<&str, &str> = instance.tags().iter().map(|t| (t.key().unwrap(), t.value().unwrap())).collect();
    assert_eq!(tags.get("aws:ec2launchtemplate:id"), Some(&lt.as_str()));
    assert_eq!(tags.get("created-by"), Some(&"verify-ami"));
    assert_eq!(tags.get("verify-ami:image"), Some(&amis[2].as_str()));
    assert_eq!(tags.get("verify-ami:run"), Some(&report["run_id"].as_str().unwrap()));

    assert!(aws.live_verify_instances(&amis[2]).await.is_empty(), "no instance left running");
    assert!(aws.targets(&tg).await.is_empty(), "deregistered from the target group");
    let image = aws.image_tags(&amis[2]).await;
    assert_eq!(image.get("verification").map(String::as_str), Some("passed"));
    assert!(image.contains_key("verification-time") && !image.contains_key("verification-reason"), "{image:?}");
    assert_eq!(aws.run("latest-ami", dir.path(), &["main", "--verified"]).expect(0).stdout.trim(), amis[2]);

    // The text form: the verdict first, then a line a check.
    let text = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &[])).expect(0).stdout;
    assert!(text.starts_with(&format!("passed {} (launch template {lt} version 1, i-", amis[2])), "{text}");
    assert!(text.contains("status-checks i-"), "{text}");
}

#[tokio::test]
async fn an_impaired_ami_fails_is_tagged_and_latest_ami_falls_back_to_the_good_one() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    aws.run("verify-ami", dir.path(), &verify(&lt, &amis[1], &[])).expect(0);
    aws.image_health(&amis[2], "impaired");
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--on-failure", "deprecate", "-o", "json"])).expect(1);
    let line = run.error_line("verify-ami");
    assert!(
        line.contains(&format!("{} failed verification", amis[2])) && line.contains("instance status check impaired (reachability failed)"),
        "{}",
        run.stderr
    );
    let report = run.json();
    assert_eq!((report["verdict"].as_str(), report["retired"].as_str()), (Some("failed"), Some("deprecate")));
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty(), "the failed instance was terminated too");

    let image = aws.image_tags(&amis[2]).await;
    assert_eq!(image.get("verification").map(String::as_str), Some("failed"));
    assert!(image["verification-reason"].contains("impaired"), "{image:?}");
    let described = aws.ec2().describe_images().image_ids(&amis[2]).include_deprecated(true).send().await.unwrap();
    assert!(described.images()[0].deprecation_time().is_some(), "--on-failure deprecate deprecated it");

    let run = aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(run.stdout.trim(), amis[1], "the previous good one");
}

#[tokio::test]
async fn a_failing_ssm_command_exits_1_and_shows_its_output() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    aws.command_outcome("curl", 22, "starting app\ncurl: (22) The requested URL returned error: 503\n", 0.3);
    let args = verify(&lt, &amis[2], &["--ssm-command", "curl -fsS localhost:8080/health"]);
    let run = aws.run("verify-ami", dir.path(), &args).expect(1);
    assert!(run.error_line("verify-ami").contains("the SSM command failed with exit code 22"), "{}", run.stderr);
    assert!(run.stdout.starts_with(&format!("failed {}", amis[2])), "{}", run.stdout);
    assert!(run.stdout.contains("curl: (22) The requested URL returned error: 503"), "the command's output is shown:\n{}", run.stdout);
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty());

    // In JSON too; and --on-failure disable disables the AMI.
    let report = aws.run("verify-ami", dir.path(), &[&args[..], &["-o", "json", "--on-failure", "disable"]].concat()).expect(1).json();
    let output = &report["checks"][1]["output"];
    assert_eq!(output["exit_code"].as_i64(), Some(22), "{report}");
    assert!(output["stdout"].as_str().unwrap().ends_with("error: 503\n"), "{report}");
    let described = aws.ec2().describe_images().image_ids(&amis[2]).include_disabled(true).send().await.unwrap();
    assert_eq!(described.images()[0].state().map(|s| s.as_str()), Some("disabled"), "--on-failure disable");
}

#[tokio::test]
async fn an_unhealthy_target_fails_and_is_deregistered() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let tg = aws.target_group("web").await;
    let dir = workdir();
    aws.image_health(&amis[2], "unhealthy");
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--target-group-arn", &tg, "-o", "json"])).expect(1);
    let report = run.json();
    let last = report["checks"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["check"].as_str(), last["result"].as_str()), (Some("target-health"), Some("failed")), "{report}");
    assert!(last["detail"].as_str().unwrap().contains("unhealthy in the target group (Target.FailedHealthChecks"), "{last}");
    assert!(aws.targets(&tg).await.is_empty(), "deregistered");
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty());
}

#[tokio::test]
async fn a_check_that_never_answers_times_out_as_a_failure() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    // The agent comes online after 3 s here; the run gives up at 1.5 s.
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--ssm-command", "true", "--timeout", "1.5"])).expect(1);
    assert!(run.error_line("verify-ami").contains("timed out after 1.5 s waiting for the status checks"), "{}", run.stderr);
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty());
    assert_eq!(aws.image_tags(&amis[2]).await.get("verification").map(String::as_str), Some("failed"));
}

/// Starts verify-ami and returns once it has launched its instance.
fn spawn_until_launched(aws: &LocalAws, dir: &Path, args: &[&str]) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>) {
    aws.tool("verify-ami", dir).args(args).spawn_until("launched i-")
}

#[tokio::test]
async fn sigterm_terminates_the_instance_and_exits_130_with_no_verdict() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    let (child, mut stderr) = spawn_until_launched(&aws, dir.path(), &verify(&lt, &amis[2], &[]));
    assert_eq!(aws.live_verify_instances(&amis[2]).await.len(), 1);
    assert!(std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty(), "terminated on SIGTERM");
    assert!(!aws.image_tags(&amis[2]).await.contains_key("verification"), "an interrupted run records no verdict");
}

#[tokio::test]
async fn a_killed_run_leaves_an_instance_that_the_next_run_terminates() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    let (mut child, _stderr) = spawn_until_launched(&aws, dir.path(), &verify(&lt, &amis[2], &[]));
    child.kill().unwrap();
    child.wait().unwrap();
    let left = aws.live_verify_instances(&amis[2]).await;
    assert_eq!(left.len(), 1, "SIGKILL leaves it");

    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["-o", "json"])).expect(0);
    assert_eq!(run.json()["left_over"], serde_json::json!(left));
    assert!(run.stderr.contains(&format!("terminating {} left by an earlier run", left[0])), "{}", run.stderr);
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty());
}

#[tokio::test]
async fn nothing_is_launched_when_the_launch_cannot_be_made() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let bare = aws.launch_template("bare", &amis[0]).await;
    let dir = workdir();
    // An SSM check needs an instance profile, which "bare" lacks.
    let run = aws.run("verify-ami", dir.path(), &verify(&bare, &amis[2], &["--ssm-command", "true"])).expect(1);
    assert!(run.error_line("verify-ami").contains("names none; nothing launched"), "{}", run.stderr);
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--source-version", "7"])).expect(1);
    assert!(run.error_line("verify-ami").contains("has no version 7"), "{}", run.stderr);
    aws.image_state(&amis[1], "pending");
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[1], &[])).expect(1);
    assert!(run.error_line("verify-ami").contains("is pending"), "{}", run.stderr);
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, "ami-0123456789abcdef0", &[])).expect(1);
    assert!(run.error_line("verify-ami").contains("does not exist"), "{}", run.stderr);
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--asg", "nope"])).expect(1);
    assert!(run.error_line("verify-ami").contains("no Auto Scaling group named \"nope\""), "{}", run.stderr);

    // A dry run asks EC2 and launches nothing; without the permission it says so.
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--dry-run", "-o", "json"])).expect(0);
    assert_eq!(run.json()["verdict"], "dry-run");
    aws.deny(&["ec2:RunInstances"]);
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--dry-run"])).expect(1);
    assert!(run.error_line("verify-ami").contains("UnauthorizedOperation"), "{}", run.stderr);
    aws.deny(&[]);
    assert!(aws.verify_instances(&amis[2]).await.is_empty(), "nothing was ever launched");
    assert!(!aws.image_tags(&amis[2]).await.contains_key("verification"), "and no verdict recorded");
}

#[tokio::test]
async fn the_groups_subnets_and_instance_type_are_used_when_the_template_names_none() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let lt = aws.template_on("untyped", &amis[0]).await;
    let ec2 = aws.ec2();
    let subnets = ec2.describe_subnets().send().await.unwrap();
    let subnet = subnets.subnets()[1].subnet_id().unwrap().to_owned();
    let spec = aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&lt).version("$Latest").build();
    let overrides = aws_sdk_autoscaling::types::LaunchTemplateOverrides::builder().instance_type("c5.large").build();
    let template = aws_sdk_autoscaling::types::LaunchTemplate::builder().launch_template_specification(spec).overrides(overrides).build();
    aws.asg()
        .create_auto_scaling_group()
        .auto_scaling_group_name("web")
        .min_size(0)
        .max_size(1)
        .vpc_zone_identifier(&subnet)
        .mixed_instances_policy(aws_sdk_autoscaling::types::MixedInstancesPolicy::builder().launch_template(template).build())
        .send()
        .await
        .unwrap();
    let dir = workdir();
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[0], &[])).expect(1);
    assert!(run.error_line("verify-ami").contains("names no instance type: pass --instance-type (or --asg"), "{}", run.stderr);
    let report = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[0], &["--asg", "web", "-o", "json"])).expect(0).json();
    assert_eq!(report["instances"][0]["subnet_id"].as_str(), Some(subnet.as_str()), "{report}");
    assert_eq!(report["instances"][0]["instance_type"], "c5.large");
    let report = aws
        .run("verify-ami", dir.path(), &verify(&lt, &amis[0], &["--asg", "web", "--instance-type", "m5.large", "-o", "json"]))
        .expect(0)
        .json();
    assert_eq!(report["instances"][0]["instance_type"], "m5.large");
}

#[tokio::test]
async fn an_instance_that_stops_fails_at_once_with_awss_reason() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    let (child, _stderr) = spawn_until_launched(&aws, dir.path(), &verify(&lt, &amis[2], &["-o", "json"]));
    let id = aws.live_verify_instances(&amis[2]).await.remove(0);
    aws.ec2().stop_instances().instance_ids(&id).send().await.unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("{id}: the instance is stopped (Client.UserInitiatedShutdown")), "{reason}");
    assert!(report["checks"][0]["seconds"].as_f64().unwrap() < 2.0, "at once, not at the status checks' end: {report}");
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty(), "the stopped instance was terminated too");
}

#[tokio::test]
async fn an_aws_error_mid_check_terminates_the_instance_and_records_no_verdict() {
    let aws = LocalAws::start().await;
    let (amis, lt) = world(&aws).await;
    let dir = workdir();
    aws.deny(&["ssm:SendCommand"]);
    let run = aws.run("verify-ami", dir.path(), &verify(&lt, &amis[2], &["--ssm-command", "true"])).expect(1);
    let line = run.error_line("verify-ami");
    assert!(line.contains("sending the SSM command: AccessDenied") && line.contains("request id"), "{}", run.stderr);
    assert!(aws.live_verify_instances(&amis[2]).await.is_empty(), "terminated");
    assert!(!aws.image_tags(&amis[2]).await.contains_key("verification"), "the AMI is not to blame");
}
