//! Acting in another account through a role (`--role-arn`, `--external-id`): every tool
//! assumes it once, on top of the standard chain, before its first call; a role that cannot be
//! assumed stops the tool with STS's error and nothing else sent.

use deploy_tests::{workdir, LocalAws, World};

const WORKLOAD: &str = "222233334444";

/// A role of the workload account, one a test: the local AWS's roles are the whole server's.
fn role(aws: &LocalAws) -> String {
    format!("arn:aws:iam::{WORKLOAD}:role/deploy-{}", aws.region)
}

#[tokio::test]
async fn tools_act_in_the_roles_account_and_assume_it_once() {
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let dir = workdir();
    let World { amis: ours, .. } = aws.world("main", 1).build().await;
    let World { amis: theirs, .. } = workload.world("main", 3).build().await;
    let role = role(&aws);

    aws.reset_calls();
    let run = aws.run("latest-ami", dir.path(), &["main", "--role-arn", &role]).expect(0);
    assert!(run.stdout.contains(&theirs[2]), "the workload account's newest: {}", run.stdout);
    let calls = aws.calls();
    assert_eq!(calls.get("sts:AssumeRole"), Some(&1), "assumed once: {calls:?}");
    assert_eq!(calls.get("ec2:DescribeImages"), Some(&1), "{calls:?}");
    let run = aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert!(run.stdout.contains(&ours[0]), "without the role, this account: {}", run.stdout);

    // A prune through the role retires in that account only.
    aws.run("prune-amis", dir.path(), &["main", "1", "--role-arn", &role, "--external-id", "deploy-tools"]).expect(0);
    assert_eq!(workload.branch_amis("main").await, vec![theirs[2].clone()]);
    assert_eq!(aws.branch_amis("main").await, ours, "this account's AMIs stay");
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_stops_the_tool_before_anything_else() {
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let dir = workdir();
    let World { amis, .. } = workload.world("main", 2).build().await;
    let role = role(&aws);

    aws.unassumable(&role, None);
    aws.reset_calls();
    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--role-arn", &role]).expect(1);
    let line = run.error_line("prune-amis");
    assert!(line.contains(&format!("assuming role {role}")) && line.contains("AccessDenied"), "{line}");
    assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    assert_eq!(aws.calls().keys().collect::<Vec<_>>(), ["sts:AssumeRole"], "nothing but the AssumeRole");
    assert_eq!(workload.branch_amis("main").await.len(), amis.len(), "nothing retired");

    // A trust policy that asks for an external ID: refused without it, taken with it.
    aws.unassumable(&role, Some("build-account"));
    aws.run("latest-ami", dir.path(), &["main", "--role-arn", &role, "--external-id", "someone-else"]).expect(1);
    let run = aws.run("latest-ami", dir.path(), &["main", "--role-arn", &role, "--external-id", "build-account"]).expect(0);
    assert!(run.stdout.contains(&amis[1]), "{}", run.stdout);
}

#[tokio::test]
async fn the_targets_check_looks_in_each_targets_account_through_its_role() {
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let dir = workdir();
    let ours = aws.world("main", 1).template("app").group("web", "1", 0).build().await;
    let theirs = workload.world("main", 1).template("app").group("web", "1", 0).build().await;
    let role = role(&aws);
    let targets = dir.path().join("targets.json");
    let write = |entries: serde_json::Value| std::fs::write(&targets, entries.to_string()).unwrap();
    let file = targets.to_str().unwrap().to_owned();
    let region = aws.region;

    // One Region, two accounts: each target's template and group are looked up in its own.
    write(serde_json::json!([
        {"region": region, "launch_template_id": ours.template, "auto_scaling_group": "web"},
        {"region": region, "launch_template_id": theirs.template, "auto_scaling_group": "web", "role_arn": role, "external_id": "build-account"},
    ]));
    aws.reset_calls();
    let run = aws.tool("deploy-tools", dir.path()).args(["targets", &file]).expect(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], format!("{region}\t{}\tweb", ours.template));
    assert_eq!(lines[1], format!("{region}\t{}\tweb\t{role}\tbuild-account", theirs.template));
    assert_eq!(aws.calls().get("sts:AssumeRole"), Some(&1), "{:?}", aws.calls());
    let listed = aws.tool("deploy-tools", dir.path()).args(["targets", "--list-regions", &file]).expect(0);
    assert_eq!(listed.stdout.trim(), region, "the Region once");
    let listed = aws.tool("deploy-tools", dir.path()).args(["targets", "--list-regions", "--list-accounts", &file]).expect(0);
    assert_eq!(listed.stdout, format!("{region}\n{WORKLOAD}\n"), "the Regions, then the accounts to share with");

    // Our template named in their account does not exist there.
    write(serde_json::json!([{"region": region, "launch_template_id": ours.template, "auto_scaling_group": "web", "role_arn": role}]));
    let run = aws.tool("deploy-tools", dir.path()).args(["targets", &file]).expect(2);
    let line = run.error_line("deploy-tools targets");
    assert!(line.contains(&format!("target 1 ({region}, account {WORKLOAD})")) && line.contains("does not exist"), "{line}");

    // A role that cannot be assumed: the target named, STS's error, exit 1.
    aws.unassumable(&role, None);
    write(serde_json::json!([{"region": region, "launch_template_id": theirs.template, "auto_scaling_group": "web", "role_arn": role}]));
    let run = aws.tool("deploy-tools", dir.path()).args(["targets", &file]).expect(1);
    let line = run.error_line("deploy-tools targets");
    assert!(line.contains(&format!("target 1 ({region}, account {WORKLOAD})")) && line.contains("AccessDenied"), "{line}");
}

