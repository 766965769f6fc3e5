use deploy_tests::{workdir, LocalAws, World};

#[tokio::test]
async fn prints_and_writes_the_newest_available_ami_of_the_branch() {
    let aws = LocalAws::start().await;
    let World { builder, amis, .. } = aws.world("main", 3).build().await;
    aws.bake(&builder, "feature", 1).await; // newer, but another branch
    let dir = workdir();

    let run = aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(run.stdout, format!("{}\n", amis[2]));
    let file = std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap();
    assert_eq!(file, format!("{}\n", amis[2]));
}

#[tokio::test]
async fn the_file_holds_one_id_after_two_runs() {
    let aws = LocalAws::start().await;
    let World { builder, amis: first, .. } = aws.world("main", 1).build().await;
    let dir = workdir();
    aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), format!("{}\n", first[0]));

    // A newer bake between runs replaces the ID; it is not appended.
    let second = aws.bake(&builder, "main", 1).await;
    aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), format!("{}\n", second[0]));
}

#[tokio::test]
async fn output_file_and_json() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("release", 2).build().await;
    let dir = workdir();
    let run = aws.run("latest-ami", dir.path(), &["release", "--output-file", "picked.txt", "--output", "json"]).expect(0);
    let json = run.json();
    assert_eq!(json["image_id"], amis[1].as_str());
    assert_eq!(json["branch"], "release");
    assert!(json["name"].as_str().unwrap().starts_with("release-"));
    assert!(json["creation_date"].as_str().unwrap().ends_with('Z'));
    assert_eq!(std::fs::read_to_string(dir.path().join("picked.txt")).unwrap(), format!("{}\n", amis[1]));
    assert!(!dir.path().join("latest_ami_id").exists());
}

#[tokio::test]
async fn no_ami_is_an_error_naming_the_branch_and_leaves_the_file() {
    let aws = LocalAws::start().await;
    aws.world("main", 1).build().await;
    let dir = workdir();
    std::fs::write(dir.path().join("latest_ami_id"), "ami-0123456789abcdef0\n").unwrap();

    let run = aws.run("latest-ami", dir.path(), &["nosuchbranch"]).expect(1);
    assert!(run.error_line("latest-ami").contains("branch=\"nosuchbranch\""), "{}", run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap(), "ami-0123456789abcdef0\n");
}

#[tokio::test]
async fn missing_argument_is_a_usage_error() {
    let aws = LocalAws::start().await;
    let dir = workdir();
    let run = aws.run("latest-ami", dir.path(), &[]).expect(2);
    assert!(run.stderr.contains("BRANCH"), "{}", run.stderr);
}

#[tokio::test]
async fn never_picks_a_disabled_or_deprecated_image() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 3).build().await;
    let ec2 = aws.ec2();
    ec2.disable_image().image_id(&amis[2]).send().await.unwrap();
    let an_hour_ago =
        aws_sdk_ec2::primitives::DateTime::from_secs(aws_sdk_ec2::primitives::DateTime::from(std::time::SystemTime::now()).secs() - 3600);
    ec2.enable_image_deprecation().image_id(&amis[1]).deprecate_at(an_hour_ago).send().await.unwrap();
    let dir = workdir();
    let run = aws.run("latest-ami", dir.path(), &["main", "-v"]).expect(0);
    assert_eq!(run.stdout.trim(), amis[0], "{}", run.stderr);
    assert!(run.stderr.contains(&format!("skipping {}: deprecated", amis[1])), "{}", run.stderr);

    // Deprecation set for later does not count yet.
    let tomorrow = aws_sdk_ec2::primitives::DateTime::from_secs(an_hour_ago.secs() + 25 * 3600);
    ec2.enable_image_deprecation().image_id(&amis[1]).deprecate_at(tomorrow).send().await.unwrap();
    assert_eq!(aws.run("latest-ami", dir.path(), &["main"]).expect(0).stdout.trim(), amis[1]);

    ec2.disable_image_deprecation().image_id(&amis[1]).send().await.unwrap();
    ec2.enable_image_deprecation().image_id(&amis[0]).deprecate_at(an_hour_ago).send().await.unwrap();
    ec2.enable_image_deprecation().image_id(&amis[1]).deprecate_at(an_hour_ago).send().await.unwrap();
    let run = aws.run("latest-ami", dir.path(), &["main"]).expect(1);
    assert!(run.error_line("latest-ami").contains("undeprecated"), "{}", run.stderr);
}

/// Tags `ami` with verify-ami's verdict.
async fn verdict(aws: &LocalAws, ami: &str, verdict: &str) {
    let tags =
        [("verification", verdict), ("verification-time", "2026-12-01T00:00:00Z"), ("verification-reason", "instance status impaired")];
    let tags: Vec<aws_sdk_ec2::types::Tag> =
        tags.iter().map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(*k).value(*v).build()).collect();
    aws.ec2().create_tags().resources(ami).set_tags(Some(tags)).send().await.unwrap();
}

#[tokio::test]
async fn a_failed_ami_is_passed_over_and_verified_picks_only_passed_ones() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 3).build().await;
    let dir = workdir();
    verdict(&aws, &amis[2], "failed").await;
    let run = aws.run("latest-ami", dir.path(), &["main"]).expect(0);
    assert_eq!(run.stdout.trim(), amis[1], "the newest that did not fail");
    assert!(
        run.stderr.contains(&format!("passing over {}: its verification failed (instance status impaired)", amis[2])),
        "{}",
        run.stderr
    );

    let run = aws.run("latest-ami", dir.path(), &["main", "--verified"]).expect(1);
    assert!(run.error_line("latest-ami").contains("no available, undeprecated, verified AMI"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(dir.path().join("latest_ami_id")).unwrap().trim(), amis[1], "left as it was");

    verdict(&aws, &amis[0], "passed").await;
    assert_eq!(aws.run("latest-ami", dir.path(), &["main", "--verified"]).expect(0).stdout.trim(), amis[0]);
}
