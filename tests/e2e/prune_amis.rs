use deploy_tests::{workdir, LocalAws, World};

#[tokio::test]
async fn deletes_exactly_the_oldest_amis_and_their_snapshots() {
    let aws = LocalAws::start().await;
    let World { builder, amis, .. } = aws.world("main", 5).build().await;
    let other = aws.bake(&builder, "feature", 2).await;
    let mut snaps = Vec::new();
    for ami in &amis {
        snaps.push(aws.snapshots_of(ami).await[0].clone());
    }
    let dir = workdir();

    aws.reset_calls();
    let run = aws.run("prune-amis", dir.path(), &["main", "2"]).expect(0);
    let calls = aws.calls();
    for old in &amis[..3] {
        assert!(run.stdout.contains(&format!("deleted {old}")), "{}", run.stdout);
    }
    assert!(run.stdout.lines().last().unwrap().starts_with("Deleted 3 of 5 AMIs of branch main"), "{}", run.stdout);

    let mut kept = amis[3..].to_vec();
    kept.sort();
    assert_eq!(aws.branch_amis("main").await, kept);
    for (i, snap) in snaps.iter().enumerate() {
        assert_eq!(aws.snapshot_exists(snap).await, i >= 3, "snapshot of AMI #{i}");
    }
    let mut other_sorted = other.clone();
    other_sorted.sort();
    assert_eq!(aws.branch_amis("feature").await, other_sorted, "another branch is untouched");

    // The snapshot IDs come from the one listing: no describe per AMI.
    assert_eq!(calls.get("ec2:DescribeImages"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("ec2:DeregisterImage"), Some(&3), "{calls:?}");
    // One call per AMI: DeregisterImage deletes the snapshots too.
    assert_eq!(calls.get("ec2:DeleteSnapshot"), None, "{calls:?}");
}

#[tokio::test]
async fn fewer_amis_than_max_deletes_nothing() {
    let aws = LocalAws::start().await;
    let World { mut amis, .. } = aws.world("main", 2).build().await;
    amis.sort();
    let dir = workdir();
    let run = aws.run("prune-amis", dir.path(), &["main", "5"]).expect(0);
    assert!(run.stdout.contains("Deleted 0 of 2"), "{}", run.stdout);
    assert_eq!(aws.branch_amis("main").await, amis);
}

#[tokio::test]
async fn max_must_be_a_whole_number_of_one_or_more() {
    let aws = LocalAws::start().await;
    let World { mut amis, .. } = aws.world("main", 2).build().await;
    amis.sort();
    let dir = workdir();
    aws.reset_calls();
    for bad in ["0", "-1", "abc", "1.5"] {
        let run = aws.run("prune-amis", dir.path(), &["main", bad]).expect(2);
        assert!(run.stderr.contains("MAX"), "{bad}: {}", run.stderr);
    }
    assert!(aws.calls().is_empty(), "bad input sends nothing");
    assert_eq!(aws.branch_amis("main").await, amis);
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_json_has_reasons() {
    let aws = LocalAws::start().await;
    let World { mut amis, .. } = aws.world("main", 3).build().await;
    let dir = workdir();
    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--dry-run", "-o", "json"]).expect(0);
    let json = run.json();
    let plan = json["plan"].as_array().unwrap();
    assert_eq!(plan.len(), 3);
    assert_eq!(plan[0]["image_id"], amis[0].as_str());
    assert_eq!(plan[0]["action"], "delete");
    assert_eq!(plan[2]["action"], "keep");
    assert!(plan[2]["reason"].as_str().unwrap().contains("newest"));
    assert_eq!(json["dry_run"], true);
    amis.sort();
    assert_eq!(aws.branch_amis("main").await, amis, "a dry run deletes nothing");
}

#[tokio::test]
async fn failed_newer_images_do_not_push_the_good_ones_out() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 5).build().await;
    // The three newest builds failed verification.
    for ami in &amis[2..] {
        let tag = aws_sdk_ec2::types::Tag::builder().key("verification").value("failed").build();
        aws.ec2().create_tags().resources(ami).tags(tag).send().await.unwrap();
    }
    let dir = workdir();
    let plan = aws.run("prune-amis", dir.path(), &["main", "2", "--dry-run", "-o", "json"]).expect(0).json();
    let actions: Vec<(&str, &str)> =
        plan["plan"].as_array().unwrap().iter().map(|d| (d["image_id"].as_str().unwrap(), d["action"].as_str().unwrap())).collect();
    let expected: Vec<(&str, &str)> =
        amis.iter().zip(["keep", "keep", "delete", "delete", "delete"]).map(|(a, b)| (a.as_str(), b)).collect();
    assert_eq!(actions, expected);
    aws.run("prune-amis", dir.path(), &["main", "2"]).expect(0);
    assert_eq!(aws.branch_amis("main").await, {
        let mut v = amis[..2].to_vec();
        v.sort();
        v
    });
}
