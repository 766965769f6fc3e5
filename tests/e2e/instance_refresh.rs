use std::path::Path;

use deploy_tests::{refresh_config, workdir, LocalAws, World};

/// The refresh world on `$Latest` (see [`LocalAws::refresh_world`]).
async fn world(aws: &LocalAws, group: &str) -> (String, String, String) {
    aws.refresh_world(group, "$Latest").await
}

const FAST: [&str; 2] = ["--interval", "0.1"];

/// A refresh of group "web" from `cfg`, pinned to version 2 of template `lt`, looking fast.
fn pinned_to_2(aws: &LocalAws, dir: &Path, cfg: &str, lt: &str) -> deploy_tests::Run {
    aws.run("instance-refresh", dir, &[cfg, "web", "--launch-template-id", lt, "--launch-template-version", "2", FAST[0], FAST[1]])
}

#[tokio::test]
async fn a_successful_refresh_exits_0_with_every_instance_on_the_new_ami() {
    let aws = LocalAws::start().await;
    let (_, old, new) = world(&aws, "web").await;
    assert_eq!(aws.group_amis("web").await, vec![old.clone(), old]);
    let dir = workdir();
    let cfg =
        refresh_config(dir.path(), r#"{"AutoScalingGroupName": "web", "Preferences": {"InstanceWarmup": 5, "MinHealthyPercentage": 50}}"#);

    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", FAST[0], FAST[1]]).expect(0);
    assert_eq!(run.stdout, "Instance refresh Successful (100%)\n");
    assert!(run.stderr.contains("Instance refresh InProgress"), "{}", run.stderr);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
}

#[tokio::test]
async fn pinned_to_a_version_the_group_takes_that_version() {
    let aws = LocalAws::start().await;
    let (lt, _, new) = world(&aws, "web").await;
    aws.add_versions(&lt, &aws.bake(&aws.builder_instance().await, "other", 1).await[0], 1).await; // version 3: $Latest, not ours
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"MinHealthyPercentage": 50}}"#);
    let run = aws
        .run(
            "instance-refresh",
            dir.path(),
            &[&cfg, "web", "--launch-template-id", &lt, "--launch-template-version", "2", FAST[0], FAST[1], "-o", "json"],
        )
        .expect(0);
    let json = run.json();
    assert_eq!(json["status"], "Successful");
    assert_eq!(json["percentage_complete"], 100);
    assert!(json["instance_refresh_id"].as_str().unwrap().len() > 8);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
    let group = aws.asg().describe_auto_scaling_groups().auto_scaling_group_names("web").send().await.unwrap();
    assert_eq!(group.auto_scaling_groups()[0].launch_template().unwrap().version(), Some("2"));
}

#[tokio::test]
async fn auto_rollback_from_latest_runs_without_it_and_says_so() {
    let aws = LocalAws::start().await;
    let (lt, _, new) = world(&aws, "web").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"AutoRollback": true}}"#);
    let run = pinned_to_2(&aws, dir.path(), &cfg, &lt).expect(0);
    assert!(run.stderr.contains("without AutoRollback"), "{}", run.stderr);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
    // The group is now on version 2, so the next refresh can roll back.
    let group = aws.asg().describe_auto_scaling_groups().auto_scaling_group_names("web").send().await.unwrap();
    assert_eq!(group.auto_scaling_groups()[0].launch_template().unwrap().version(), Some("2"));
}

#[tokio::test]
async fn a_failed_refresh_exits_1_with_the_reason() {
    let aws = LocalAws::start().await;
    let (_, old, new) = world(&aws, "web").await;
    aws.refresh_fault("web", "fail_after", 1, "Instance i-1 failed its ELB health check");
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"AutoScalingGroupName": "web"}"#);
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", FAST[0], FAST[1]]).expect(1);
    assert_eq!(run.stdout, "Instance refresh Failed (50%)\n");
    let line = run.error_line("instance-refresh");
    assert!(line.contains("ended Failed: Instance i-1 failed its ELB health check"), "{line}");
    assert!(line.contains("activity"), "the group's scaling activities explain it: {line}");
    // Half replaced, no rollback asked for.
    let mut expected = vec![old, new];
    expected.sort();
    assert_eq!(aws.group_amis("web").await, expected);
}

