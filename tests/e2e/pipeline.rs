//! The whole pipeline: buildspec.yml's own commands, the real Packer, the local AWS.

use std::collections::BTreeSet;

use deploy_tests::{workdir, LocalAws, Ran};

struct World {
    lt: String,
    group: String,
    env: Vec<(String, String)>,
}

async fn world(aws: &LocalAws, dir: &std::path::Path) -> World {
    let run = aws.pipeline(dir, &["world"], &[("ASG_NAME", "app")]).expect(0);
    let made = run.json();
    let lt = made["LAUNCH_TEMPLATE_ID"].as_str().unwrap().to_owned();
    let env = vec![
        ("SOURCE_AMI".to_owned(), made["SOURCE_AMI"].as_str().unwrap().to_owned()),
        ("LAUNCH_TEMPLATE_ID".to_owned(), lt.clone()),
        ("ASG_NAME".to_owned(), "app".to_owned()),
        ("BRANCH".to_owned(), "main".to_owned()),
        ("AMIS_TO_KEEP".to_owned(), "1".to_owned()),
        ("VERSIONS_TO_KEEP".to_owned(), "2".to_owned()),
    ];
    World { lt, group: "app".into(), env }
}

fn deploy(aws: &LocalAws, dir: &std::path::Path, w: &World) -> Ran {
    let env: Vec<(&str, &str)> = w.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    aws.pipeline(dir, &["run", "pre_build", "build", "post_build"], &env)
}

/// The AMIs the group's instances run or a version of its launch template names.
async fn in_use(aws: &LocalAws, w: &World) -> BTreeSet<String> {
    let mut amis: BTreeSet<String> = aws.group_amis(&w.group).await.into_iter().collect();
    let out = aws.ec2().describe_launch_template_versions().launch_template_id(&w.lt).send().await.unwrap();
    amis.extend(
        out.launch_template_versions().iter().filter_map(|v| v.launch_template_data().and_then(|d| d.image_id()).map(str::to_owned)),
    );
    amis
}

fn baked(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("latest_ami_id")).unwrap().trim().to_owned()
}

#[tokio::test]
async fn deploys_in_a_row_leave_the_group_on_the_last_bake_and_clean_up() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let w = world(&aws, dir.path()).await;
    // Another application bakes the same branch: the pipeline (APP=app) leaves its AMIs be.
    let builder = aws.builder_instance().await;
    let other_app = aws.bake_tagged(&builder, "main", &[("app", "other")], 2).await;

    let mut all_amis = Vec::new();
    let mut snapshots = std::collections::BTreeMap::new();
    // Five: the way back (VERSIONS_TO_KEEP, and the version a rollback would go back to) keeps
    // older AMIs in use for a while.
    let mut in_use_before_last = BTreeSet::new();
    for n in 0..5 {
        if n == 4 {
            in_use_before_last = in_use(&aws, &w).await;
        }
        let run = deploy(&aws, dir.path(), &w).expect(0);
        assert!(run.stdout.contains("Instance refresh Successful"), "{}", run.stdout);
        let ami = baked(dir.path());
        snapshots.insert(ami.clone(), aws.snapshots_of(&ami).await);
        all_amis.push(ami);
    }
    let last = all_amis.last().unwrap().clone();

    // Every instance runs what the last Packer build made.
    assert_eq!(aws.group_amis(&w.group).await, vec![last.clone(), last.clone()]);

    // The launch template: the newest 2 versions, version 1 (default and source), and 4, where
    // a rollback of the group (on 5 when the last bump ran) would go back to.
    assert_eq!(aws.versions(&w.lt).await, (vec![1, 4, 5, 6], 1));

    // The branch holds the newest AMI (AMIS_TO_KEEP=1) and, besides it, exactly the AMIs that
    // were in use when the last prune ran (it runs before the bump and the refresh).
    let remaining: Vec<String> = aws.branch_amis("main").await.into_iter().filter(|a| !other_app.contains(a)).collect();
    assert_eq!(aws.branch_amis("main").await.len(), remaining.len() + 2, "the other application's AMIs remain");
    // Packer tagged the image and its snapshot with the application.
    let image = aws.ec2().describe_images().image_ids(&last).send().await.unwrap();
    let tags = image.images()[0].tags();
    assert!(tags.iter().any(|t| t.key() == Some("app") && t.value() == Some("app")), "{tags:?}");
    let snap = aws.ec2().describe_snapshots().snapshot_ids(&snapshots[&last][0]).send().await.unwrap();
    assert!(snap.snapshots()[0].tags().iter().any(|t| t.key() == Some("app")), "{:?}", snap.snapshots()[0].tags());
    let mut expected: BTreeSet<String> = in_use_before_last.into_iter().filter(|a| all_amis.contains(a)).collect();
    expected.insert(last.clone());
    assert_eq!(remaining.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert!(!remaining.contains(&all_amis[0]), "the oldest, no longer used, was pruned");
    // No snapshot of a pruned AMI remains.
    for (ami, snaps) in &snapshots {
        if !remaining.contains(ami) {
            for snap in snaps {
                assert!(!aws.snapshot_exists(snap).await, "snapshot {snap} of pruned {ami} remains");
            }
        }
    }
    assert!(remaining.len() < all_amis.len(), "something was pruned: {remaining:?}");
}

