//! Every use of an AMI counts: groups on launch configurations, templates that a mixed
//! instances policy's overrides name, EC2 Image Builder recipes. Such AMIs are kept by
//! `prune-amis` (with the reason in the plan) and refused by `delete-ami`; `bump-launch-template`
//! keeps an override's pinned version and refuses an AMI that cannot run where the template
//! launches it.

use std::collections::BTreeMap;

use aws_sdk_autoscaling::types::{LaunchTemplate, LaunchTemplateOverrides, LaunchTemplateSpecification, MixedInstancesPolicy};
use aws_sdk_ec2::types::{ArchitectureValues, BootModeValues, InstanceType, RequestLaunchTemplateData};
use deploy_tests::{workdir, LocalAws, World};

/// The world: AMIs `amis[0..8]` of branch main, oldest first.
/// - amis[0]: the launch configuration "classic-lc", which group "classic" launches from;
/// - amis[1]: the launch configuration "spare-lc", which no group uses;
/// - amis[2]: version 2 of template "arm-lt", which group "mixed"'s second override pins
///   (its template's default and latest versions run amis[7]);
/// - amis[3]: an Image Builder image recipe's parent image; amis[4]: a container recipe's;
/// - amis[5], amis[6]: nothing uses them; amis[7]: the newest.
struct EveryUse {
    amis: Vec<String>,
    arm_lt: String,
    image_recipe: String,
    container_recipe: String,
}

async fn world(aws: &LocalAws) -> EveryUse {
    let World { amis, .. } = aws.world("main", 8).build().await;
    let asg = aws.asg();
    for (name, ami) in [("classic-lc", &amis[0]), ("spare-lc", &amis[1])] {
        asg.create_launch_configuration().launch_configuration_name(name).image_id(ami).instance_type("t3.micro").send().await.unwrap();
    }
    aws.new_group("classic", 1).launch_configuration_name("classic-lc").send().await.unwrap();

    let web_lt = aws.launch_template("web-lt", &amis[7]).await;
    let arm_lt = aws.template_on("arm-lt", &amis[7]).await;
    aws.add_versions(&arm_lt, &amis[2], 1).await;
    aws.add_versions(&arm_lt, &amis[7], 1).await;
    let policy = LaunchTemplate::builder()
        .launch_template_specification(LaunchTemplateSpecification::builder().launch_template_id(&web_lt).version("$Latest").build())
        .overrides(LaunchTemplateOverrides::builder().instance_type("t3.micro").build())
        .overrides(
            LaunchTemplateOverrides::builder()
                .instance_type("t4g.micro")
                .launch_template_specification(LaunchTemplateSpecification::builder().launch_template_id(&arm_lt).version("2").build())
                .build(),
        )
        .build();
    aws.new_group("mixed", 1).mixed_instances_policy(MixedInstancesPolicy::builder().launch_template(policy).build()).send().await.unwrap();

    let image_recipe = aws.recipe("image", "web", &amis[3]);
    let container_recipe = aws.recipe("container", "web-container", &amis[4]);
    EveryUse { amis, arm_lt, image_recipe, container_recipe }
}