#[tokio::test]
async fn a_cancelled_refresh_exits_1() {
    let aws = LocalAws::start().await;
    world(&aws, "web").await;
    aws.refresh_fault("web", "cancel_after", 1, "");
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", FAST[0], FAST[1]]).expect(1);
    assert!(run.stdout.starts_with("Instance refresh Cancelled"), "{}", run.stdout);
}

#[tokio::test]
async fn auto_rollback_puts_the_group_back_and_exits_1() {
    let aws = LocalAws::start().await;
    // AWS rolls back only to a numbered version: the group is on version 1.
    let (lt, old, _) = aws.refresh_world("web", "1").await;
    aws.refresh_fault("web", "fail_after", 1, "health checks failed");
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"AutoRollback": true}}"#);
    let run = pinned_to_2(&aws, dir.path(), &cfg, &lt).expect(1);
    assert!(run.stdout.starts_with("Instance refresh RollbackSuccessful"), "{}", run.stdout);
    assert_eq!(aws.group_amis("web").await, vec![old.clone(), old]);
}

#[tokio::test]
async fn another_groups_refresh_does_not_confuse_it() {
    let aws = LocalAws::start().await;
    let (_, _, new) = world(&aws, "web").await;
    world(&aws, "api").await;
    // The other group's refresh fails while ours runs.
    aws.refresh_fault("api", "fail_after", 0, "api broke");
    let dir = workdir();
    let api_cfg = refresh_config(dir.path(), "{}");
    let other = aws
        .tool("instance-refresh", dir.path())
        .args([&api_cfg, "api", "--interval", "0.1"])
        .command()
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let web_dir = workdir();
    let cfg = refresh_config(web_dir.path(), r#"{"AutoScalingGroupName": "web"}"#);
    let run = aws.run("instance-refresh", web_dir.path(), &[&cfg, "web", FAST[0], FAST[1]]).expect(0);
    assert!(run.stdout.contains("Successful"), "{}", run.stdout);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
    let other = other.wait_with_output().unwrap();
    assert_eq!(other.status.code(), Some(1));
}

#[tokio::test]
async fn a_refresh_in_progress_is_refused_with_aws_reason() {
    // Slow refreshes, so that the one we start first is surely still running.
    let aws = LocalAws::start_with_step(2.0).await;
    world(&aws, "web").await;
    // Someone else's refresh is running.
    aws.asg().start_instance_refresh().auto_scaling_group_name("web").send().await.unwrap();
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", FAST[0], FAST[1]]).expect(1);
    assert!(run.error_line("instance-refresh").contains("InstanceRefreshInProgress"), "{}", run.stderr);
}

#[tokio::test]
async fn a_file_naming_another_group_is_refused_and_nothing_starts() {
    let aws = LocalAws::start().await;
    world(&aws, "web").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"AutoScalingGroupName": "my_asg"}"#);
    aws.reset_calls();
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web"]).expect(2);
    let line = run.error_line("instance-refresh");
    assert!(line.contains("\"my_asg\"") && line.contains("\"web\""), "{line}");
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

#[tokio::test]
async fn bad_config_files_are_refused_and_nothing_starts() {
    let aws = LocalAws::start().await;
    world(&aws, "web").await;
    let dir = workdir();
    aws.reset_calls();
    let missing = dir.path().join("nope.json").to_string_lossy().into_owned();
    let run = aws.run("instance-refresh", dir.path(), &[&missing, "web"]).expect(2);
    assert!(run.error_line("instance-refresh").contains("cannot read refresh config"), "{}", run.stderr);

    // Unreadable: a directory where the file should be (root reads any file, so permissions
    // cannot make one unreadable here).
    let unreadable = dir.path().to_string_lossy().into_owned();
    let run = aws.run("instance-refresh", dir.path(), &[&unreadable, "web"]).expect(2);
    assert!(run.error_line("instance-refresh").contains("cannot read refresh config"), "{}", run.stderr);

    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"MinHealthyPercent": 50}}"#);
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web"]).expect(2);
    assert!(run.error_line("instance-refresh").contains("MinHealthyPercent"), "{}", run.stderr);

    let cfg = refresh_config(dir.path(), "{not json");
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web"]).expect(2);
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);

    // Values AWS would refuse, each named.
    for (body, says) in [
        (r#"{"Strategy": "Blue"}"#, "Strategy must be Rolling or ReplaceRootVolume"),
        (
            r#"{"Preferences": {"ScaleInProtectedInstances": "Terminate"}}"#,
            "Preferences.ScaleInProtectedInstances must be Refresh, Ignore or Wait",
        ),
        (r#"{"Preferences": {"StandbyInstances": "Refresh"}}"#, "Preferences.StandbyInstances must be Terminate, Ignore or Wait"),
        (
            r#"{"Preferences": {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 250}}"#,
            "Preferences.MaxHealthyPercentage must be 100 to 200",
        ),
        (r#"{"Preferences": {"CheckpointPercentages": [60, 30, 100]}}"#, "Preferences.CheckpointPercentages must be in ascending order"),
        (
            r#"{"Strategy": "ReplaceRootVolume", "DesiredConfiguration": {"MixedInstancesPolicy": {"LaunchTemplate": {"Overrides": [{"InstanceType": "t3.micro"}]}}}}"#,
            "Overrides[0] has no ImageId",
        ),
    ] {
        let cfg = refresh_config(dir.path(), body);
        let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web"]).expect(2);
        assert!(run.error_line("instance-refresh").contains(says), "{body}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    }
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

#[tokio::test]
async fn an_unknown_group_fails() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "nosuchgroup", FAST[0], FAST[1]]).expect(1);
    assert!(run.error_line("instance-refresh").contains("nosuchgroup"), "{}", run.stderr);
}

/// Runs instance-refresh in the background and returns once it has started its refresh.
// The child is handed to the caller, which waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_until_started(aws: &LocalAws, dir: &Path, args: &[&str]) -> (std::process::Child, std::io::BufReader<std::process::ChildStderr>) {
    aws.tool("instance-refresh", dir).args(args).spawn_until("started instance refresh")
}

fn terminate(child: &std::process::Child) {
    let status = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

async fn latest_status(aws: &LocalAws, group: &str) -> String {
    let out = aws.asg().describe_instance_refreshes().auto_scaling_group_name(group).send().await.unwrap();
    out.instance_refreshes()[0].status().unwrap().as_str().to_owned()
}

#[tokio::test]
async fn sigterm_stops_waiting_exits_130_and_leaves_the_refresh_running() {
    let aws = LocalAws::start_with_step(1.0).await;
    world(&aws, "web").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let (child, mut stderr) = spawn_until_started(&aws, dir.path(), &[&cfg, "web", "--interval", "0.2"]);
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest}");
    assert!(rest.contains("goes on in AWS") && rest.contains("describe-instance-refreshes"), "{rest}");
    let status = latest_status(&aws, "web").await;
    assert!(status == "Pending" || status == "InProgress", "still running: {status}");
}

#[tokio::test]
async fn cancel_on_exit_cancels_the_refresh() {
    let aws = LocalAws::start_with_step(1.0).await;
    world(&aws, "web").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let (child, _stderr) = spawn_until_started(&aws, dir.path(), &[&cfg, "web", "--interval", "0.2", "--cancel-on-exit"]);
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let status = latest_status(&aws, "web").await;
    assert!(status == "Cancelling" || status == "Cancelled", "{status}");
}

#[tokio::test]
async fn if_running_wait_waits_for_the_other_refresh_then_runs_ours() {
    let aws = LocalAws::start_with_step(0.3).await;
    let (_, _, new) = world(&aws, "web").await;
    let other = aws.asg().start_instance_refresh().auto_scaling_group_name("web").send().await.unwrap();
    let other = other.instance_refresh_id().unwrap().to_owned();
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--if-running", "wait", "--interval", "0.1", "-o", "json"]).expect(0);
    let json = run.json();
    assert_ne!(json["instance_refresh_id"], other.as_str());
    assert!(run.stderr.contains("waiting for refresh"), "{}", run.stderr);
    let out = aws.asg().describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
    let statuses: Vec<_> = out.instance_refreshes().iter().map(|r| r.status().unwrap().as_str().to_owned()).collect();
    assert_eq!(statuses, ["Successful", "Successful"], "ours after theirs, neither cancelled");
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
}

#[tokio::test]
async fn if_running_cancel_cancels_the_other_refresh_first() {
    let aws = LocalAws::start_with_step(0.3).await;
    world(&aws, "web").await;
    aws.asg().start_instance_refresh().auto_scaling_group_name("web").send().await.unwrap();
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--if-running", "cancel", "--interval", "0.1"]).expect(0);
    let out = aws.asg().describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
    let statuses: Vec<_> = out.instance_refreshes().iter().map(|r| r.status().unwrap().as_str().to_owned()).collect();
    assert_eq!(statuses, ["Successful", "Cancelled"]);
}

#[tokio::test]
async fn without_a_terminal_progress_is_one_line_per_change_and_q_silences_it() {
    let aws = LocalAws::start().await;
    world(&aws, "web").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--interval", "0.03", "-o", "json"]).expect(0);
    let polls = run.json()["polls"].as_u64().unwrap();
    let lines: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("Instance refresh ")).collect();
    assert!(lines.len() >= 3, "{}", run.stderr);
    assert!((lines.len() as u64) < polls, "one line per change, not per poll: {} lines, {polls} polls", lines.len());
    for pair in lines.windows(2) {
        assert_ne!(pair[0], pair[1], "a line repeats: {}", run.stderr);
    }
    assert!(lines.iter().any(|l| l.contains("instances to update")), "{}", run.stderr);

    world(&aws, "quiet").await;
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "quiet", "--interval", "0.05", "-q"]).expect(0);
    assert_eq!(run.stderr, "", "-q prints nothing but errors");
    assert_eq!(run.stdout, "Instance refresh Successful (100%)\n");
}

