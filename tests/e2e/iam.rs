//! The IAM policies in scripts/iam/ list exactly the actions each tool calls.

use std::collections::BTreeSet;

use deploy_tests::{refresh_config, root, workdir, LocalAws, World};

fn policy_actions(tool: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(format!("scripts/iam/{tool}.json"))).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        for action in statement["Action"].as_array().unwrap() {
            actions.insert(action.as_str().unwrap().to_owned());
        }
    }
    actions
}

/// The calls made in the test's Region, and the permissions they used on the caller's behalf
/// (DescribeImageReferences reads SSM parameters), as IAM actions ("ec2:DescribeImages").
fn called(aws: &LocalAws) -> BTreeSet<String> {
    aws.calls().keys().chain(aws.authorized().keys()).cloned().collect()
}

/// Checks the calls a tool's runs made against its policy, both ways.
fn check(tool: &str, seen: BTreeSet<String>) {
    let allowed = policy_actions(tool);
    let missing: Vec<_> = seen.difference(&allowed).collect();
    assert!(missing.is_empty(), "{tool} called {missing:?}, which scripts/iam/{tool}.json does not allow");
    let unused: Vec<_> = allowed.difference(&seen).collect();
    assert!(unused.is_empty(), "scripts/iam/{tool}.json allows {unused:?}, which {tool} never called");
}

#[tokio::test]
async fn ami_tools_call_only_what_their_policies_allow() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 4).build().await;
    let dir = workdir();

    aws.reset_calls();
    aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    // Across Regions (the one Region, as a list): the Regions are checked first.
    aws.run("latest-ami", dir.path(), &["main", "--regions", aws.region]).expect(0);
    check("latest-ami", called(&aws));

    let lt = aws.launch_template("app", &amis[3]).await;
    aws.group("web", &lt, "1", 0).await;
    aws.reset_calls();
    let targets = dir.path().join("targets.json");
    std::fs::write(&targets, format!(r#"[{{"region": "{}", "launch_template_id": "{lt}", "auto_scaling_group": "web"}}]"#, aws.region))
        .unwrap();
    aws.tool("deploy-tools", dir.path()).args(["targets", targets.to_str().unwrap()]).expect(0);
    check("deploy-tools-targets", called(&aws));

    aws.reset_calls();
    // Each way of retiring: deprecate, disable, then delete (DeregisterImage deletes the
    // snapshots on the caller's ec2:DeleteSnapshot permission).
    aws.run("prune-amis", dir.path(), &["main", "3", "--retire", "deprecate"]).expect(0);
    aws.run("prune-amis", dir.path(), &["main", "3", "--retire", "disable"]).expect(0);
    aws.run("prune-amis", dir.path(), &["main", "3"]).expect(0);
    aws.run("prune-amis", dir.path(), &["main", "2", "--dry-run"]).expect(0);
    aws.run("prune-amis", dir.path(), &["main", "3", "--regions", aws.region]).expect(0);
    check("prune-amis", called(&aws));

    aws.reset_calls();
    aws.run("delete-ami", dir.path(), &[&amis[1]]).expect(0);
    // A delete cut short: the leftovers are found by description.
    aws.ec2().deregister_image().image_id(&amis[2]).send().await.unwrap();
    let mut seen = called(&aws);
    aws.reset_calls();
    aws.run("delete-ami", dir.path(), &[&amis[2]]).expect(0);
    seen.extend(called(&aws));
    check("delete-ami", seen);
}

#[tokio::test]
async fn bump_calls_only_what_its_policy_allows() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").group("web", "1", 1).build().await;
    // A second group choosing its instance types by attributes: bump asks EC2 which fit.
    let requirements = aws_sdk_autoscaling::types::InstanceRequirements::builder()
        .v_cpu_count(aws_sdk_autoscaling::types::VCpuCountRequest::builder().min(2).build())
        .memory_mib(aws_sdk_autoscaling::types::MemoryMiBRequest::builder().min(2048).build())
        .build();
    let policy = aws_sdk_autoscaling::types::LaunchTemplate::builder()
        .launch_template_specification(
            aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&lt).version("$Latest").build(),
        )
        .overrides(aws_sdk_autoscaling::types::LaunchTemplateOverrides::builder().instance_requirements(requirements).build())
        .build();
    let mixed = aws_sdk_autoscaling::types::MixedInstancesPolicy::builder().launch_template(policy).build();
    aws.new_group("abis", 1).mixed_instances_policy(mixed).send().await.unwrap();
    aws.add_versions(&lt, &amis[0], 3).await;
    let dir = workdir();
    aws.reset_calls();
    aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "2", "--set-default"]).expect(0);
    check("bump-launch-template", called(&aws));
}

