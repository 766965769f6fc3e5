//! rollback takes a group back: a refresh under way is rolled back; after a deploy, the group
//! is refreshed to its template's last good version (the newest older one whose AMI passed
//! verification and can still launch).

use aws_sdk_autoscaling::types::{DesiredConfiguration, LaunchTemplateSpecification};
use deploy_tests::{workdir, LocalAws};

const FAST: [&str; 2] = ["--interval", "0.1"];

fn on(lt: &str, version: &str) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder().launch_template_id(lt).version(version).build()
}

async fn verified(aws: &LocalAws, ami: &str, verdict: &str) {
    let tag = aws_sdk_ec2::types::Tag::builder().key("verification").value(verdict).build();
    aws.ec2().create_tags().resources(ami).tags(tag).send().await.unwrap();
}

#[tokio::test]
async fn a_refresh_under_way_is_rolled_back_and_followed_to_its_end() {
    let aws = LocalAws::start_with_step(0.5).await;
    let (lt, old, _) = aws.refresh_world("web", "1").await;
    let desired = DesiredConfiguration::builder().launch_template(on(&lt, "2")).build();
    aws.asg().start_instance_refresh().auto_scaling_group_name("web").desired_configuration(desired).send().await.unwrap();
    let dir = workdir();
    let run = aws.run("rollback", dir.path(), &[&lt, "web", FAST[0], FAST[1], "-o", "json"]).expect(0);
    let report = run.json();
    assert_eq!(
        (report["how"].as_str(), report["status"].as_str()),
        (Some("rollback-of-refresh"), Some("RollbackSuccessful")),
        "{}",
        run.stderr
    );
    assert_eq!(aws.group_amis("web").await, vec![old.clone(), old], "back on what it ran");
}

#[tokio::test]
async fn a_refresh_aws_cannot_roll_back_is_said_so_in_one_line() {
    let aws = LocalAws::start_with_step(0.5).await;
    let (lt, _, _) = aws.refresh_world("web", "$Latest").await;
    let desired = DesiredConfiguration::builder().launch_template(on(&lt, "2")).build();
    aws.asg().start_instance_refresh().auto_scaling_group_name("web").desired_configuration(desired).send().await.unwrap();
    let dir = workdir();
    let run = aws.run("rollback", dir.path(), &[&lt, "web", FAST[0], FAST[1]]).expect(1);
    let line = run.error_line("rollback");
    assert!(line.contains("cannot be rolled back (IrreversibleInstanceRefresh:") && line.contains("$Latest"), "{line}");
}

#[tokio::test]
async fn after_a_deploy_the_group_goes_back_to_the_last_good_version() {
    let aws = LocalAws::start().await;
    let (lt, old, new) = aws.refresh_world("web", "1").await;
    // Version 3 runs an AMI that failed verification: never a place to go back to.
    let bad = aws.bake(&aws.builder_instance().await, "main", 1).await.remove(0);
    verified(&aws, &bad, "failed").await;
    aws.add_versions(&lt, &bad, 1).await;
    verified(&aws, &old, "passed").await;
    let dir = workdir();
    // The deploy: version 2, which the group now runs.
    aws.run(
        "instance-refresh",
        dir.path(),
        &[
            &deploy_tests::refresh_config(dir.path(), "{}"),
            "web",
            "--launch-template-id",
            &lt,
            "--launch-template-version",
            "2",
            FAST[0],
            FAST[1],
        ],
    )
    .expect(0);
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new.clone()]);

    let dry = aws.run("rollback", dir.path(), &[&lt, "web", "--dry-run"]).expect(0);
    assert_eq!(dry.stdout, format!("Would refresh web back to version 1 of {lt} ({old})\n"));
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new], "a dry run changes nothing");

    let run = aws.run("rollback", dir.path(), &[&lt, "web", FAST[0], FAST[1], "-o", "json"]).expect(0);
    let report = run.json();
    assert_eq!(report["how"], "refresh-to-version");
    assert_eq!((report["from_version"].as_str(), report["to_version"].as_i64()), (Some("2"), Some(1)));
    assert_eq!((report["image_id"].as_str(), report["status"].as_str()), (Some(old.as_str()), Some("Successful")));
    assert_eq!(aws.group_amis("web").await, vec![old.clone(), old]);
}

#[tokio::test]
async fn with_nothing_good_to_go_back_to_it_says_why_and_to_version_names_one() {
    let aws = LocalAws::start().await;
    let (lt, old, _) = aws.refresh_world("web", "1").await;
    aws.asg().update_auto_scaling_group().auto_scaling_group_name("web").launch_template(on(&lt, "2")).send().await.unwrap();
    let dir = workdir();
    let line = aws.run("rollback", dir.path(), &[&lt, "web", FAST[0], FAST[1]]).expect(1).error_line("rollback").to_owned();
    assert!(line.contains("no older version runs an AMI that passed verification") && line.contains("--to-version"), "{line}");
    let run = aws.run("rollback", dir.path(), &[&lt, "web", "--to-version", "1", FAST[0], FAST[1]]).expect(0);
    assert_eq!(run.stdout, format!("Refresh of web back to version 1 of {lt}: Successful\n"));
    assert_eq!(aws.group_amis("web").await, vec![old.clone(), old]);
}
