//! At AWS's pace: the local AWS with a latency on every call and EC2's request-rate buckets
//! (tests/local_aws/local_aws/metering.py). A prune past the burst is never throttled by its
//! own calls and keeps to the buckets' floor; throttling that others cause is retried; a prune
//! of a few AMIs waits for about four round trips.

use std::time::Instant;

use deploy_tests::{workdir, LocalAws, World};

/// DeregisterImage's bucket: its size and refill a second (AWS's defaults).
const BURST: f64 = 100.0;
const REFILL: f64 = 5.0;

#[tokio::test]
async fn a_prune_past_the_burst_is_never_throttled_and_keeps_to_the_bucket_floor() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 202).build().await;
    let dir = workdir();
    aws.meter(40.0, 20.0, true);
    aws.reset_calls();
    let start = Instant::now();
    let run = aws.run("prune-amis", dir.path(), &["main", "2", "-v"]).expect(0);
    let took = start.elapsed().as_secs_f64();
    let attempts: Vec<&str> = run.stderr.lines().filter(|l| l.contains("DeregisterImage") && !l.contains("HTTP 200")).collect();
    assert!(run.stdout.lines().last().unwrap().starts_with("Deleted 200 of 202 AMIs"), "{}", run.stdout);
    assert_eq!(aws.throttled(), Default::default(), "no call of the prune's own was throttled");
    assert_eq!(aws.calls()["ec2:DeregisterImage"], 200, "and none was retried: {attempts:?}");
    // 200 deletes: the burst, then 5 a second.
    let floor = (200.0 - BURST) / REFILL;
    assert!(took >= floor, "faster than EC2's bucket allows: {took:.1} s");
    assert!(took <= floor * 1.15 + 2.0, "{took:.1} s against a floor of {floor:.1} s");
    assert_left(&aws, &amis[200..]).await;
}

#[tokio::test]
async fn throttling_that_other_clients_cause_is_retried() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 4).build().await;
    let dir = workdir();
    aws.meter(0.0, 0.0, true);
    aws.drain("DeregisterImage");
    aws.reset_calls();
    // Enough attempts that the backoff reaches the bucket's next refill, a second away.
    let run = aws.tool("prune-amis", dir.path()).args(["main", "2"]).env("AWS_MAX_ATTEMPTS", "8").expect(0);
    assert!(run.stdout.lines().last().unwrap().starts_with("Deleted 2 of 4 AMIs"), "{}", run.stdout);
    assert!(aws.throttled()["ec2:DeregisterImage"] >= 1, "the drained bucket throttled the first delete");
    assert_left(&aws, &amis[2..]).await;
}

#[tokio::test]
async fn a_prune_of_a_few_amis_waits_for_four_round_trips() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    // A group on a template, so that every in-use lookup has something to read.
    aws.world("main", 3).template_on("app", 2).group("web", "$Latest", 1).build().await;
    let dir = workdir();
    aws.meter(300.0, 0.0, false);
    aws.reset_calls();
    let run = aws.run("prune-amis", dir.path(), &["main", "2"]).expect(0);
    assert!(run.stdout.lines().last().unwrap().starts_with("Deleted 1 of 3 AMIs"), "{}", run.stdout);
    let (calls, rounds) = aws.rounds();
    // The listing; the in-use lookups (the groups, then their templates' versions) beside the
    // references and the launch permissions; the delete.
    assert_eq!(rounds, 4, "{calls} calls in {rounds} round trips: {:?}", aws.calls());
}

/// The branch's AMIs are `newest`, no more.
async fn assert_left(aws: &LocalAws, newest: &[String]) {
    let mut left = aws.branch_amis("main").await;
    left.sort();
    let mut newest = newest.to_vec();
    newest.sort();
    assert_eq!(left, newest);
}

#[tokio::test]
async fn bump_and_delete_wait_for_four_round_trips_each() {
    if !deploy_tests::slow_lane() {
        return;
    }
    let aws = LocalAws::start().await;
    let World { builder, amis, template: lt } =
        aws.world("main", 3).template_on("app", 1).versions(4).group("web", "$Latest", 1).build().await;
    let unused = aws.bake(&builder, "feature", 1).await.remove(0);
    let dir = workdir();
    aws.meter(300.0, 0.0, false);
    aws.reset_calls();
    let run = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[2], "3"]).output();
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The AMI, the versions and the groups; the fit, the order and the refreshes; the create;
    // the delete.
    let (calls, rounds) = aws.rounds();
    assert_eq!(rounds, 4, "bump: {calls} calls in {rounds} round trips: {:?}", aws.calls());

    aws.reset_calls();
    aws.run("delete-ami", dir.path(), &[&unused]).expect(0);
    // The AMI; the in-use lookups (two deep) beside the references and the launch
    // permissions; the delete.
    let (calls, rounds) = aws.rounds();
    assert_eq!(rounds, 4, "delete-ami: {calls} calls in {rounds} round trips: {:?}", aws.calls());
}