#[tokio::test]
async fn instance_refresh_calls_only_what_its_policy_allows() {
    // Slow refreshes, so that one is surely running when the tool starts.
    let aws = LocalAws::start_with_step(0.5).await;
    aws.refresh_world("web", "1").await;
    let dir = workdir();
    let cfg = refresh_config(dir.path(), "{}");

    aws.alarm("errors").await;
    aws.asg().start_instance_refresh().auto_scaling_group_name("web").send().await.unwrap();
    aws.reset_calls();
    // Reads its alarm, cancels the running one, pins version 2 (looking the group's template
    // up), then fails, and reads the alarm again.
    aws.refresh_fault("web", "fail_after", 1, "unhealthy");
    aws.run(
        "instance-refresh",
        dir.path(),
        &[&cfg, "web", "--if-running", "cancel", "--launch-template-version", "2", "--alarm", "errors", "--interval", "0.1"],
    )
    .expect(1);
    check("instance-refresh", called(&aws));
}

#[tokio::test]
async fn rollback_calls_only_what_its_policy_allows() {
    let aws = LocalAws::start_with_step(0.5).await;
    let (lt, old, _) = aws.refresh_world("web", "1").await;
    let tag = aws_sdk_ec2::types::Tag::builder().key("verification").value("passed").build();
    aws.ec2().create_tags().resources(&old).tags(tag).send().await.unwrap();
    let dir = workdir();
    // A refresh under way, rolled back; then, the group on version 2, a refresh back to the last
    // good version (1), which fails.
    let desired = aws_sdk_autoscaling::types::DesiredConfiguration::builder()
        .launch_template(aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&lt).version("2").build())
        .build();
    aws.asg().start_instance_refresh().auto_scaling_group_name("web").desired_configuration(desired).send().await.unwrap();
    aws.reset_calls();
    aws.run("rollback", dir.path(), &[&lt, "web", "--interval", "0.1"]).expect(0);
    let mut seen = called(&aws);
    let on_2 = aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&lt).version("2").build();
    aws.asg().update_auto_scaling_group().auto_scaling_group_name("web").launch_template(on_2).send().await.unwrap();
    aws.refresh_fault("web", "fail_after", 0, "unhealthy");
    aws.reset_calls();
    aws.run("rollback", dir.path(), &[&lt, "web", "--interval", "0.1"]).expect(1);
    seen.extend(called(&aws));
    check("rollback", seen);
}

#[tokio::test]
async fn verify_ami_calls_only_what_its_policy_allows() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 2).build().await;
    // An instance profile on the template: the launch passes its role (iam:PassRole).
    let lt = aws.profiled_template("app", &amis[0]).await;
    aws.group("web", &lt, "1", 0).await;
    let tg = aws.target_group("web").await;
    let dir = workdir();
    let fast = ["--interval", "0.2"];
    aws.reset_calls();
    // Fails (deprecated, then disabled on a second failure), then passes once it boots,
    // which clears the failure's reason; every check is asked for.
    aws.image_health(&amis[1], "impaired");
    aws.run("verify-ami", dir.path(), &[&lt, &amis[1], "--on-failure", "deprecate", fast[0], fast[1]]).expect(1);
    aws.run("verify-ami", dir.path(), &[&lt, &amis[1], "--on-failure", "disable", fast[0], fast[1]]).expect(1);
    let mut seen = called(&aws);
    aws.ec2().enable_image().image_id(&amis[1]).send().await.unwrap();
    aws.image_health(&amis[1], "ok");
    aws.reset_calls();
    aws.run(
        "verify-ami",
        dir.path(),
        &[&lt, &amis[1], "--asg", "web", "--ssm-command", "true", "--target-group-arn", &tg, fast[0], fast[1]],
    )
    .expect(0);
    aws.run("verify-ami", dir.path(), &[&lt, &amis[1], "--dry-run"]).expect(0);
    seen.extend(called(&aws));
    check("verify-ami", seen);
}

/// The actions of a policy's statements whose Sid starts with `prefix`.
fn statement_actions(file: &str, prefix: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(format!("scripts/iam/{file}.json"))).unwrap();
    let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut actions = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        if statement["Sid"].as_str().unwrap_or_default().starts_with(prefix) {
            actions.extend(statement["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()));
        }
    }
    actions
}