#[tokio::test]
async fn a_failed_refresh_rolls_back_and_stops_the_pipeline() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let w = world(&aws, dir.path()).await;
    deploy(&aws, dir.path(), &w).expect(0);
    let previous = baked(dir.path());

    aws.refresh_fault(&w.group, "fail_after", 1, "new instances failed their health checks");
    let run = deploy(&aws, dir.path(), &w);
    assert_ne!(run.code, 0, "the pipeline stops with a failure\n{}", run.stderr);
    assert!(run.stdout.contains("RollbackSuccessful"), "{}", run.stdout);
    assert_ne!(baked(dir.path()), previous, "a new AMI was baked and picked");
    assert_eq!(aws.group_amis(&w.group).await, vec![previous.clone(), previous]);
}

#[tokio::test]
async fn the_packer_template_validates() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    // pre_build alone: the variable check and `packer validate`.
    let env = [("LAUNCH_TEMPLATE_ID", "lt-0123456789abcdef0"), ("ASG_NAME", "app"), ("SOURCE_AMI", "ami-0123456789abcdef0")];
    aws.pipeline(dir.path(), &["run", "pre_build"], &env).expect(0);
    // The same step fails on a template Packer rejects, so passing above means something.
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, r#"{"builders": [{"type": "amazon-ebs", "name": "local"}]}"#).unwrap();
    let broken_env = [env[0], env[1], env[2], ("PACKER_TEMPLATE", broken.to_str().unwrap())];
    let run = aws.pipeline(dir.path(), &["run", "pre_build"], &broken_env);
    assert_ne!(run.code, 0, "{run:?}");
    // And a required variable left empty stops it.
    let run = aws.pipeline(
        dir.path(),
        &["run", "pre_build"],
        &[("LAUNCH_TEMPLATE_ID", ""), ("ASG_NAME", "app"), ("SOURCE_AMI", "ami-0123456789abcdef0")],
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("set LAUNCH_TEMPLATE_ID"), "{}", run.stderr);
}

/// The group's instances' AMI names (the build each runs), sorted.
async fn builds_of(aws: &LocalAws, group: &str) -> Vec<String> {
    let mut names = Vec::new();
    for ami in aws.group_amis(group).await {
        let out = aws.ec2().describe_images().image_ids(&ami).send().await.unwrap();
        names.push(out.images()[0].name().unwrap().to_owned());
    }
    names
}

