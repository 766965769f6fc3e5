//! `deploy-tools deploy`: one build to many targets in waves, the targets of a wave at once,
//! the first failure stopping the rest (and, with --rollback-on-failure, the fleet taken back
//! to the previous build), a deploy that resumes from what AWS says; `deploy-tools status`.

use deploy_tests::regions::{deploy_world, targets_file, Build};
use deploy_tests::{refresh_config, workdir, LocalAws, Run};

/// `deploy-tools deploy` of build b2 with the buildspec's variables, fast intervals.
fn deploy(aws: &LocalAws, dir: &std::path::Path, args: &[&str]) -> Run {
    let config = refresh_config(dir, "{}");
    let mut run = aws.tool("deploy-tools", dir).arg("deploy");
    for (k, v) in [
        ("APP", "app"),
        ("BRANCH", "main"),
        ("CODEBUILD_BUILD_ID", "b2"),
        ("AMIS_TO_KEEP", "5"),
        ("VERSIONS_TO_KEEP", "3"),
        ("REFRESH_CONFIG", config.as_str()),
        ("VERIFY_INTERVAL", "0.2"),
        ("REFRESH_INTERVAL", "0.2"),
    ] {
        run = run.env(k, v);
    }
    run.args(args)
}

/// The AMIs each Region's group "app" runs.
async fn running(regions: &[LocalAws]) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for r in regions {
        all.push(r.group_amis("app").await);
    }
    all
}

/// Both instances of Region i's group on `build`'s copy there.
fn on(build: &Build, regions: &[LocalAws]) -> Vec<Vec<String>> {
    (0..regions.len()).map(|i| vec![build[i].clone(), build[i].clone()]).collect()
}

/// Where `needle` is in `text`, which must have it.
fn at(text: &str, needle: &str) -> usize {
    text.find(needle).unwrap_or_else(|| panic!("{needle:?} in\n{text}"))
}