/// The calls made in the test's Region by `account`, and the permissions they used on its behalf.
fn called_by(aws: &LocalAws, account: &str) -> BTreeSet<String> {
    aws.calls_by(account).keys().chain(aws.authorized_by(account).keys()).cloned().collect()
}

/// In a workload account, through its role (scripts/iam/deploy-role.json): the prune's lookups
/// are exactly its statement's; every other step's calls are within the role; the build
/// account calls sts:AssumeRole only as scripts/iam/assume-deploy-roles.json allows.
#[tokio::test]
async fn the_workload_role_allows_every_call_made_in_its_account() {
    const WORKLOAD: &str = "222233334444";
    let aws = LocalAws::start().await;
    let workload = aws.in_account(WORKLOAD).await;
    let build_account = "123456789012";
    let dir = workdir();
    let World { amis, .. } = aws.world("main", 3).build().await;
    for ami in &amis {
        let permission = aws_sdk_ec2::types::LaunchPermission::builder().user_id(WORKLOAD).build();
        aws.share_image(ami, permission).await;
    }
    let lt = workload.profiled_template("app", &amis[0]).await;
    workload.group("web", &lt, "$Latest", 0).await;
    let tg = workload.target_group("web").await;
    let role = format!("arn:aws:iam::{WORKLOAD}:role/deploy-tools");
    let targets = dir.path().join("targets.json");
    let entry = serde_json::json!([{"region": aws.region, "launch_template_id": lt, "auto_scaling_group": "web", "role_arn": role}]);
    std::fs::write(&targets, entry.to_string()).unwrap();
    let targets = targets.to_str().unwrap();

    aws.reset_calls();
    aws.run("prune-amis", dir.path(), &["main", "1", "--targets", targets, "--dry-run"]).expect(0);
    assert_eq!(called_by(&aws, WORKLOAD), statement_actions("deploy-role", "PruneLookups"), "the prune's lookups there");
    let assumed: BTreeSet<String> = called_by(&aws, build_account).into_iter().filter(|a| a.starts_with("sts:")).collect();
    assert_eq!(assumed, policy_actions("assume-deploy-roles"), "the build account assumes the role, nothing more of STS");

    aws.reset_calls();
    let through = ["--role-arn", role.as_str()];
    aws.tool("deploy-tools", dir.path()).args(["targets", targets]).expect(0);
    let fast = ["--interval", "0.2"];
    let verify =
        [&[lt.as_str(), &amis[2], "--asg", "web", "--ssm-command", "true", "--target-group-arn", &tg][..], &fast, &through].concat();
    aws.run("verify-ami", dir.path(), &verify).expect(0);
    aws.run("bump-launch-template", dir.path(), &[&[lt.as_str(), &amis[2], "2", "--set-default"][..], &through].concat()).expect(0);
    let cfg = refresh_config(dir.path(), "{}");
    aws.run("instance-refresh", dir.path(), &[&[cfg.as_str(), "web"][..], &fast, &through].concat()).expect(0);
    let seen = called_by(&aws, WORKLOAD);
    let allowed = policy_actions("deploy-role");
    let missing: Vec<_> = seen.difference(&allowed).collect();
    assert!(missing.is_empty(), "the deploy called {missing:?} in the workload account, which scripts/iam/deploy-role.json does not allow");
    // The role deploys; it never deletes, retires or shares an image (only the owner can).
    for owner_only in
        ["ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:DisableImage", "ec2:EnableImageDeprecation", "ec2:ModifyImageAttribute"]
    {
        assert!(!allowed.contains(owner_only), "{owner_only}");
    }
    // Everything else it grants is what the tools' own policies grant.
    let tools: BTreeSet<String> = ["prune-amis", "deploy-tools-targets", "verify-ami", "bump-launch-template", "instance-refresh"]
        .iter()
        .flat_map(|t| policy_actions(t))
        .collect();
    let extra: Vec<_> = allowed.difference(&tools).collect();
    assert!(extra.is_empty(), "scripts/iam/deploy-role.json grants {extra:?}, which no tool's policy does");
}

/// One permission as a statement grants it: the action, its resources and its condition.
type Grant = (String, String, String);

