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
