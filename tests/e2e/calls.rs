//! Each tool makes the fewest AWS calls its job needs. Counted at the local AWS, so exact.

use std::collections::BTreeMap;

use deploy_tests::{refresh_config, workdir, LocalAws, World};

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn latest_ami_makes_one_listing() {
    let aws = LocalAws::start().await;
    aws.world("main", 5).build().await;
    let dir = workdir();
    aws.reset_calls();
    aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(aws.calls(), counts(&[("ec2:DescribeImages", 1)]));
}

#[tokio::test]
async fn prune_makes_the_listing_the_in_use_lookups_and_one_call_per_delete() {
    let aws = LocalAws::start().await;
    aws.app_world(14, 13, "1", 1).await;
    let dir = workdir();
    aws.reset_calls();
    aws.run("prune-amis", dir.path(), &["main", "2"]).expect(0);
    // 12 AMIs to delete, one snapshot each; one group using one template; the launch
    // configurations in one listing. SSM and recipe references are asked 10 AMIs a call; launch permissions one AMI a call, only for those deleted;
    // one DeregisterImage per AMI deletes its snapshot too (no DeleteSnapshot).
    assert_eq!(
        aws.calls(),
        counts(&[
            ("ec2:DescribeImages", 1),
            ("ec2:DescribeInstances", 1),
            ("autoscaling:DescribeAutoScalingGroups", 1),
            ("autoscaling:DescribeLaunchConfigurations", 1),
            ("ec2:DescribeLaunchTemplateVersions", 2),
            ("ec2:DescribeImageReferences", 2),
            ("ec2:DescribeImageAttribute", 12),
            ("ec2:DeregisterImage", 12),
        ])
    );
}

#[tokio::test]
async fn prune_with_include_shared_reads_no_launch_permissions() {
    let aws = LocalAws::start().await;
    aws.app_world(5, 4, "1", 1).await;
    let dir = workdir();
    aws.reset_calls();
    aws.run("prune-amis", dir.path(), &["main", "2", "--include-shared"]).expect(0);
    let calls = aws.calls();
    assert_eq!(calls.get("ec2:DescribeImageAttribute"), None, "{calls:?}");
    assert_eq!(calls["ec2:DescribeImageReferences"], 1);
    assert_eq!(calls["ec2:DeregisterImage"], 3);
}

#[tokio::test]
async fn prune_with_nothing_old_makes_only_the_listing() {
    let aws = LocalAws::start().await;
    aws.app_world(2, 1, "1", 1).await;
    let dir = workdir();
    aws.reset_calls();
    aws.run("prune-amis", dir.path(), &["main", "2"]).expect(0);
    assert_eq!(aws.calls(), counts(&[("ec2:DescribeImages", 1)]));
}

#[tokio::test]
async fn bump_makes_a_create_the_lookups_and_one_delete_per_200() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").group("web", "$Latest", 1).build().await;
    aws.add_versions(&lt, &amis[0], 6).await;
    let dir = workdir();
    aws.reset_calls();
    aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "3"]).expect(0);
    // The AMI, the versions and the groups (at once); then the instance type the AMI must fit,
    // the refreshes of the one group that uses the template and its older versions' AMIs (the
    // version a rollback would go back to stays), at once; the create, and the delete.
    assert_eq!(
        aws.calls(),
        counts(&[
            ("ec2:DescribeImages", 2),
            ("ec2:DescribeInstanceTypes", 1),
            ("ec2:CreateLaunchTemplateVersion", 1),
            ("ec2:DescribeLaunchTemplateVersions", 1),
            ("autoscaling:DescribeAutoScalingGroups", 1),
            ("autoscaling:DescribeInstanceRefreshes", 1),
            ("ec2:DeleteLaunchTemplateVersions", 1),
        ])
    );
}

#[tokio::test]
async fn refresh_makes_a_start_and_one_describe_per_poll() {
    let aws = LocalAws::start().await;
    aws.app_world(2, 0, "$Latest", 2).await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");
    aws.reset_calls();
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--interval", "0.1", "-o", "json"]).expect(0);
    let polls = run.json()["polls"].as_u64().unwrap();
    assert!(polls >= 2, "{polls}");
    assert_eq!(aws.calls(), counts(&[("autoscaling:StartInstanceRefresh", 1), ("autoscaling:DescribeInstanceRefreshes", polls)]));
}

#[tokio::test]
async fn refresh_dry_run_starts_nothing() {
    let aws = LocalAws::start().await;
    aws.app_world(1, 0, "$Latest", 1).await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), r#"{"Preferences": {"MinHealthyPercentage": 50}}"#);
    aws.reset_calls();
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--dry-run"]).expect(0);
    assert_eq!(run.stdout, "Would start an instance refresh of web\n");
    assert_eq!(aws.calls(), counts(&[("autoscaling:DescribeAutoScalingGroups", 1)]));
    let run = aws.run("instance-refresh", dir.path(), &[&cfg, "nosuchgroup", "--dry-run"]).expect(1);
    assert!(run.error_line("instance-refresh").contains("nosuchgroup"));
}