/// The report's targets, in the file's order: (action, runs.build).
fn outcomes(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut all: Vec<&serde_json::Value> =
        report["waves"].as_array().unwrap().iter().flat_map(|w| w["targets"].as_array().unwrap()).collect();
    all.sort_by_key(|t| t["target"].as_u64());
    all.iter().map(|t| (t["action"].as_str().unwrap().to_owned(), t["runs"]["build"].as_str().unwrap_or("").to_owned())).collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

#[tokio::test]
async fn waves_go_in_order_a_waves_targets_at_once_and_status_sees_the_fleet_and_its_drift() {
    let regions = LocalAws::start_regions(3).await;
    let (builds, templates) = deploy_world(&regions).await;
    let dir = workdir();
    let file = targets_file(dir.path(), &regions, &templates, &[2, 1, 2], &[]);
    let topic = aws_sdk_sns::Client::new(&regions[0].config).create_topic().name("deploys").send().await.unwrap().topic_arn.unwrap();

    let run = deploy(&regions[0], dir.path(), &[&file, "-o", "json", "--notify-topic", &topic]).expect(0);
    assert_eq!(running(&regions).await, on(&builds[1], &regions), "every group runs b2\n{}", run.stderr);
    let report = run.json();
    assert_eq!(report["outcome"], "succeeded");
    let waves: Vec<Vec<u64>> = report["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["targets"].as_array().unwrap().iter().map(|t| t["target"].as_u64().unwrap()).collect())
        .collect();
    assert_eq!(waves, [vec![2], vec![1, 3]], "wave 1 (target 2) first, then targets 1 and 3");
    assert_eq!(outcomes(&report), [pair("deployed", "new"), pair("deployed", "new"), pair("deployed", "new")]);
    let t1 = &report["waves"][1]["targets"][0];
    assert_eq!(
        (t1["version"].as_i64(), t1["previous_version"].as_i64(), t1["refresh_status"].as_str()),
        (Some(2), Some(1), Some("Successful"))
    );
    assert!(t1["seconds"]["verify"].as_f64().unwrap() > 0.0 && t1["seconds"]["refresh"].as_f64().unwrap() > 0.0, "{t1}");
    // Wave 2 starts once wave 1 is done; its two targets overlap: each starts before the other ends.
    let err = &run.stderr;
    let name = |i: usize| format!("target {} {} app: ", i + 1, regions[i].region);
    assert!(at(err, &format!("{}Instance refresh Successful", name(1))) < at(err, &format!("{}verify", name(0))), "{err}");
    for (a, b) in [(0, 2), (2, 0)] {
        assert!(
            at(err, &format!("{}started instance refresh", name(a))) < at(err, &format!("{}Instance refresh Successful", name(b))),
            "{err}"
        );
    }
    // The outcome on the topic, as text and JSON.
    let sent = regions[0].sns_sent(&topic);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, "deploy SUCCEEDED: app main build b2");
    assert!(
        sent[0].1.contains("Deploy of build b2 to 3 targets: SUCCEEDED") && sent[0].1.contains("\"outcome\": \"succeeded\""),
        "{}",
        sent[0].1
    );

    // Run again (a retried build): nothing is done twice.
    for r in &regions {
        r.reset_calls();
    }
    let again = deploy(&regions[0], dir.path(), &[&file]).expect(0);
    // Per target: the check (template, group); the prune's and the pick's listings (nothing to
    // retire); where it stands (group, versions, refreshes); what it runs (group, versions,
    // instances). The first Region also checks the Region list, for the deploy, the prune and the pick.
    for (i, r) in regions.iter().enumerate() {
        let mut expected: std::collections::BTreeMap<String, u64> = [
            ("autoscaling:DescribeAutoScalingGroups", 3),
            ("autoscaling:DescribeInstanceRefreshes", 1),
            ("ec2:DescribeImages", 2),
            ("ec2:DescribeInstances", 1),
            ("ec2:DescribeLaunchTemplateVersions", 2),
            ("ec2:DescribeLaunchTemplates", 1),
        ]
        .iter()
        .map(|(a, n)| (a.to_string(), *n))
        .collect();
        if i == 0 {
            expected.insert("ec2:DescribeRegions".into(), 3);
        }
        assert_eq!(r.calls(), expected, "{}", r.region);
    }
    assert_eq!(again.stdout.matches("already deployed (skipped)").count(), 3, "{}", again.stdout);
    for r in &regions {
        let refreshes = r.asg().describe_instance_refreshes().auto_scaling_group_name("app").send().await.unwrap();
        assert_eq!(refreshes.instance_refreshes().len(), 1, "{}: one refresh", r.region);
    }

    // Status: one build, no drift; per target one look at the group, its template's versions,
    // its last refresh, its instances and their AMIs (and with --branch the branch's AMIs).
    for r in &regions {
        r.reset_calls();
    }
    let status = regions[0].run("deploy-tools", dir.path(), &["status", "--branch", "main", "--app", "app", &file]).expect(0);
    assert!(status.stdout.contains("fleet: 3 targets on b2 (one build, no drift)"), "{}", status.stdout);
    assert!(
        status.stdout.contains(&format!("  runs {} (main-b2-0): build b2, commit -, verification passed", builds[1][0])),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains(&format!("  instances: 2 on {}", builds[1][0])), "{}", status.stdout);
    for r in &regions {
        let each = [
            "autoscaling:DescribeAutoScalingGroups",
            "autoscaling:DescribeInstanceRefreshes",
            "ec2:DescribeInstances",
            "ec2:DescribeLaunchTemplateVersions",
        ];
        let mut expected: std::collections::BTreeMap<String, u64> = each.iter().map(|a| (a.to_string(), 1)).collect();
        expected.insert("ec2:DescribeImages".into(), 2);
        assert_eq!(r.calls(), expected, "{}", r.region);
    }
    within_policies(&regions, &[], "deploy-tools-status", &[]);
    // The second Region's group is put back on version 1 by hand, without a refresh: its
    // instances run another image than its version, and it is behind the newest verified build.
    let spec = aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&templates[1]).version("1").build();
    regions[1].asg().update_auto_scaling_group().auto_scaling_group_name("app").launch_template(spec).send().await.unwrap();
    let status = regions[0].run("deploy-tools", dir.path(), &["status", "--branch", "main", "--app", "app", &file, "-o", "json"]).expect(1);
    let fleet = status.json();
    assert_eq!(fleet["builds"], serde_json::json!(["b2", "b1"]));
    let drift: Vec<&str> = fleet["targets"][1]["drift"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(
        drift,
        [
            format!("2 instances run {}, not the group's {}", builds[1][1], builds[0][1]),
            format!("behind the newest verified build b2 ({})", builds[1][1])
        ]
    );
    assert!(fleet["targets"][0]["drift"].as_array().unwrap().is_empty());
    assert!(status.error_line("deploy-tools status").contains("the targets run 2 builds: b2, b1"), "{}", status.stderr);
}

#[tokio::test]
async fn a_failure_in_a_later_wave_stops_the_rest_and_rollback_on_failure_takes_the_fleet_back() {
    let regions = LocalAws::start_regions(3).await;
    let (builds, templates) = deploy_world(&regions).await;
    let dir = workdir();
    let file = targets_file(dir.path(), &regions, &templates, &[1, 2, 2], &[]);

    // Wave 2, one target at a time: target 2's refresh fails half way, so target 3, held back
    // by --max-parallel 1, never starts. Target 1 runs b2, target 2 is split.
    regions[1].refresh_fault("app", "fail_after", 1, "new instances failed their health checks");
    let run = deploy(&regions[0], dir.path(), &[&file, "-o", "json", "--max-parallel", "1"]).expect(1);
    let report = run.json();
    assert_eq!(outcomes(&report), [pair("deployed", "new"), pair("failed", "split"), pair("not_started", "previous")]);
    assert_eq!(report["outcome"], "failed");
    let reason = report["reason"].as_str().unwrap();
    assert!(reason.contains("new instances failed their health checks") && reason.contains("not started: targets 3"), "{reason}");
    assert!(reason.contains("the fleet: new build: targets 1; previous build: targets 3; split build: targets 2"), "{reason}");
    assert_eq!(regions[2].versions(&templates[2]).await.0, [1], "no version made for target 3");
    assert_eq!(running(&regions).await[2], on(&builds[0], &regions)[2]);

    // Again, with --rollback-on-failure and wave 2 at once: target 1 is skipped (it runs b2),
    // target 2 fails again while target 3 deploys, and all three go back: the fleet ends on b1,
    // and the text says so.
    regions[1].refresh_fault("app", "fail_after", 1, "new instances failed their health checks");
    let run = deploy(&regions[0], dir.path(), &[&file, "--rollback-on-failure"]).expect(1);
    assert_eq!(running(&regions).await, on(&builds[0], &regions), "the fleet is back on b1\n{}\n{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains(&format!("target 1 ({}) group app: already deployed (skipped)", regions[0].region)), "{out}");
    assert!(out.contains(&format!("rolled back target 1 ({}) group app to version 1", regions[0].region)), "{out}");
    assert!(out.contains(&format!("rolled back target 2 ({}) group app to version 1", regions[1].region)), "{out}");
    assert!(out.contains(&format!("target 3 ({}) group app: deployed", regions[2].region)), "{out}");
    assert!(out.contains(&format!("rolled back target 3 ({}) group app to version 1", regions[2].region)), "{out}");
    assert_eq!(out.matches("runs the previous build").count(), 3, "{out}");
    assert!(out.lines().last().unwrap().starts_with("Deploy of build b2 to 3 targets: FAILED"), "{out}");
    assert_eq!(regions[1].versions(&templates[1]).await.0, [1, 2], "the version the first run made is used again");
}

#[tokio::test]
async fn a_deploy_killed_mid_wave_is_carried_on_by_the_next_run() {
    // Refreshes slow enough to kill the deploy, and interrupt the next, while they run.
    let regions = LocalAws::start_regions_with_step(2, 1.5).await;
    let (builds, templates) = deploy_world(&regions).await;
    let dir = workdir();
    let file = targets_file(dir.path(), &regions, &templates, &[1, 1], &[]);
    // Killed (as a lost machine) once both targets of the wave have started their refreshes.
    let (mut child, mut stderr) = deploy(&regions[0], dir.path(), &[&file]).spawn_until("started instance refresh");
    let mut line = String::new();
    while !line.contains("started instance refresh") {
        line.clear();
        assert_ne!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap(), 0, "the deploy ended before its second refresh");
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // A second run, stopped by SIGTERM while it follows them: exit 130, the report says so,
    // and the refreshes go on in AWS.
    let (mut child, mut stderr) = deploy(&regions[0], dir.path(), &[&file, "-o", "json"]).spawn_until("under way: following it");
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let (code, stderr) = (child.wait().unwrap().code(), rest.join().unwrap());
    assert_eq!(code, Some(130), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outcome"], "interrupted", "{stderr}");

    let run = deploy(&regions[0], dir.path(), &[&file, "-o", "json"]).expect(0);
    assert_eq!(running(&regions).await, on(&builds[1], &regions));
    assert_eq!(outcomes(&run.json()), [pair("followed", "new"), pair("followed", "new")], "{}", run.stderr);
    for (i, r) in regions.iter().enumerate() {
        let refreshes = r.asg().describe_instance_refreshes().auto_scaling_group_name("app").send().await.unwrap();
        assert_eq!(refreshes.instance_refreshes().len(), 1, "{}: no refresh started twice", r.region);
        assert_eq!(r.versions(&templates[i]).await.0, [1, 2], "{}: no version made twice", r.region);
    }
}

#[tokio::test]
async fn every_bad_targets_file_or_flag_is_a_usage_error_before_any_request_and_a_dry_run_sizes_the_timeout() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    let lt = "lt-0123456789abcdef0";
    let entry = |region: &str, extra: &str| {
        format!(r#"{{"region": "{region}", "launch_template_id": "{lt}", "auto_scaling_group": "web"{extra}}}"#)
    };
    let file = |name: &str, entries: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("[{}]", entries.join(","))).unwrap();
        path.to_string_lossy().into_owned()
    };
    let one = |name: &str, extra: &str| file(name, &[entry("us-east-1", extra)]);
    let eleven: Vec<String> = (1..=11).map(|i| format!("\"a{i}\"")).collect();
    let good = one("good.json", r#", "wave": 1, "alarms": ["errors"]"#);
    let ten_flags: Vec<&str> = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"].iter().flat_map(|a| ["--alarm", *a]).collect();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![one("zero.json", r#", "wave": 0"#)], "target 1 (us-east-1): wave must be a whole number from 1, got 0"),
        (vec![one("text.json", r#", "wave": "1""#)], "wave must be a whole number from 1, got \"1\""),
        (vec![one("half.json", r#", "wave": 1.5"#)], "got 1.5"),
        (vec![one("empty-alarm.json", r#", "alarms": ["errors", ""]"#)], "alarm name \"\" is not 1 to 255 printable characters"),
        (vec![one("eleven.json", &format!(r#", "alarms": [{}]"#, eleven.join(",")))], "11 alarms: a refresh watches at most 10"),
        (vec![file("mixed.json", &[entry("us-east-1", r#", "wave": 1"#), entry("eu-west-1", "")])], "target 2 has no wave"),
        (vec![good.clone(), "--max-parallel".into(), "0".into()], "--max-parallel"),
        ([vec![good.clone()], ten_flags.iter().map(|s| s.to_string()).collect()].concat(), "at most 10"),
        (vec![good.clone(), "--wave-bake".into(), "soon".into()], "--wave-bake"),
        (vec![good.clone(), "--notify-topic".into(), "deploys".into()], "is not an SNS topic ARN"),
        (
            vec![
                good.clone(),
                "--verify-target-group".into(),
                "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef".into(),
            ],
            "--verify-target-group is in eu-west-1, but target 1 (us-east-1) is in us-east-1",
        ),
    ];
    aws.reset_calls();
    for (args, says) in &cases {
        let run = deploy(&aws, dir.path(), &args.iter().map(String::as_str).collect::<Vec<_>>()).output();
        let context = format!("{args:?}:\n{}", run.stderr);
        assert_eq!((run.code, run.stderr.lines().count()), (2, 1), "{context}");
        assert!(run.stderr.starts_with("deploy-tools deploy: ") && run.stderr.contains(says), "names {says:?}: {context}");
    }

    // A dry run: 1 + 4 targets, 2 at once, a 10-minute bake, the default timeouts (900 s to
    // verify, 3600 s to refresh), and the way back for all five.
    let regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"];
    let waves = file(
        "waves.json",
        &regions.iter().enumerate().map(|(i, r)| entry(r, &format!(r#", "wave": {}"#, 1 + usize::from(i > 0)))).collect::<Vec<_>>(),
    );
    let run =
        deploy(&aws, dir.path(), &[&waves, "--dry-run", "--max-parallel", "2", "--wave-bake", "10m", "--rollback-on-failure"]).expect(0);
    for line in [
        "wave 1: 1 target, at worst 75 minutes (4500s)",
        "wave 2: 4 targets, at worst 150 minutes (9000s)",
        "bake times between waves: 10 minutes (600s)",
        "rollback of every target: 180 minutes (10800s)",
        "worst case in all: 415 minutes (24900s)",
    ] {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
    assert!(aws.calls().is_empty(), "bad input and a dry run send nothing: {:?}", aws.calls());
}

/// Every action in the policy files named, across `regions`: the calls made there since the
/// last reset (but `the_tests`, the test's own) must be within them, and each action of `own`
/// must have been called.
fn within_policies(regions: &[LocalAws], files: &[&str], own: &str, the_tests: &[&str]) {
    let read = |file: &str| -> std::collections::BTreeSet<String> {
        let text = std::fs::read_to_string(deploy_tests::root().join(format!("scripts/iam/{file}.json"))).unwrap();
        let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()))
            .collect()
    };
    let allowed: std::collections::BTreeSet<String> = files.iter().chain([&own]).flat_map(|f| read(f)).collect();
    let called: std::collections::BTreeSet<String> = regions
        .iter()
        .flat_map(|r| r.calls().into_keys().chain(r.authorized().into_keys()))
        .filter(|a| !the_tests.contains(&a.as_str()))
        .collect();
    let missing: Vec<_> = called.difference(&allowed).collect();
    assert!(missing.is_empty(), "called {missing:?}, which no policy of {files:?} or {own} allows");
    let unused: Vec<_> = read(own).into_iter().filter(|a| !called.contains(a)).collect();
    assert!(unused.is_empty(), "scripts/iam/{own}.json allows {unused:?}, which was never called");
}

#[tokio::test]
async fn the_bake_between_waves_watches_every_deployed_targets_alarms_and_one_in_alarm_takes_the_fleet_back() {
    let regions = LocalAws::start_regions(2).await;
    let (builds, templates) = deploy_world(&regions).await;
    let dir = workdir();
    // Target 1 has an alarm of its own; both watch "latency" (REFRESH_ALARMS).
    let file = targets_file(dir.path(), &regions, &templates, &[1, 2], &[&["errors"]]);
    regions[0].alarm("errors").await;
    for r in &regions {
        r.alarm("latency").await;
    }
    let topic = aws_sdk_sns::Client::new(&regions[0].config).create_topic().name("deploys").send().await.unwrap().topic_arn.unwrap();
    for r in &regions {
        r.reset_calls();
    }
    let args = [file.as_str(), "-o", "json", "--wave-bake", "1m", "--rollback-on-failure", "--notify-topic", &topic];
    let (mut child, mut stderr) = deploy(&regions[0], dir.path(), &args).env("REFRESH_ALARMS", "latency").spawn_until("wave bake: ");
    // The rest of stderr, read as it comes, so that the deploy never waits on a full pipe.
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    regions[0].alarm_state("errors", "ALARM", "5XX errors after the deploy").await;
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let code = child.wait().unwrap().code();
    let stderr = rest.join().unwrap();
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");

    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let bake = &report["waves"][0]["bake"];
    assert!(bake["seconds"].as_f64().unwrap() < 60.0, "the alarm ended the bake: {bake}");
    let fired = bake["alarms"][0].as_str().unwrap();
    assert!(fired.starts_with(&format!("alarm errors ({}) is in ALARM: 5XX errors after the deploy", regions[0].region)), "{fired}");
    assert_eq!(outcomes(&report), [pair("deployed", "previous"), pair("not_started", "previous")]);
    assert_eq!(report["waves"][0]["targets"][0]["rollback"]["version"], 1);
    assert_eq!(running(&regions).await, on(&builds[0], &regions), "the fleet is back on b1");
    // Target 1's refresh watched both of its alarms.
    let refreshes = regions[0].asg().describe_instance_refreshes().auto_scaling_group_name("app").send().await.unwrap();
    let first = refreshes.instance_refreshes().last().unwrap();
    let watched = first.preferences().and_then(|p| p.alarm_specification()).map(|a| a.alarms().to_vec());
    assert_eq!(watched, Some(vec!["latency".to_owned(), "errors".to_owned()]));
    let sent = regions[0].sns_sent(&topic);
    assert_eq!(sent.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["deploy FAILED: app main build b2"]);
    within_policies(
        &regions,
        &["prune-amis", "latest-ami", "verify-ami", "bump-launch-template", "instance-refresh", "rollback"],
        "deploy-tools-deploy",
        &["cloudwatch:SetAlarmState"],
    );
}