#[tokio::test]
async fn several_regions_get_one_build_region_by_region_and_a_failed_refresh_stops_the_rest() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let regions = LocalAws::start_regions(3).await;
    let home = &regions[0];
    let dir = workdir();
    let list = deploy_tests::regions::names(&regions);
    let made = home.pipeline(dir.path(), &["world"], &[("REGIONS", &list), ("ASG_NAME", "app")]).expect(0).json();
    let (source, targets) = (made["SOURCE_AMI"].as_str().unwrap(), made["DEPLOY_TARGETS"].as_str().unwrap());
    let env = [("SOURCE_AMI", source), ("DEPLOY_TARGETS", targets), ("BRANCH", "main"), ("AMIS_TO_KEEP", "2"), ("VERSIONS_TO_KEEP", "2")];
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(targets).unwrap()).unwrap();
    let lt = |i: usize| file[i]["launch_template_id"].as_str().unwrap().to_owned();

    // A targets file naming a Region twice stops the build before Packer bakes anything.
    let twice = dir.path().join("twice.json");
    std::fs::write(&twice, format!("[{0}, {0}]", file[1])).unwrap();
    let bad_env = [env[0], ("DEPLOY_TARGETS", twice.to_str().unwrap()), env[2], env[3], env[4]];
    let run = home.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &bad_env);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("deploy-tools targets: {}: Region {} is named twice", twice.display(), regions[1].region)),
        "{}",
        run.stderr
    );
    assert!(home.branch_amis("main").await.is_empty(), "nothing baked");

    // One deploy: Packer copies the AMI to the other Regions, and every group runs that build.
    let run = home.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &env).expect(0);
    let first = builds_of(home, "app").await;
    assert_eq!(first.len(), 2, "{}", run.stderr);
    for r in &regions {
        assert_eq!(builds_of(r, "app").await, first, "{} runs the same build", r.region);
        // Packer tagged each copy and its snapshot.
        let amis = r.branch_amis("main").await;
        assert_eq!(amis.len(), 1, "{}: {amis:?}", r.region);
        let snap = &r.snapshots_of(&amis[0]).await[0];
        let tags = r.ec2().describe_snapshots().snapshot_ids(snap).send().await.unwrap();
        assert!(tags.snapshots()[0].tags().iter().any(|t| t.key() == Some("app") && t.value() == Some("app")), "{}", r.region);
    }
    let lines = std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap();
    assert_eq!(lines.lines().map(|l| l.split(' ').next().unwrap()).collect::<Vec<_>>().join(","), list);

    // The next build's refresh fails in the second Region: the first runs it, the third is
    // never touched (no new template version, no refresh, the first build), the deploy failed.
    let third_versions = regions[2].versions(&lt(2)).await;
    regions[1].refresh_fault("app", "fail_after", 1, "new instances failed their health checks");
    let run = home.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &env);
    assert_ne!(run.code, 0, "the deploy failed\n{}", run.stderr);
    let second = builds_of(home, "app").await;
    assert_ne!(second, first, "the first Region got the new build\n{}", run.stderr);
    // The first deploy left the groups on numbered versions, so the failed refresh rolled back.
    let refreshes = regions[1].asg().describe_instance_refreshes().auto_scaling_group_name("app").send().await.unwrap();
    assert_eq!(refreshes.instance_refreshes()[0].status().map(|s| s.as_str()), Some("RollbackSuccessful"));
    assert_eq!(builds_of(&regions[1], "app").await, first, "the second Region is back on the previous build");
    assert_eq!(builds_of(&regions[2], "app").await, first, "the third Region keeps the previous build");
    assert_eq!(regions[2].versions(&lt(2)).await, third_versions, "nor was its template bumped");
    let refreshes = regions[2].asg().describe_instance_refreshes().auto_scaling_group_name("app").send().await.unwrap();
    assert_eq!(refreshes.instance_refreshes().len(), 1, "only the first deploy's refresh");
    assert!(run.stderr.contains("not started: targets 3; the fleet: new build: targets 1; previous build: targets 2, 3"), "{}", run.stderr);

    // The next build fails its check in the second Region: its template is not bumped there,
    // and the third is not touched; the first Region verified and deployed it.
    let second_versions = regions[1].versions(&lt(1)).await;
    regions[1].command_outcome("systemctl is-active app", 1, "inactive\n", 0.1);
    let env: Vec<(&str, &str)> = env.iter().copied().chain([("VERIFY_COMMAND", "systemctl is-active app")]).collect();
    let run = home.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &env);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_ne!(builds_of(home, "app").await, second, "the first Region got the third build\n{}", run.stderr);
    assert_eq!(regions[1].versions(&lt(1)).await, second_versions, "no version for the image that failed there");
    let failed = format!("target 2 ({}) group app: verification: ", regions[1].region);
    assert!(run.stderr.contains(&failed) && run.stderr.contains("not started: targets 3"), "{}", run.stderr);
    assert_eq!(builds_of(&regions[2], "app").await, first, "the third Region keeps the first build");
}