#[tokio::test]
async fn verbose_logs_each_call_with_its_request_id_and_time() {
    let aws = LocalAws::start().await;
    aws.world("main", 1).build().await;
    let dir = workdir();
    let run = aws.run("latest-ami", dir.path(), &["main", "-v"]).expect(0);
    let line = run.stderr.lines().find(|l| l.contains("ec2:DescribeImages")).unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(line.contains("HTTP 200") && line.contains(" ms ") && line.contains("request id "), "{line}");
    let quiet = aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert!(!quiet.stderr.contains("ec2:DescribeImages"), "only with -v: {}", quiet.stderr);
}

#[tokio::test]
async fn across_regions_one_region_check_then_each_region_its_own_calls() {
    let regions = LocalAws::start_regions(3).await;
    let builds = deploy_tests::regions::bake_copied(&regions, "main", 4).await;
    let list = deploy_tests::regions::names(&regions);
    let dir = workdir();
    for r in &regions {
        r.reset_calls();
    }
    regions[0].run("latest-ami", dir.path(), &["--regions", &list, "main"]).expect(0);
    // DescribeRegions once, in the Region the config names; one listing in each Region.
    assert_eq!(regions[0].calls(), counts(&[("ec2:DescribeRegions", 1), ("ec2:DescribeImages", 1)]));
    for r in &regions[1..] {
        assert_eq!(r.calls(), counts(&[("ec2:DescribeImages", 1)]), "{}", r.region);
    }

    for r in &regions {
        r.reset_calls();
    }
    regions[0].run("prune-amis", dir.path(), &["--regions", &list, "main", "2"]).expect(0);
    // Each Region: its listing, its in-use lookups (no group, no template: one describe of
    // each kind), one reference check and one launch-permission read and delete per AMI.
    let per_region = |extra: &[(&str, u64)]| {
        let mut c = counts(&[
            ("ec2:DescribeImages", 1),
            ("ec2:DescribeInstances", 1),
            ("autoscaling:DescribeAutoScalingGroups", 1),
            ("autoscaling:DescribeLaunchConfigurations", 1),
            ("ec2:DescribeLaunchTemplateVersions", 1),
            ("ec2:DescribeImageReferences", 1),
            ("ec2:DescribeImageAttribute", 2),
            ("ec2:DeregisterImage", 2),
        ]);
        c.extend(counts(extra));
        c
    };
    assert_eq!(regions[0].calls(), per_region(&[("ec2:DescribeRegions", 1)]));
    for r in &regions[1..] {
        assert_eq!(r.calls(), per_region(&[]), "{}", r.region);
    }
    assert_eq!(builds.len(), 4);
}

#[tokio::test]
async fn verify_makes_its_fixed_calls_and_one_call_per_look() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).profiled("app").build().await;
    let tg = aws.target_group("web").await;
    let dir = workdir();

    // Three instances, the status checks only: one DescribeInstanceStatus a look for all three.
    aws.reset_calls();
    let report = aws.run("verify-ami", dir.path(), &[&lt, &amis[0], "--count", "3", "--interval", "0.3", "-o", "json"]).expect(0).json();
    let looks = report["looks"].as_u64().unwrap();
    assert!(looks >= 2, "the checks start initializing, so more than one look: {report}");
    let once = [
        ("ec2:DescribeImages", 1),
        ("ec2:DescribeLaunchTemplateVersions", 1),
        ("ec2:DescribeInstances", 1),
        ("ec2:RunInstances", 1),
        ("ec2:TerminateInstances", 1),
        ("ec2:CreateTags", 1),
    ];
    let mut expected = counts(&once);
    expected.insert("ec2:DescribeInstanceStatus".into(), looks);
    assert_eq!(aws.calls(), expected);

    // One instance, every check: each look is one call (status, agent, invocation or health).
    aws.reset_calls();
    let args = [&lt, &amis[0], "--interval", "0.3", "--ssm-command", "true", "--target-group-arn", &tg, "-o", "json"];
    let report = aws.run("verify-ami", dir.path(), &args).expect(0).json();
    let calls = aws.calls();
    let per_look = [
        "ec2:DescribeInstanceStatus",
        "ssm:DescribeInstanceInformation",
        "ssm:GetCommandInvocation",
        "elasticloadbalancing:DescribeTargetHealth",
    ];
    assert_eq!(per_look.iter().map(|c| calls[*c]).sum::<u64>(), report["looks"].as_u64().unwrap(), "{calls:?}");
    for (call, n) in once.iter().chain(&[
        ("ssm:SendCommand", 1),
        ("elasticloadbalancing:RegisterTargets", 1),
        ("elasticloadbalancing:DeregisterTargets", 1),
    ]) {
        assert_eq!(calls.get(*call), Some(n), "{call}: {calls:?}");
    }
    assert_eq!(calls.len(), once.len() + 3 + per_look.len(), "nothing else: {calls:?}");
}