#[tokio::test]
async fn prune_keeps_and_delete_refuses_what_configurations_overrides_and_recipes_use() {
    let aws = LocalAws::start().await;
    let w = world(&aws).await;
    let dir = workdir();

    let dry = aws.run("prune-amis", dir.path(), &["main", "1", "--dry-run", "-o", "json"]).expect(0).json();
    let p = deploy_tests::plan_of(&dry);
    let kept = [
        (0, "group classic launches launch configuration classic-lc".to_owned()),
        (1, "launch configuration spare-lc names it".to_owned()),
        (2, format!("group mixed launches launch template {} version 2 (override 2)", w.arm_lt)),
        (3, format!("Image Builder image recipe {} builds on it", w.image_recipe)),
        (4, format!("Image Builder container recipe {} builds on it", w.container_recipe)),
    ];
    for (i, reason) in &kept {
        let (action, why) = &p[&w.amis[*i]];
        assert_eq!(action, "keep", "amis[{i}]: {why}");
        assert!(why.contains(reason.as_str()), "amis[{i}]: {why:?} lacks {reason:?}");
    }
    assert_eq!(p[&w.amis[5]].0, "delete");
    assert_eq!(p[&w.amis[6]].0, "delete");

    let text = aws.run("prune-amis", dir.path(), &["main", "1", "--dry-run"]).expect(0);
    assert!(text.stdout.contains("launch configuration classic-lc"), "the text plan gives the reason: {}", text.stdout);

    aws.run("prune-amis", dir.path(), &["main", "1"]).expect(0);
    let mut left: Vec<String> = [0, 1, 2, 3, 4, 7].iter().map(|&i| w.amis[i].clone()).collect();
    left.sort();
    assert_eq!(aws.branch_amis("main").await, left);

    for (i, reason) in &kept {
        let run = aws.run("delete-ami", dir.path(), &[&w.amis[*i]]).expect(1);
        let line = run.error_line("delete-ami");
        assert!(line.contains("refusing to delete") && line.contains(reason.as_str()), "amis[{i}]: {line}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
    }
    assert_eq!(aws.branch_amis("main").await, left, "nothing refused was deleted");
}

#[tokio::test]
async fn bump_keeps_an_overrides_pinned_version_and_checks_its_instance_type() {
    let aws = LocalAws::start().await;
    let w = world(&aws).await;
    let dir = workdir();

    // The override launches arm-lt on t4g.micro (arm64): an x86_64 AMI cannot run there.
    let run = aws.run("bump-launch-template", dir.path(), &[&w.arm_lt, &w.amis[7], "2"]).expect(1);
    let line = run.error_line("bump-launch-template");
    assert!(line.contains(&format!("{} is x86_64; t4g.micro runs arm64 (group mixed)", w.amis[7])), "{line}");
    assert_eq!(aws.versions(&w.arm_lt).await.0, [1, 2, 3], "no version made");

    let arm_builder = aws.builder_instance_of(ArchitectureValues::Arm64).await;
    let arm = aws.bake(&arm_builder, "arm", 1).await;
    let v = aws.run("bump-launch-template", dir.path(), &[&w.arm_lt, &arm[0], "2", "-o", "json"]).expect(0).json();
    assert_eq!(v["version"], 4);
    assert_eq!(v["deleted_versions"], serde_json::json!([]));
    let kept: BTreeMap<i64, String> =
        v["kept"].as_array().unwrap().iter().map(|k| (k["version"].as_i64().unwrap(), k["reason"].as_str().unwrap().to_owned())).collect();
    assert!(kept[&2].contains("group mixed launches it"), "{kept:?}");
    assert_eq!(aws.versions(&w.arm_lt).await.0, [1, 2, 3, 4]);
}

/// A template on `instance_type` whose one version launches `ami`.
async fn template_of(aws: &LocalAws, name: &str, ami: &str, instance_type: InstanceType) -> String {
    let data = RequestLaunchTemplateData::builder().image_id(ami).instance_type(instance_type).build();
    let out = aws.ec2().create_launch_template().launch_template_name(name).launch_template_data(data).send().await.unwrap();
    out.launch_template().unwrap().launch_template_id().unwrap().to_owned()
}

#[tokio::test]
async fn bump_refuses_an_ami_that_cannot_run_on_the_template() {
    let aws = LocalAws::start().await;
    let ec2 = aws.ec2();
    let dir = workdir();
    let World { amis: x86, template: lt, .. } = aws.world("main", 4).template("web").build().await;
    let arm = aws.bake(&aws.builder_instance_of(ArchitectureValues::Arm64).await, "main", 1).await;
    let no_ena = aws.register_image("no-ena", ArchitectureValues::X8664, None, None).await;
    let uefi = aws.register_image("uefi", ArchitectureValues::X8664, Some(BootModeValues::Uefi), Some(true)).await;
    let legacy = template_of(&aws, "legacy", &x86[0], InstanceType::T2Micro).await;
    ec2.disable_image().image_id(&x86[1]).send().await.unwrap();
    aws.image_state(&x86[2], "pending");

    let refused = [
        (&lt, &arm[0], format!("{} is arm64; t3.micro runs x86_64 (the template's instance type)", arm[0])),
        (&lt, &no_ena, format!("{no_ena} has no ENA support; t3.micro requires ENA")),
        (&legacy, &uefi, format!("{uefi} boots uefi; t2.micro boots legacy-bios")),
        (&lt, &x86[1], format!("{} is disabled", x86[1])),
        (&lt, &x86[2], format!("{} is pending, not available", x86[2])),
    ];
    for (template, ami, says) in &refused {
        aws.reset_calls();
        let run = aws.run("bump-launch-template", dir.path(), &[template.as_str(), ami.as_str(), "2"]).expect(1);
        let line = run.error_line("bump-launch-template");
        assert!(line.contains(says.as_str()) && line.ends_with("no version created"), "{ami}: {line}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {}", run.stderr);
        assert_eq!(run.stdout, "");
        assert!(!aws.calls().contains_key("ec2:CreateLaunchTemplateVersion"), "no version made: {:?}", aws.calls());
    }
    assert_eq!(aws.versions(&lt).await.0, [1]);
    assert_eq!(aws.versions(&legacy).await.0, [1]);

    // A matching AMI bumps; so does a legacy-bios one on t2.micro.
    assert_eq!(aws.run("bump-launch-template", dir.path(), &[&lt, &x86[3], "2"]).expect(0).stdout.trim(), "2");
    assert_eq!(aws.run("bump-launch-template", dir.path(), &[&legacy, &x86[3], "2"]).expect(0).stdout.trim(), "2");
}

/// A group "abis" choosing instance types for `lt` by attributes (2+ vCPUs, 2+ GiB, and
/// `manufacturers` if any).
async fn abis_group(aws: &LocalAws, lt: &str, manufacturers: &[aws_sdk_autoscaling::types::CpuManufacturer]) {
    use aws_sdk_autoscaling::types::{InstanceRequirements, MemoryMiBRequest, VCpuCountRequest};
    let requirements = InstanceRequirements::builder()
        .v_cpu_count(VCpuCountRequest::builder().min(2).build())
        .memory_mib(MemoryMiBRequest::builder().min(2048).build())
        .set_cpu_manufacturers((!manufacturers.is_empty()).then(|| manufacturers.to_vec()))
        .build();
    let policy = LaunchTemplate::builder()
        .launch_template_specification(LaunchTemplateSpecification::builder().launch_template_id(lt).version("$Latest").build())
        .overrides(LaunchTemplateOverrides::builder().instance_requirements(requirements).build())
        .build();
    aws.new_group("abis", 1).mixed_instances_policy(MixedInstancesPolicy::builder().launch_template(policy).build()).send().await.unwrap();
}

#[tokio::test]
async fn types_chosen_by_attributes_are_checked_where_ec2_answers() {
    let aws = LocalAws::start().await;
    let World { amis: x86, .. } = aws.world("main", 2).build().await;
    let arm = aws.bake(&aws.builder_instance_of(ArchitectureValues::Arm64).await, "arm", 1).await;
    let lt = aws.template_on("abis", &x86[0]).await;
    abis_group(&aws, &lt, &[aws_sdk_autoscaling::types::CpuManufacturer::Intel]).await;
    let dir = workdir();

    // Intel only: no type the requirements allow runs arm64.
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &arm[0], "2"]).expect(1);
    let line = run.error_line("bump-launch-template");
    let says = format!(
        "{} is arm64; no instance type that group abis (its mixed instances policy's template)'s instance requirements allow runs arm64",
        arm[0]
    );
    assert!(line.contains(&says), "{line}");
    assert_eq!(aws.versions(&lt).await.0, [1], "no version made");

    aws.reset_calls();
    let v = aws.run("bump-launch-template", dir.path(), &[&lt, &x86[1], "2", "-o", "json"]).expect(0).json();
    assert_eq!(v["not_checked"], serde_json::json!([]), "EC2 answered");
    assert_eq!(aws.calls()["ec2:GetInstanceTypesFromInstanceRequirements"], 1);

    // Where EC2 gives no answer, the bump goes on and says what was not checked.
    aws.deny(&["ec2:GetInstanceTypesFromInstanceRequirements"]);
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &x86[1], "2", "-o", "json"]).expect(0);
    let notes = run.json()["not_checked"].as_array().unwrap().clone();
    assert!(notes.len() == 1 && notes[0].as_str().unwrap().contains("UnauthorizedOperation"), "{notes:?}");
    assert!(
        run.stderr.contains("warning: group abis (its mixed instances policy's template) chooses instance types by attributes"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn delete_ami_missing_ok_finishes_a_stored_list_after_a_crash() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 3).build().await;
    let dir = workdir();
    // An earlier run deleted amis[0] and amis[1] outright, then died before amis[2].
    aws.run("delete-ami", dir.path(), &[&amis[0], &amis[1]]).expect(0);

    let run = aws.run("delete-ami", dir.path(), &[&amis[0], &amis[1], &amis[2]]).expect(1);
    assert!(run.stderr.contains("does not exist") && run.stderr.contains("--missing-ok"), "{}", run.stderr);
    assert!(aws.branch_amis("main").await.is_empty(), "the rest still went");

    let again = [amis[0].as_str(), amis[1].as_str(), amis[2].as_str(), "--missing-ok", "-o", "json"];
    let v = aws.run("delete-ami", dir.path(), &again).expect(0).json();
    assert_eq!(v["failed"], serde_json::json!([]));
    let done: Vec<(&str, bool)> = v["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["image_id"].as_str().unwrap(), d["already_deregistered"].as_bool().unwrap()))
        .collect();
    assert_eq!(done, [(amis[0].as_str(), true), (amis[1].as_str(), true), (amis[2].as_str(), true)]);

    let text = aws.run("delete-ami", dir.path(), &[&amis[0], "--missing-ok"]).expect(0);
    assert_eq!(text.stdout, format!("AMI {} no longer exists, and nothing of it remains\n", amis[0]));
    // An ID that never existed is not "done" without the flag.
    aws.run("delete-ami", dir.path(), &["ami-0123456789abcdef0"]).expect(1);
}
