//! Faults between the tools and AWS: 503s, throttling, resets, lost and slow replies. The
//! SDK's standard retries carry the tools through, and the result is what it would have been
//! without faults: nothing lost, nothing done twice.

use deploy_tests::{workdir, FaultProxy, LocalAws, Ran, World};

const ALL: &str = "503,throttle,reset,lost,slow";

fn through(aws: &LocalAws, proxy: &FaultProxy, tool: &str, dir: &std::path::Path, args: &[&str]) -> Ran {
    aws.tool(tool, dir)
        .args(args)
        .args(["--attempt-timeout", "1"])
        .env("AWS_ENDPOINT_URL", &proxy.url)
        .env("AWS_MAX_ATTEMPTS", "10")
        .output()
}

#[tokio::test]
async fn prune_under_faults_deletes_exactly_what_it_would_without() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 8).build().await;
    let mut snaps = Vec::new();
    for ami in &amis {
        snaps.extend(aws.snapshots_of(ami).await);
    }
    let proxy = FaultProxy::start(&aws.url, 2, ALL);
    let dir = workdir();

    let run = through(&aws, &proxy, "prune-amis", dir.path(), &["main", "2"]).expect(0);
    let injected = proxy.injected();
    for kind in ["503", "throttle", "reset", "lost", "slow"] {
        assert!(injected.contains(&format!("'{kind}'")), "no {kind} fault was injected: {injected}");
    }
    assert!(run.stdout.contains("Deleted 6 of 8"), "{}", run.stdout);
    let mut kept = amis[6..].to_vec();
    kept.sort();
    assert_eq!(aws.branch_amis("main").await, kept);
    for (i, snap) in snaps.iter().enumerate() {
        assert_eq!(aws.snapshot_exists(snap).await, i >= 6, "snapshot #{i}");
    }
}

#[tokio::test]
async fn a_lost_create_reply_does_not_make_two_versions() {
    let aws = LocalAws::start().await;
    let World { amis, template: lt, .. } = aws.world("main", 2).template("app").versions(3).build().await; // 1..=4
                                                                                                           // Every request's first try: AWS acts, the reply is lost (or too slow).
    let proxy = FaultProxy::start(&aws.url, 1, "lost,slow");
    let dir = workdir();
    let run = through(&aws, &proxy, "bump-launch-template", dir.path(), &[&lt, &amis[1], "2"]).expect(0);
    assert_eq!(run.stdout, "5\n", "the retried create returned the first create's version");
    assert_eq!(aws.versions(&lt).await, (vec![1, 4, 5], 1));
}

#[tokio::test]
async fn delete_ami_whose_replies_are_lost_still_finishes() {
    let aws = LocalAws::start().await;
    let World { amis, .. } = aws.world("main", 1).build().await;
    let snaps = aws.snapshots_of(&amis[0]).await;
    let proxy = FaultProxy::start(&aws.url, 1, "lost");
    let dir = workdir();
    let run = through(&aws, &proxy, "delete-ami", dir.path(), &[&amis[0]]).expect(0);
    assert!(run.stdout.contains(&snaps[0]), "{}", run.stdout);
    assert!(aws.branch_amis("main").await.is_empty());
    assert!(!aws.snapshot_exists(&snaps[0]).await);
}

#[tokio::test]
async fn a_lost_start_reply_follows_the_refresh_it_started() {
    // StartInstanceRefresh has no idempotency token: the retry after a lost reply is refused
    // with InstanceRefreshInProgress, because of the refresh the first attempt started.
    // Steps of 2 s: the refresh the first attempt started is still running when the retry
    // comes (within the 1 s attempt timeout plus at most 1 s of backoff).
    let aws = LocalAws::start_with_step(2.0).await;
    let (_, _, new) = aws.refresh_world("web", "$Latest").await;
    let proxy = FaultProxy::start(&aws.url, 1, "lost,slow");
    let dir = workdir();
    let cfg = deploy_tests::refresh_config(dir.path(), "{}");

    let run = through(&aws, &proxy, "instance-refresh", dir.path(), &[&cfg, "web", "--interval", "0.1", "-o", "json"]).expect(0);
    assert!(proxy.injected().contains("'lost'"), "{}", proxy.injected());
    assert!(run.stderr.contains("the reply to starting the refresh was lost"), "{}", run.stderr);
    let refreshes = aws.asg().describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
    let ids: Vec<&str> = refreshes.instance_refreshes().iter().filter_map(|r| r.instance_refresh_id()).collect();
    assert_eq!(ids.len(), 1, "one refresh started: {ids:?}");
    assert_eq!(run.json()["instance_refresh_id"], ids[0]);
    assert_eq!(run.json()["status"], "Successful");
    assert_eq!(aws.group_amis("web").await, vec![new.clone(), new]);
}

#[tokio::test]
async fn a_refresh_already_running_is_not_taken_for_ours() {
    // Someone else's refresh is in progress; our start's first reply is lost, the retry is
    // refused: that refresh started before ours was sent, so it is not ours, and --if-running
    // fail (the default) fails.
    let aws = LocalAws::start_with_step(5.0).await;
    aws.refresh_world("web", "$Latest").await;
    let theirs = aws.asg().start_instance_refresh().auto_scaling_group_name("web").send().await.unwrap();
    let theirs = theirs.instance_refresh_id().unwrap().to_owned();
    // Our start, seconds later: past the clock-skew allowance.
    deploy_tests::eventually("the other refresh is older than the skew allowance", || {
        let asg = aws.asg();
        async move {
            let r = asg.describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
            let started = r.instance_refreshes()[0].start_time().unwrap().secs();
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64 - started > 6
        }
    })
    .await;
    let proxy = FaultProxy::start(&aws.url, 1, "lost");
    let dir = workdir();
    let cfg = deploy_tests::refresh_config(dir.path(), "{}");

    let run = through(&aws, &proxy, "instance-refresh", dir.path(), &[&cfg, "web", "--interval", "0.1"]).expect(1);
    assert!(run.error_line("instance-refresh").contains("InstanceRefreshInProgress"), "{}", run.stderr);
    let refreshes = aws.asg().describe_instance_refreshes().auto_scaling_group_name("web").send().await.unwrap();
    assert_eq!(refreshes.instance_refreshes().len(), 1);
    assert_eq!(refreshes.instance_refreshes()[0].instance_refresh_id(), Some(theirs.as_str()));
}