/// The README's command for Regions in waves: `REGIONS=us-east-1,eu-west-1,us-west-2 WAVES=1,2,2
/// scripts/local-run`.
#[test]
fn local_run_deploys_three_regions_in_waves_and_reports_one_build() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let env = [("REGIONS", "us-east-1,eu-west-1,us-west-2"), ("WAVES", "1,2,2"), ("REFRESH_INTERVAL", "0.2")];
    let (code, stdout, stderr) = deploy_tests::local_run(&env);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("Deploy of branch main to 3 targets, in waves 1,2,2: succeeded"), "{stdout}");
    let sections: Vec<&str> = stdout.lines().filter(|l| l.contains(": group app, wave ")).map(str::trim).collect();
    assert_eq!(sections, ["us-east-1: group app, wave 1", "eu-west-1: group app, wave 2", "us-west-2: group app, wave 2"], "{stdout}");
    // The deploy's own report: wave 1 alone, then wave 2's two targets.
    assert!(stdout.contains("wave 1 (1 target, ") && stdout.contains("wave 2 (2 targets, "), "{stdout}");
    // Six instances, two in each Region, all on one build, which the report names.
    let builds: BTreeSet<&str> = stdout.lines().filter_map(|l| l.split_once("  build ").map(|(_, b)| b.trim())).collect();
    let instances = stdout.lines().filter(|l| l.contains("  build ")).count();
    assert_eq!((instances, builds.len()), (6, 1), "{stdout}");
    assert!(stdout.contains(&format!("every group runs build {}", builds.first().unwrap())), "{stdout}");
}

#[tokio::test]
async fn the_deploy_takes_this_builds_image_even_when_another_build_made_a_newer_one() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let mut w = world(&aws, dir.path()).await;
    for (k, v) in w.env.iter_mut() {
        if k == "AMIS_TO_KEEP" {
            *v = "2".into();
        }
    }
    // Another build of the same branch and application, running at the same time, whose AMI
    // is newer than the one this build bakes.
    let builder = aws.builder_instance().await;
    let theirs = aws.bake_tagged(&builder, "main", &[("app", "app"), ("build", "another-build")], 1).await;
    aws.age_image(&theirs[0], -1.0);

    let run = deploy(&aws, dir.path(), &w).expect(0);
    assert!(run.stdout.contains("Instance refresh Successful"), "{}", run.stdout);
    let ours = baked(dir.path());
    assert_ne!(ours, theirs[0], "latest-ami took the other build's image");
    assert_eq!(aws.group_amis(&w.group).await, vec![ours.clone(), ours.clone()]);

    // Packer tagged the image and its snapshots with the build and the commit.
    let image = aws.ec2().describe_images().image_ids(&ours).send().await.unwrap();
    let tag =
        |tags: &[aws_sdk_ec2::types::Tag], key: &str| tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned);
    let build = tag(image.images()[0].tags(), "build").expect("a build tag");
    assert!(build.starts_with("local-run:"), "{build}");
    let head =
        std::process::Command::new("git").args(["-C", deploy_tests::root().to_str().unwrap(), "rev-parse", "HEAD"]).output().unwrap();
    assert_eq!(tag(image.images()[0].tags(), "commit").as_deref(), Some(String::from_utf8_lossy(&head.stdout).trim()));
    let snap = aws.snapshots_of(&ours).await;
    let snaps = aws.ec2().describe_snapshots().snapshot_ids(&snap[0]).send().await.unwrap();
    assert_eq!(tag(snaps.snapshots()[0].tags(), "build"), Some(build));
}