#[tokio::test]
async fn a_checkpoint_pause_is_waited_through() {
    // At a checkpoint AWS holds the refresh InProgress for CheckpointDelay; the tool keeps
    // following it to the end.
    let aws = LocalAws::start().await;
    let (_, _, new) = world(&aws, "web").await;
    let dir = workdir();
    let cfg = refresh_config(
        dir.path(),
        r#"{"Preferences": {"MinHealthyPercentage": 0, "CheckpointPercentages": [50, 100], "CheckpointDelay": 120}}"#,
    );
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--interval", "0.05"]).expect(0);
    assert_eq!(run.stdout, "Instance refresh Successful (100%)\n");
    assert!(run.stderr.contains("Instance refresh InProgress (50%)"), "{}", run.stderr);
    assert!(run.stderr.contains(": Waiting at a checkpoint: 50% of the instances replaced"), "the pause is shown: {}", run.stderr);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
}

#[tokio::test]
async fn the_shipped_config_keeps_a_group_of_one_serving() {
    // Slow steps, so that the half batch with two instances lasts long enough to be seen
    // however loaded the machine is.
    let aws = LocalAws::start_with_step(0.5).await;
    let World { amis, template: lt, .. } = aws.world("main", 2).template("one-lt").group("one", "1", 1).build().await;
    aws.add_versions(&lt, &amis[1], 1).await;
    let dir = workdir();
    let shipped = deploy_tests::root().join("scripts/refresh-config.json");
    let args = [shipped.to_str().unwrap(), "one", "--launch-template-version", "2", "--interval", "0.1"];
    let mut child = aws
        .tool("instance-refresh", dir.path())
        .args(args)
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let asg = aws.asg();
    let mut counts = std::collections::BTreeSet::new();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let out = asg.describe_auto_scaling_groups().auto_scaling_group_names("one").send().await.unwrap();
        counts.insert(out.auto_scaling_groups()[0].instances().len());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    assert_eq!(aws.group_amis("one").await, [amis[1].clone()]);
    // New instance first, then the old one goes: never fewer than one, two for a while.
    assert_eq!((counts.first().copied(), counts.last().copied()), (Some(1), Some(2)), "{counts:?}");
}

