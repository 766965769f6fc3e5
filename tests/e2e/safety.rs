//! Never delete what is in use; bad input changes nothing.

use deploy_tests::{workdir, LocalAws};

#[tokio::test]
async fn prune_keeps_older_amis_that_are_in_use_and_says_why() {
    let aws = LocalAws::start().await;
    let builder = aws.builder_instance().await;
    let amis = aws.bake(&builder, "main", 6).await;
    // amis[0]: an instance runs it. amis[1]: the default version of a template names it.
    // amis[2]: a version kept in a template a group uses (not the group's own version).
    // amis[3]: a stopped instance runs it. amis[4]: unused. amis[5]: the newest.
    aws.ec2().run_instances().image_id(&amis[0]).min_count(1).max_count(1).send().await.unwrap();
    aws.launch_template("other", &amis[1]).await;
    let lt = aws.launch_template("app", &amis[5]).await;
    aws.add_versions(&lt, &amis[2], 1).await;
    aws.group("web", &lt, "1", 1).await;
    let stopped = aws.ec2().run_instances().image_id(&amis[3]).min_count(1).max_count(1).send().await.unwrap();
    let stopped_id = stopped.instances()[0].instance_id().unwrap().to_owned();
    aws.ec2().stop_instances().instance_ids(&stopped_id).send().await.unwrap();
    let dir = workdir();

    let run = aws.run("prune-amis", dir.path(), &["main", "1", "-o", "json"]).expect(0);
    let json = run.json();
    let plan = json["plan"].as_array().unwrap();
    let action = |i: usize| plan[i]["action"].as_str().unwrap().to_owned();
    let reason = |i: usize| plan[i]["reason"].as_str().unwrap().to_owned();
    assert_eq!((0..6).map(action).collect::<Vec<_>>(), ["keep", "keep", "keep", "keep", "delete", "keep"]);
    assert!(reason(0).contains("runs it"), "{}", reason(0));
    assert!(reason(1).contains("(default)") || reason(1).contains("(latest)"), "{}", reason(1));
    assert!(reason(2).contains("kept for group web"), "{}", reason(2));
    assert!(reason(3).contains("stopped"), "{}", reason(3));
    let mut left = amis.clone();
    left.remove(4);
    left.sort();
    assert_eq!(aws.branch_amis("main").await, left);
}

#[tokio::test]
async fn delete_ami_refuses_an_ami_in_use_unless_forced() {
    let aws = LocalAws::start().await;
    let builder = aws.builder_instance().await;
    let amis = aws.bake(&builder, "main", 1).await;
    let lt = aws.launch_template("app", &amis[0]).await;
    aws.group("web", &lt, "$Latest", 1).await;
    let dir = workdir();

    let run = aws.run("delete-ami", dir.path(), &[&amis[0]]).expect(1);
    let line = run.error_line("delete-ami");
    assert!(line.contains("in use") && line.contains("--force"), "{line}");
    assert_eq!(aws.branch_amis("main").await, amis);

    aws.run("delete-ami", dir.path(), &["--force", &amis[0]]).expect(0);
    assert!(aws.branch_amis("main").await.is_empty());
}