/// A launch permission for one account.
fn for_account(account: &str) -> aws_sdk_ec2::types::LaunchPermission {
    aws_sdk_ec2::types::LaunchPermission::builder().user_id(account).build()
}

/// The deploy's targets file: one target in the workload account, through `role`.
fn targets_file(dir: &std::path::Path, region: &str, template: &str, role: &str) -> String {
    let path = dir.join("targets.json");
    let entry = serde_json::json!([{"region": region, "launch_template_id": template, "auto_scaling_group": "web", "role_arn": role}]);
    std::fs::write(&path, entry.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

#[tokio::test]
async fn a_prune_with_targets_keeps_what_a_workload_account_launches_and_retires_what_none_uses() {
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let dir = workdir();
    // Five builds in the build account, oldest first; the three oldest shared with the
    // workload account, the fourth with an account no target names.
    let World { amis, .. } = aws.world("main", 5).build().await;
    for ami in &amis[..3] {
        aws.share_image(ami, for_account(WORKLOAD)).await;
    }
    aws.share_image(&amis[3], for_account("999988887777")).await;
    // There: an instance runs the oldest; its group is pinned to a template version naming
    // the second, while the template's latest names the newest.
    workload.ec2().run_instances().image_id(&amis[0]).min_count(1).max_count(1).send().await.unwrap();
    let lt = workload.launch_template("app", &amis[1]).await;
    workload.group("web", &lt, "1", 0).await;
    workload.add_versions(&lt, &amis[4], 1).await;
    let role = role(&aws);
    let targets = targets_file(dir.path(), aws.region, &lt, &role);

    // Without --targets, every shared AMI is kept: nothing here sees the other account.
    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--dry-run"]).expect(0);
    assert!(
        run.stdout.contains(&format!("keep {}", amis[2])) && run.stdout.contains(&format!("shared with account {WORKLOAD}")),
        "{}",
        run.stdout
    );

    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--targets", &targets, "--dry-run"]).expect(0);
    let line = |ami: &str| run.stdout.lines().find(|l| l.contains(ami)).unwrap_or_default().to_owned();
    assert!(line(&amis[0]).contains(&format!("in account {WORKLOAD}, instance")), "{}", run.stdout);
    assert!(
        line(&amis[1]).contains(&format!("in account {WORKLOAD}, group web launches launch template {lt} version 1")),
        "{}",
        run.stdout
    );
    assert!(line(&amis[3]).contains("shared with account 999988887777"), "an account no target names: {}", run.stdout);

    aws.reset_calls();
    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--targets", &targets]).expect(0);
    assert!(
        run.stdout.contains(&format!("deleted {}", amis[2])),
        "shared only with a checked account that uses it nowhere: {}",
        run.stdout
    );
    let mut kept = amis.clone();
    kept.remove(2);
    kept.sort();
    assert_eq!(aws.branch_amis("main").await, kept);
    let calls = aws.calls();
    assert_eq!(calls.get("sts:AssumeRole"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ec2:DescribeInstances"), Some(&2), "once in each account: {calls:?}");
    assert_eq!(calls.get("autoscaling:DescribeAutoScalingGroups"), Some(&2), "{calls:?}");
}

#[tokio::test]
async fn a_target_whose_role_cannot_be_assumed_stops_the_prune_before_anything_is_retired() {
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let dir = workdir();
    let World { amis, .. } = aws.world("main", 3).build().await;
    let lt = workload.launch_template("app", &amis[2]).await;
    let role = role(&aws);
    let targets = targets_file(dir.path(), aws.region, &lt, &role);
    aws.unassumable(&role, None);
    for extra in [vec![], vec!["--regions", aws.region]] {
        let args = [vec!["main", "1", "--targets", targets.as_str(), "--include-shared"], extra].concat();
        let run = aws.run("prune-amis", dir.path(), &args).expect(1);
        let line = run.error_line("prune-amis");
        assert!(line.contains(&format!("target 1 ({}, account {WORKLOAD})", aws.region)) && line.contains("AccessDenied"), "{line}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert_eq!(aws.branch_amis("main").await.len(), amis.len(), "nothing retired");
    }
}

#[tokio::test]
async fn a_failed_newest_build_that_a_workload_parameter_names_is_kept() {
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let dir = workdir();
    // The newest build failed verification, so it does not count among the newest MAX and the
    // rules would retire it; the workload account's SSM parameter still names it.
    let World { amis, .. } = aws.world("main", 3).build().await;
    let failed = aws_sdk_ec2::types::Tag::builder().key("verification").value("failed").build();
    aws.ec2().create_tags().resources(&amis[2]).tags(failed).send().await.unwrap();
    aws.share_image(&amis[2], for_account(WORKLOAD)).await;
    workload.ssm_image_parameter("/app/ami", &amis[2]);
    let lt = workload.launch_template("app", &amis[1]).await;
    let targets = targets_file(dir.path(), aws.region, &lt, &role(&aws));

    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--targets", &targets, "--dry-run"]).expect(0);
    let line = run.stdout.lines().find(|l| l.contains(&amis[2])).unwrap_or_default();
    assert!(line.contains(&format!("in account {WORKLOAD}, SSM parameter")), "{}", run.stdout);
    aws.run("prune-amis", dir.path(), &["main", "1", "--targets", &targets]).expect(0);
    assert!(aws.branch_amis("main").await.contains(&amis[2]));
}
