use deploy_tests::{workdir, LocalAws, World};

#[tokio::test]
async fn creates_a_version_with_the_ami_and_prints_its_number() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 2).template("app").build().await;
    let dir = workdir();

    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[1], "3"]).expect(0);
    assert_eq!(run.stdout, "2\n");
    let out = aws.ec2().describe_launch_template_versions().launch_template_id(&lt).versions("2").send().await.unwrap();
    let data = out.launch_template_versions()[0].launch_template_data().unwrap();
    assert_eq!(data.image_id(), Some(amis[1].as_str()));
    // Copied from version 1: the instance type is still there.
    assert_eq!(data.instance_type().map(|t| t.as_str()), Some("t3.micro"));
}

#[tokio::test]
async fn keeps_the_newest_plus_default_and_source_after_gaps() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").versions(9).build().await; // versions 1..=10
                                                                                                           // Gaps, as someone deleting by hand leaves them; and a default in the middle.
    aws.ec2().delete_launch_template_versions().launch_template_id(&lt).versions("3").versions("8").send().await.unwrap();
    aws.ec2().modify_launch_template().launch_template_id(&lt).default_version("5").send().await.unwrap();
    let dir = workdir();

    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "3"]).expect(0);
    assert_eq!(run.stdout, "11\n");
    // Newest 3 (9, 10, 11), default 5, source 1; the script would have deleted only 8.
    assert_eq!(aws.versions(&lt).await, (vec![1, 5, 9, 10, 11], 5));

    // From version 10 this time: it stays however old it gets.
    aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "2", "--source-version", "10"]).expect(0);
    assert_eq!(aws.versions(&lt).await, (vec![5, 10, 11, 12], 5));
}

#[tokio::test]
async fn deletes_in_batches_of_200() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").versions(250).build().await; // versions 1..=251
    let dir = workdir();
    aws.reset_calls();
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "2", "-o", "json"]).expect(0);
    let calls = aws.calls();
    assert_eq!(run.json()["deleted_versions"].as_array().unwrap().len(), 250 - 1);
    assert_eq!(aws.versions(&lt).await, (vec![1, 251, 252], 1));
    assert_eq!(calls.get("ec2:DeleteLaunchTemplateVersions"), Some(&2), "{calls:?}");
    assert_eq!(calls.get("ec2:CreateLaunchTemplateVersion"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ec2:DescribeLaunchTemplateVersions"), Some(&2), "two pages of 200: {calls:?}");
}

#[tokio::test]
async fn set_default_makes_the_new_version_the_default() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").build().await;
    let dir = workdir();
    aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "2", "--set-default"]).expect(0);
    assert_eq!(aws.versions(&lt).await, (vec![1, 2], 2));
}

#[tokio::test]
async fn fewer_than_two_versions_to_keep_is_refused_as_the_script_did() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 1).template("app").build().await;
    let dir = workdir();
    aws.reset_calls();
    for keep in ["1", "0", "-3"] {
        let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], keep]).expect(1);
        assert_eq!(run.error_line("bump-launch-template"), "bump-launch-template: Must keep at least 2 versions of launch template");
    }
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[0], "two"]).expect(2);
    assert!(run.stderr.contains("VERSIONS_TO_KEEP"), "{}", run.stderr);
    assert!(aws.calls().is_empty(), "nothing was sent: {:?}", aws.calls());
    assert_eq!(aws.versions(&lt).await, (vec![1], 1));
}

#[tokio::test]
async fn unknown_template_fails_with_the_aws_error() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let dir = workdir();
    let run = aws.run("bump-launch-template", dir.path(), &["lt-0123456789abcdef0", &amis[0], "2"]).expect(1);
    let line = run.error_line("bump-launch-template");
    assert!(line.contains("InvalidLaunchTemplateId.NotFound"), "{line}");
    assert!(line.contains("request id"), "{line}");
}

/// Tags AMIs of branch main with Packer's `timestamp` (the build's start).
async fn stamp(aws: &LocalAws, ami: &str, timestamp: &str) {
    let tag = aws_sdk_ec2::types::Tag::builder().key("timestamp").value(timestamp).build();
    aws.ec2().create_tags().resources(ami).tags(tag).send().await.unwrap();
}

#[tokio::test]
async fn an_older_build_over_a_newer_one_is_refused_unless_allow_older() {
    let aws = LocalAws::start().await;
    let builder = aws.builder_instance().await;
    // Build 200 finished first and is deployed; build 100, which started earlier, finished
    // after it. (Made in the other order on purpose: the timestamp, not the creation date,
    // says which build is newer.)
    let amis = aws.bake(&builder, "main", 3).await;
    let (newer, older, newest) = (&amis[0], &amis[1], &amis[2]);
    for (ami, t) in [(newer, "200"), (older, "100"), (newest, "300")] {
        stamp(&aws, ami, t).await;
    }
    let lt = aws.launch_template("app", newer).await;
    let dir = workdir();

    aws.reset_calls();
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, older, "2"]).expect(1);
    let line = run.error_line("bump-launch-template");
    assert!(
        line.contains(&format!(
            "{older} is an older build of branch main than {newer}, which version 1 (latest) runs (timestamp 100 before 200)"
        )),
        "{line}"
    );
    assert!(line.contains("--allow-older") && run.stderr.lines().count() == 1, "{}", run.stderr);
    assert!(!aws.calls().contains_key("ec2:CreateLaunchTemplateVersion"));
    assert_eq!(aws.versions(&lt).await.0, [1]);

    // A deliberate rollback.
    assert_eq!(aws.run("bump-launch-template", dir.path(), &[&lt, older, "2", "--allow-older"]).expect(0).stdout.trim(), "2");
    // The default version (1) still runs build 200: 100 is still older than the deploy.
    aws.run("bump-launch-template", dir.path(), &[&lt, older, "2"]).expect(1);
    // A newer build goes in.
    assert_eq!(aws.run("bump-launch-template", dir.path(), &[&lt, newest, "2"]).expect(0).stdout.trim(), "3");
    // An image of another branch, or an untagged one, is not compared.
    let other = aws.bake(&builder, "feature", 1).await;
    stamp(&aws, &other[0], "1").await;
    aws.run("bump-launch-template", dir.path(), &[&lt, &other[0], "2"]).expect(0);
}

#[tokio::test]
async fn the_version_a_rollback_goes_back_to_is_kept_whatever_versions_to_keep_says() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 2).template("app").group("web", "1", 1).build().await;
    // Version 2 runs an AMI that passed verification; 3 to 6 the base one; the group is on 6.
    aws.add_versions(&lt, &amis[1], 1).await;
    let tag = aws_sdk_ec2::types::Tag::builder().key("verification").value("passed").build();
    aws.ec2().create_tags().resources(&amis[1]).tags(tag).send().await.unwrap();
    aws.add_versions(&lt, &amis[0], 4).await;
    let on_6 = aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder().launch_template_id(&lt).version("6").build();
    aws.asg().update_auto_scaling_group().auto_scaling_group_name("web").launch_template(on_6).send().await.unwrap();
    let dir = workdir();
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[1], "2", "-o", "json"]).expect(0);
    let report = run.json();
    let kept: Vec<(i64, String)> = report["kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["version"].as_i64().unwrap(), k["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert!(kept.iter().any(|(n, why)| *n == 2 && why.contains("the version a rollback of group web goes back to")), "{kept:?}");
    assert_eq!(aws.versions(&lt).await.0, vec![1, 2, 6, 7], "the newest two, the default and source, and the way back");
}