fn grants(statement: &serde_json::Value) -> Vec<Grant> {
    let list = |v: &serde_json::Value| match v {
        serde_json::Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    };
    let resources = serde_json::Value::Array(list(&statement["Resource"])).to_string();
    let condition = statement.get("Condition").map_or(String::new(), |c| c.to_string());
    list(&statement["Action"]).iter().map(|a| (a.as_str().unwrap().to_owned(), resources.clone(), condition.clone())).collect()
}

/// A file's statement as the stack's role states it: deletes and retirements on this branch's
/// resources only (the files allow any branch tag), iam:PassRole to InstanceRoleArn only,
/// sts:AssumeRole to DeployRoleArns only, sns:Publish to the stack's topic only.
fn as_in_the_stack(mut statement: serde_json::Value) -> serde_json::Value {
    if statement["Condition"]["StringLike"]["aws:ResourceTag/branch"] == "*" {
        statement["Condition"] = serde_json::json!({"StringEquals": {"aws:ResourceTag/branch": {"Ref": "Branch"}}});
    }
    if statement["Action"] == serde_json::json!(["iam:PassRole"]) {
        statement["Resource"] = serde_json::json!({"Ref": "InstanceRoleArn"});
    }
    if statement["Action"] == serde_json::json!(["sts:AssumeRole"]) {
        statement["Resource"] = serde_json::json!({"Ref": "DeployRoleArns"});
    }
    if statement["Action"] == serde_json::json!(["sns:Publish"]) {
        statement["Resource"] = serde_json::json!({"Ref": "NotifyTopic"});
    }
    statement
}

#[test]
fn the_stacks_role_grants_exactly_the_tools_policies_and_packers() {
    let files = [
        "latest-ami",
        "prune-amis",
        "delete-ami",
        "bump-launch-template",
        "instance-refresh",
        "verify-ami",
        "rollback",
        "deploy-tools-targets",
        "deploy-tools-deploy",
        "assume-deploy-roles",
        "packer",
    ];
    let mut wanted = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(root().join(format!("scripts/iam/{file}.json"))).unwrap();
        let policy: serde_json::Value = serde_json::from_str(&text).unwrap();
        for statement in policy["Statement"].as_array().unwrap() {
            wanted.extend(grants(&as_in_the_stack(statement.clone())));
        }
    }
    let template = deploy_tests::stack::template();
    let policies = template["Resources"]["ServiceRole"]["Properties"]["Policies"].as_array().unwrap();
    let tools = policies.iter().find(|p| p["PolicyName"] == "tools-and-packer").expect("the tools-and-packer policy");
    let mut granted = BTreeSet::new();
    for statement in tools["PolicyDocument"]["Statement"].as_array().unwrap() {
        // The conditional statements: iam:PassRole, when the template names a profile, and
        // sts:AssumeRole, when the targets are in other accounts.
        let statement = match statement.get("Fn::If") {
            Some(branches) => branches[1].clone(),
            None => statement.clone(),
        };
        assert_eq!(statement["Effect"], "Allow");
        granted.extend(grants(&statement));
    }
    let missing: Vec<_> = wanted.difference(&granted).collect();
    assert!(missing.is_empty(), "the stack's role lacks {missing:?}, which scripts/iam/ grants");
    let extra: Vec<_> = granted.difference(&wanted).collect();
    assert!(extra.is_empty(), "the stack's role grants {extra:?}, which no file in scripts/iam/ does");
    // No delete or retirement anywhere without the branch condition.
    for (action, _, condition) in &granted {
        if ["ec2:DeregisterImage", "ec2:DeleteSnapshot", "ec2:DisableImage", "ec2:EnableImageDeprecation"].contains(&action.as_str()) {
            assert!(condition.contains("aws:ResourceTag/branch"), "{action} is not limited to the branch's resources");
        }
    }
    // The rest: the package, the build's own logs, the source connection, nothing wider.
    let other = policies.iter().find(|p| p["PolicyName"] == "package-logs-and-source").expect("the package-logs-and-source policy");
    let actions: BTreeSet<String> =
        other["PolicyDocument"]["Statement"].as_array().unwrap().iter().flat_map(grants).map(|(a, _, _)| a).collect();
    let expected = [
        "s3:GetObject",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "codeconnections:GetConnection",
        "codeconnections:GetConnectionToken",
        "codestar-connections:GetConnection",
        "codestar-connections:GetConnectionToken",
    ];
    assert_eq!(actions, expected.iter().map(|s| s.to_string()).collect());
    for statement in other["PolicyDocument"]["Statement"].as_array().unwrap() {
        assert_ne!(statement["Resource"], "*", "{statement}");
    }
}