#[tokio::test]
async fn a_missing_alarm_or_one_in_alarm_stops_it_before_anything_starts() {
    let aws = LocalAws::start().await;
    let (lt, _, _) = aws.refresh_world("web", "1").await;
    aws.alarm("errors").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    let pinned = |alarm: &str| {
        let args =
            [cfg.as_str(), "web", "--launch-template-id", &lt, "--launch-template-version", "2", "--alarm", "errors", "--alarm", alarm];
        aws.run("instance-refresh", dir.path(), &args).expect(1).error_line("instance-refresh").to_owned()
    };
    let region = aws.region;
    assert_eq!(pinned("nope"), format!("instance-refresh: alarm nope does not exist in {region}: no refresh started"));
    aws.alarm_state("errors", "ALARM", "Threshold Crossed: 7 errors").await;
    assert_eq!(pinned("errors"), "instance-refresh: alarm errors is in ALARM (Threshold Crossed: 7 errors): no refresh started");
    let refreshes = aws.asg().describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
    assert!(refreshes.instance_refreshes().is_empty(), "nothing started");
}

/// A refresh of "web" from `cfg`, pinned to version 2 of `lt`, watching alarm "errors" through a
/// bake time of `bake`, looking fast.
fn pinned_to_2_watching<'a>(cfg: &'a str, lt: &'a str, bake: &'a str) -> Vec<&'a str> {
    vec![
        cfg,
        "web",
        "--launch-template-id",
        lt,
        "--launch-template-version",
        "2",
        "--alarm",
        "errors",
        "--bake-time",
        bake,
        FAST[0],
        FAST[1],
    ]
}

