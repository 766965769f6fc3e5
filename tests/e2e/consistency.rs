//! EC2's eventual consistency: with the local AWS hiding each new instance, AMI and launch
//! template version for a while (consistency.py), as EC2 can, the tools wait for what they made
//! themselves, never leave an instance running, and still fail at once on an ID the user gave.

use std::time::{Duration, Instant};

use deploy_tests::{refresh_config, workdir, LocalAws, World};

/// How long the local AWS hides a new ID in these tests: longer than the first few of a tool's
/// waits (0.5, 1, 2 s), so that each test sees its tool ask again.
const BEHIND: f64 = 3.0;

#[tokio::test]
async fn sigterm_half_a_second_after_the_launch_leaves_no_instance_and_exits_130() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).profiled("app").build().await;
    aws.consistency(BEHIND);
    let dir = workdir();
    let (child, mut stderr) = aws.tool("verify-ami", dir.path()).args([&lt, &amis[0], "--interval", "0.2"]).spawn_until("launched i-");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest}");
    assert!(rest.contains("AWS does not know i-") && rest.contains("InvalidInstanceID.NotFound"), "{rest}");
    assert!(aws.refused().get("TerminateInstances").copied().unwrap_or(0) >= 1, "the terminate was refused at first: {:?}", aws.refused());
    assert!(aws.live_verify_instances(&amis[0]).await.is_empty(), "asked again until EC2 took it: nothing left running");
}

#[tokio::test]
async fn verify_ami_passes_a_good_image_while_ec2_catches_up() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).profiled("app").build().await;
    aws.consistency(BEHIND);
    let dir = workdir();
    let run = aws.run("verify-ami", dir.path(), &[&lt, &amis[0], "--interval", "0.2", "--ssm-command", "true", "-o", "json"]).expect(0);
    assert_eq!(run.json()["verdict"], "passed", "{}", run.stderr);
    assert!(aws.refused().get("DescribeInstanceStatus").copied().unwrap_or(0) >= 1, "{:?}", aws.refused());
    assert!(aws.live_verify_instances(&amis[0]).await.is_empty());
}

#[tokio::test]
async fn bump_and_a_refresh_pinned_right_after_it_wait_for_the_new_version() {
    let aws = LocalAws::start().await;
    let (lt, _, new) = aws.refresh_world("web", "$Latest").await;
    aws.consistency(BEHIND);
    let dir = workdir();
    // --set-default makes the version just made the default: ModifyLaunchTemplate names it.
    let bumped = aws.run("bump-launch-template", dir.path(), &[&lt, &new, "5", "--set-default"]).expect(0);
    let version = bumped.stdout.trim().to_owned();
    assert!(bumped.stderr.contains(&format!("AWS does not know version {version} of {lt} yet")), "{}", bumped.stderr);
    assert_eq!(aws.versions(&lt).await.1.to_string(), version, "the new version is the default");

    // Without --set-default, the refresh pinned to the new version right after is the first to name it.
    let bumped = aws.run("bump-launch-template", dir.path(), &[&lt, &new, "5"]).expect(0);
    let version = bumped.stdout.trim().to_owned();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"MinHealthyPercentage": 50}}"#);
    let run = aws
        .run(
            "instance-refresh",
            dir.path(),
            &[&cfg, "web", "--launch-template-id", &lt, "--launch-template-version", &version, "--interval", "0.1"],
        )
        .expect(0);
    assert!(run.stderr.contains(&format!("AWS does not know launch template version {version} yet")), "{}", run.stderr);
    let refused = aws.refused();
    assert!(
        refused.get("ModifyLaunchTemplate").copied().unwrap_or(0) >= 1 && refused.get("StartInstanceRefresh").copied().unwrap_or(0) >= 1,
        "{refused:?}"
    );
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
}

#[tokio::test]
async fn waiting_is_bounded_then_a_clear_error_and_an_id_the_user_gave_fails_at_once() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").build().await;
    aws.consistency(60.0);
    let dir = workdir();
    let started = Instant::now();
    let run = aws
        .run("bump-launch-template", dir.path(), &[&lt, &amis[0], "2", "--set-default"])
        .env("DEPLOY_TOOLS_CATCH_UP_SECONDS", "2")
        .expect(1);
    assert!(started.elapsed() < Duration::from_secs(20), "bounded: {:?}", started.elapsed());
    assert!(run.stderr.contains("giving up"), "{}", run.stderr);
    let last = run.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("bump-launch-template: making version 2 the default") && last.contains("InvalidLaunchTemplateId.VersionNotFound"),
        "{last}"
    );

    // An AMI the user names that EC2 does not know is an error at once, not a wait.
    let started = Instant::now();
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, "ami-0123456789abcdef0", "2"]).expect(1);
    assert!(started.elapsed() < Duration::from_secs(5) && !run.stderr.contains("asking again"), "{}", run.stderr);
    assert!(run.stderr.contains("ami-0123456789abcdef0 does not exist"), "{}", run.stderr);
}

#[test]
fn the_pipeline_passes_with_ec2_behind_in_one_region_and_in_two() {
    if !deploy_tests::slow_lane() {
        return;
    }
    for regions in [None, Some("us-east-1,eu-west-1")] {
        let mut env = vec![("LOCAL_AWS_CONSISTENCY_SECONDS", "2"), ("REFRESH_INTERVAL", "0.2")];
        env.extend(regions.map(|r| ("REGIONS", r)));
        let (code, stdout, stderr) = deploy_tests::local_run(&env);
        assert_eq!(code, Some(0), "{regions:?}\n{stdout}\n{stderr}");
        assert!(stdout.contains(": succeeded"), "{stdout}");
        assert!(stderr.contains("AWS does not know launch template version"), "EC2 was behind: {stderr}");
    }
}