fn image_tag(image: &aws_sdk_ec2::operation::describe_images::DescribeImagesOutput, key: &str) -> Option<String> {
    image.images()[0].tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value()).map(str::to_owned)
}

#[tokio::test]
async fn an_image_that_fails_verification_stops_the_pipeline_before_the_template_changes() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let mut w = world(&aws, dir.path()).await;
    w.env.push(("VERIFY_COMMAND".into(), "systemctl is-active app".into()));
    deploy(&aws, dir.path(), &w).expect(0);
    let good = baked(dir.path());
    let versions = aws.versions(&w.lt).await;

    aws.command_outcome("systemctl is-active app", 3, "inactive\n", 0.2);
    let run = deploy(&aws, dir.path(), &w);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let bad = baked(dir.path());
    assert_ne!(bad, good, "a new AMI was baked and picked");
    assert!(run.stderr.contains(&format!("verify-ami: {bad} failed verification")), "{}", run.stderr);
    assert!(run.stdout.contains("inactive"), "the command's output is in the build log\n{}", run.stdout);
    assert_eq!(aws.versions(&w.lt).await, versions, "the launch template did not change");
    assert_eq!(aws.group_amis(&w.group).await, vec![good.clone(), good.clone()], "the group runs the tested image");
    let image = aws.ec2().describe_images().image_ids(&bad).send().await.unwrap();
    assert_eq!(image_tag(&image, "verification").as_deref(), Some("failed"));
    assert!(aws.live_verify_instances(&bad).await.is_empty());
    // Without the build tag, latest-ami passes over it for the last good image.
    assert_eq!(aws.run("latest-ami", dir.path(), &["main"]).expect(0).stdout.trim(), good);
}

