use deploy_tests::{workdir, LocalAws, World};

#[tokio::test]
async fn deregisters_the_ami_and_deletes_its_snapshots() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 2).build().await;
    let snaps = aws.snapshots_of(&amis[0]).await;
    assert_eq!(snaps.len(), 1);
    let dir = workdir();

    let run = aws.run("delete-ami", dir.path(), &[&amis[0]]).expect(0);
    assert!(run.stdout.contains(&format!("Deregistered AMI: {}", amis[0])), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("Deleted snapshot: {}", snaps[0])), "{}", run.stdout);
    assert_eq!(aws.branch_amis("main").await, vec![amis[1].clone()]);
    assert!(!aws.snapshot_exists(&snaps[0]).await);
    // The other AMI's snapshot is untouched.
    assert!(aws.snapshot_exists(&aws.snapshots_of(&amis[1]).await[0]).await);
}

#[tokio::test]
async fn malformed_and_unknown_ids_fail_and_change_nothing() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let dir = workdir();

    aws.reset_calls();
    let run = aws.run("delete-ami", dir.path(), &["not-an-ami"]).expect(2);
    assert!(run.error_line("delete-ami").contains("malformed AMI ID"), "{}", run.stderr);
    assert!(aws.calls().is_empty(), "a malformed ID sends nothing: {:?}", aws.calls());

    let run = aws.run("delete-ami", dir.path(), &["ami-0123456789abcdef0"]).expect(1);
    assert!(run.error_line("delete-ami").contains("does not exist"), "{}", run.stderr);
    assert_eq!(aws.branch_amis("main").await, amis);
    let calls = aws.calls();
    assert!(!calls.contains_key("ec2:DeregisterImage") && !calls.contains_key("ec2:DeleteSnapshot"), "{calls:?}");
}

#[tokio::test]
async fn a_second_run_finishes_a_delete_cut_short() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let snaps = aws.snapshots_of(&amis[0]).await;
    // As if a run died after deregistering: the AMI is gone, its snapshot is not.
    aws.ec2().deregister_image().image_id(&amis[0]).send().await.unwrap();
    assert!(aws.snapshot_exists(&snaps[0]).await);
    let dir = workdir();

    let run = aws.run("delete-ami", dir.path(), &[&amis[0]]).expect(0);
    assert!(run.stdout.contains("already deregistered"), "{}", run.stdout);
    assert!(!aws.snapshot_exists(&snaps[0]).await);
    // Nothing is left to do: a third run says the AMI is unknown.
    aws.run("delete-ami", dir.path(), &[&amis[0]]).expect(1);
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let snaps = aws.snapshots_of(&amis[0]).await;
    let dir = workdir();
    let run = aws.run("delete-ami", dir.path(), &["--dry-run", &amis[0]]).expect(0);
    assert!(run.stdout.contains("Would deregister"), "{}", run.stdout);
    assert_eq!(aws.branch_amis("main").await, amis);
    assert!(aws.snapshot_exists(&snaps[0]).await);
}