#[tokio::test]
async fn an_alarm_during_the_bake_time_rolls_the_group_back_and_says_which() {
    let aws = LocalAws::start().await;
    let (lt, old, new) = aws.refresh_world("web", "1").await;
    aws.alarm("errors").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"AutoRollback": true, "MinHealthyPercentage": 50}}"#);
    let mut args = pinned_to_2_watching(&cfg, &lt, "1h");
    args.extend(["-o", "json"]);
    let (child, mut stderr) = aws.tool("instance-refresh", dir.path()).args(args).spawn_until("Baking");
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new], "baking comes after every replacement");
    aws.alarm_state("errors", "ALARM", "Threshold Crossed: 7 errors").await;
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(1), "{rest}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "RollbackSuccessful");
    assert_eq!(report["alarms"][0]["name"], "errors");
    assert_eq!(report["group_runs"], format!("launch template {lt} version 1"));
    let line = rest.lines().last().unwrap_or_default();
    assert!(line.contains("ended RollbackSuccessful") && line.contains("alarm errors is in ALARM: Threshold Crossed: 7 errors"), "{line}");
    assert!(line.contains(&format!("the group runs launch template {lt} version 1")), "{line}");
    assert_eq!(aws.group_amis("web").await, vec![old.clone(), old], "back on the previous image");
}

#[tokio::test]
async fn an_alarm_with_insufficient_data_is_allowed_with_a_warning_and_the_bake_time_is_shown() {
    let aws = LocalAws::start().await;
    let (lt, _, new) = aws.refresh_world("web", "1").await;
    aws.alarm("errors").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"MinHealthyPercentage": 50}}"#);
    let args = pinned_to_2_watching(&cfg, &lt, "2m");
    let run = aws.run("instance-refresh", dir.path(), &args).expect(0);
    assert!(run.stderr.contains("alarm errors has INSUFFICIENT_DATA"), "{}", run.stderr);
    assert!(run.stderr.contains("Instance refresh Baking"), "{}", run.stderr);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
    let refresh = aws.asg().describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
    let prefs = refresh.instance_refreshes()[0].preferences().unwrap();
    assert_eq!((prefs.bake_time(), prefs.alarm_specification().map(|a| a.alarms().to_vec())), (Some(120), Some(vec!["errors".to_owned()])));
}