#[tokio::test]
async fn two_pipelines_of_one_branch_at_once_each_deploy_their_own_build_and_the_newer_stays() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let root = workdir();
    let mut w = world(&aws, root.path()).await;
    for (k, v) in w.env.iter_mut() {
        if k == "AMIS_TO_KEEP" {
            *v = "2".into();
        }
    }
    let dirs = [root.path().join("a"), root.path().join("b")];
    let runs: Vec<Ran> = std::thread::scope(|s| {
        let handles: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, dir)| {
                let (aws, w) = (&aws, &w);
                s.spawn(move || {
                    std::fs::create_dir_all(dir).unwrap();
                    // The second build starts a second later: its Packer timestamp (the build's
                    // start, by which builds are ordered) is the newer one.
                    if i == 1 {
                        std::thread::sleep(std::time::Duration::from_millis(1100));
                    }
                    let id = format!("codebuild:build-{i}");
                    let mut env: Vec<(&str, &str)> = w.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    env.push(("CODEBUILD_BUILD_ID", &id));
                    aws.pipeline(dir, &["run", "pre_build", "build", "post_build"], &env)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mine: Vec<String> = dirs.iter().map(|d| baked(d)).collect();
    for (i, ami) in mine.iter().enumerate() {
        let image = aws.ec2().describe_images().image_ids(ami).send().await.unwrap();
        assert_eq!(image_tag(&image, "build"), Some(format!("codebuild:build-{i}")), "pipeline {i} picked its own build's image");
        assert_eq!(image_tag(&image, "verification").as_deref(), Some("passed"), "and verified it");
    }
    // The newer build deployed; the older either deployed first or was refused as older.
    assert_eq!(runs[1].code, 0, "{}", runs[1].stderr);
    assert!(runs[0].code == 0 || runs[0].stderr.contains("older build"), "{}", runs[0].stderr);
    assert_eq!(aws.group_amis(&w.group).await, vec![mine[1].clone(), mine[1].clone()]);
}

/// The README's command for a bad image: `VERIFY=fail scripts/local-run`.
#[test]
fn local_run_with_a_failing_check_stops_before_the_template_changes() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let (code, stdout, stderr) = deploy_tests::local_run(&[("VERIFY", "fail"), ("REFRESH_INTERVAL", "0.2"), ("VERIFY_INTERVAL", "0.2")]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("Deploy of branch main to group app: FAILED (exit status 1)"), "{stdout}");
    assert!(
        stdout.contains("  verification:            FAILED: i-") && stdout.contains("the SSM command failed with exit code 1"),
        "{stdout}"
    );
    assert!(stdout.contains("  launch template version: none (versions kept: [1], default 1)"), "{stdout}");
    assert!(stdout.contains("  instance refresh:        none"), "{stdout}");
    assert_eq!(stdout.matches("(previous AMI)").count(), 2, "{stdout}");
}

/// The README's stack on the local AWS: `STACK=1 scripts/local-run` deploys the pipeline stack
/// and runs the buildspec with the variables of the CodeBuild project it made.
#[test]
fn local_run_takes_its_variables_from_the_deployed_stacks_project() {
    if !deploy_tests::slow_lane() {
        return;
    }
    deploy_tests::awscli_dir();
    // The stack's parameters, not local-run's defaults (3 and 3), must decide.
    let (code, stdout, stderr) =
        deploy_tests::local_run(&[("STACK", "1"), ("DEPLOYS", "3"), ("STACK_PARAMETERS", "AmisToKeep=2 VersionsToKeep=2")]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("local-run: variables from the CodeBuild project app-main-deploy: AMIS_TO_KEEP=2 VERSIONS_TO_KEEP=2"),
        "{stderr}"
    );
    assert!(stdout.contains("Deploy of branch main to group app: succeeded"), "{stdout}");
    // VERSIONS_TO_KEEP=2 from the project: the newest two, the default, and 2, where a rollback
    // of the group (on 3 when the last bump ran) would go back to.
    assert!(stdout.contains("launch template version: 4 (versions kept: [1, 2, 3, 4], default 1)"), "{stdout}");
}

/// Every call a build makes (Packer's and the tools', with what they use on the caller's
/// behalf) is one the pipeline stack's service role allows.
#[tokio::test]
async fn the_stacks_role_allows_every_call_of_a_build() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let w = world(&aws, dir.path()).await;
    aws.reset_calls();
    let mut env: Vec<(&str, &str)> = w.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("VERIFY_COMMAND", "true"));
    aws.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &env).expect(0);
    let called: BTreeSet<String> = aws.calls().keys().chain(aws.authorized().keys()).cloned().collect();
    assert!(called.contains("ec2:CreateImage") && called.contains("ssm:SendCommand"), "Packer and verify-ami ran: {called:?}");

    let template = deploy_tests::stack::template();
    let mut allowed = BTreeSet::new();
    for policy in template["Resources"]["ServiceRole"]["Properties"]["Policies"].as_array().unwrap() {
        for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            let statement = statement.get("Fn::If").map_or(statement, |branches| &branches[1]);
            match &statement["Action"] {
                serde_json::Value::Array(actions) => allowed.extend(actions.iter().map(|a| a.as_str().unwrap().to_owned())),
                one => {
                    allowed.insert(one.as_str().unwrap().to_owned());
                }
            }
        }
    }
    let missing: Vec<&String> = called.difference(&allowed).collect();
    assert!(missing.is_empty(), "a build calls {missing:?}, which the stack's role does not allow");
}

/// The build account bakes once and shares the AMI; the deploy goes account by account in the
/// targets file's order, each through its role: verified, bumped and refreshed there.
#[tokio::test]
async fn one_build_is_shared_with_two_workload_accounts_and_deployed_in_each_in_order() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let workloads = ["222233334444", "333344445555"];
    let made = aws.pipeline(dir.path(), &["world"], &[("ACCOUNTS", &workloads.join(",")), ("ASG_NAME", "app")]).expect(0).json();
    let (source, targets) = (made["SOURCE_AMI"].as_str().unwrap(), made["DEPLOY_TARGETS"].as_str().unwrap());
    let env = [("SOURCE_AMI", source), ("DEPLOY_TARGETS", targets), ("BRANCH", "main"), ("AMIS_TO_KEEP", "1"), ("VERSIONS_TO_KEEP", "2")];
    let run = aws.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &env).expect(0);

    // Baked once, in the build account, and shared with both accounts.
    let baked = aws.branch_amis("main").await;
    assert_eq!(baked.len(), 1, "{}", run.stderr);
    let ami = &baked[0];
    let permissions = aws.ec2().describe_image_attribute().image_id(ami).attribute("launchPermission".into()).send().await.unwrap();
    let shared: Vec<&str> = permissions.launch_permissions().iter().filter_map(|p| p.user_id()).collect();
    assert_eq!(shared, workloads, "Packer's ami_users, from the targets' roles");
    let mut at = Vec::new();
    for account in workloads {
        let workload = aws.in_account(account).await;
        let running = workload.group_amis("app").await;
        assert!(!running.is_empty() && running.iter().all(|a| a == ami), "{account}'s group runs the build: {running:?}\n{}", run.stderr);
        assert!(workload.branch_amis("main").await.is_empty(), "no AMI of its own in {account}");
        // verify-ami booted it there and recorded its verdict in that account.
        let seen = workload.ec2().describe_images().image_ids(ami).send().await.unwrap();
        assert_eq!(image_tag(&seen, "verification").as_deref(), Some("passed"), "{account}");
        let line = format!("target {} {} (account {account}) app: verify", at.len() + 1, aws.region);
        at.push(run.stderr.find(&line).unwrap_or_else(|| panic!("{line:?} in {}", run.stderr)));
    }
    assert!(at[0] < at[1], "the first account deployed first");
    assert!(run.stdout.contains("Deploy of build ") && run.stdout.contains(" to 2 targets: SUCCEEDED"), "{}", run.stdout);
}

/// REFRESH_ALARMS and REFRESH_BAKE_TIME reach the refresh the buildspec starts.
#[tokio::test]
async fn the_buildspecs_alarms_and_bake_time_are_the_refreshs() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let dir = workdir();
    let w = world(&aws, dir.path()).await;
    aws.alarm("errors").await;
    aws.alarm("latency p99").await;
    let mut env: Vec<(&str, &str)> = w.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([("REFRESH_ALARMS", "errors,latency p99"), ("REFRESH_BAKE_TIME", "2m")]);
    let run = aws.pipeline(dir.path(), &["run", "pre_build", "build", "post_build"], &env).expect(0);
    assert!(run.stdout.contains("Instance refresh Successful"), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("Instance refresh Baking"), "{}", run.stderr);
    let refreshes = aws.asg().describe_instance_refreshes().auto_scaling_group_name(&w.group).send().await.unwrap();
    let prefs = refreshes.instance_refreshes()[0].preferences().unwrap();
    let alarms = prefs.alarm_specification().map(|a| a.alarms().to_vec());
    assert_eq!((prefs.bake_time(), alarms), (Some(120), Some(vec!["errors".to_owned(), "latency p99".to_owned()])));
}

/// The README's command for an alarm in the bake time: `ALARM=fire scripts/local-run`.
#[test]
fn local_run_with_an_alarm_during_the_bake_rolls_the_group_back() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let (code, stdout, stderr) = deploy_tests::local_run(&[("ALARM", "fire"), ("REFRESH_INTERVAL", "0.2"), ("VERIFY_INTERVAL", "0.2")]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("Deploy of branch main to group app: FAILED (exit status 1)"), "{stdout}");
    assert!(stdout.contains("  instance refresh:        RollbackSuccessful (CloudWatch alarm app-errors is in ALARM state"), "{stdout}");
    assert!(stdout.contains("  the group runs:          launch template version 1"), "{stdout}");
    assert_eq!(stdout.matches("(previous AMI)").count(), 2, "back on the previous image: {stdout}");
    assert!(stderr.contains("alarm app-errors is in ALARM"), "instance-refresh says which alarm: {stderr}");
}
