//! Lifecycle rules beyond a count: an age floor, a last-launch window, staged retirement
//! (disable, deprecate, then delete), one DeregisterImage per AMI with per-snapshot results,
//! and delete-ami fed many IDs or a pipe.

use aws_sdk_ec2::types::{BlockDeviceMapping, EbsBlockDevice};
use deploy_tests::{workdir, LocalAws, World};

/// `n` AMIs of "main", oldest first, the first `aged` of them dated `days` back.
async fn aged_amis(aws: &LocalAws, n: usize, aged: usize, days: f64) -> Vec<String> {
    let World { amis, .. } = aws.world("main", n).build().await;
    for ami in &amis[..aged] {
        aws.age_image(ami, days);
    }
    amis
}

async fn state(aws: &LocalAws, ami: &str) -> serde_json::Value {
    let out = aws.ec2().describe_images().image_ids(ami).include_disabled(true).send().await.unwrap();
    let image = &out.images()[0];
    serde_json::json!({"state": image.state().map(|s| s.as_str()), "deprecation_time": image.deprecation_time()})
}

#[tokio::test]
async fn older_than_spares_fresh_amis_and_retires_old_ones() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 5, 2, 40.0).await;
    let dir = workdir();
    // Every AMI but the newest is beyond MAX; only the two dated 40 days back are older than 30d.
    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--older-than", "30d", "-o", "json"]).expect(0).json();
    let p = deploy_tests::plan_of(&run);
    for (i, ami) in amis.iter().enumerate() {
        let (action, reason) = &p[ami];
        match i {
            0 | 1 => assert_eq!(action, "delete", "{i}: {reason}"),
            2 | 3 => assert!(action == "keep" && reason.starts_with("younger than 30d"), "{i}: {action} {reason}"),
            _ => assert_eq!(reason, "among the newest 1"),
        }
    }
    assert_eq!(aws.branch_amis("main").await.len(), 3);
    // A day on, a floor of 12 hours selects those two as well; the newest is the floor.
    for ami in &amis[2..4] {
        aws.age_image(ami, 1.0);
    }
    aws.run("prune-amis", dir.path(), &["main", "1", "--older-than", "12h"]).expect(0);
    assert_eq!(aws.branch_amis("main").await, vec![amis[4].clone()]);
}

#[tokio::test]
async fn unused_for_keeps_an_ami_launched_lately_even_if_its_instance_is_gone() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 4, 0, 0.0).await;
    let ec2 = aws.ec2();
    // amis[1] launched an instance, since terminated: nothing runs it, but it was launched.
    let run = ec2.run_instances().image_id(&amis[1]).min_count(1).max_count(1).send().await.unwrap();
    let instance = run.instances()[0].instance_id().unwrap().to_owned();
    ec2.terminate_instances().instance_ids(&instance).send().await.unwrap();
    let dir = workdir();
    let v = aws.run("prune-amis", dir.path(), &["main", "1", "--unused-for", "14d", "--dry-run", "-o", "json"]).expect(0).json();
    let p = deploy_tests::plan_of(&v);
    assert_eq!(p[&amis[1]].0, "keep", "{:?}", p[&amis[1]]);
    assert!(p[&amis[1]].1.starts_with("launched within the last 14d (last launch 20"), "{:?}", p[&amis[1]]);
    assert_eq!(p[&amis[0]].0, "delete", "never launched");
    assert_eq!(v["plan"][1]["last_launched_time"].as_str().map(|t| t.len() > 10), Some(true));
    // Without the window it goes.
    aws.run("prune-amis", dir.path(), &["main", "1"]).expect(0);
    assert_eq!(aws.branch_amis("main").await, vec![amis[3].clone()]);
}

#[tokio::test]
async fn disable_then_delete_is_a_two_stage_policy() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 6, 0, 0.0).await;
    let dir = workdir();
    let mut snaps = Vec::new();
    for ami in &amis {
        snaps.push(aws.snapshots_of(ami).await[0].clone());
    }
    // Stage 1: keep 2 launchable, disable the rest; their snapshots remain.
    let run = aws.run("prune-amis", dir.path(), &["main", "2", "--retire", "disable"]).expect(0);
    assert!(run.stdout.lines().last().unwrap().starts_with("Disabled 4 of 6 AMIs of branch main"), "{}", run.stdout);
    for (i, ami) in amis.iter().enumerate() {
        assert_eq!(state(&aws, ami).await["state"], if i < 4 { "disabled" } else { "available" }, "{i}");
        assert!(aws.snapshot_exists(&snaps[i]).await);
    }
    // Again: already disabled ones are left alone, and said so.
    let v = aws.run("prune-amis", dir.path(), &["main", "2", "--retire", "disable", "-o", "json"]).expect(0).json();
    assert_eq!(v["disabled"], serde_json::json!([]));
    assert_eq!(deploy_tests::plan_of(&v)[&amis[0]], ("keep".to_owned(), "already disabled".to_owned()));
    // Stage 2: keep 4 in all; the two oldest disabled ones go, with their snapshots.
    aws.run("prune-amis", dir.path(), &["main", "4"]).expect(0);
    let mut left = amis[2..].to_vec();
    left.sort();
    assert_eq!(aws.branch_amis("main").await, left);
    assert!(!aws.snapshot_exists(&snaps[0]).await && !aws.snapshot_exists(&snaps[1]).await);
    // The emergency way back: EnableImage, and latest-ami sees it again.
    aws.ec2().enable_image().image_id(&amis[3]).send().await.unwrap();
    assert_eq!(state(&aws, &amis[3]).await["state"], "available");
}

#[tokio::test]
async fn deprecate_sets_the_deprecation_time_now() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 3, 0, 0.0).await;
    let dir = workdir();
    let run = aws.run("prune-amis", dir.path(), &["main", "1", "--retire", "deprecate"]).expect(0);
    assert!(run.stdout.contains(&format!("deprecated {}", amis[0])), "{}", run.stdout);
    for (i, ami) in amis.iter().enumerate() {
        let t = state(&aws, ami).await["deprecation_time"].clone();
        assert_eq!(t.is_string(), i < 2, "{i}: {t}");
    }
    assert_eq!(aws.branch_amis("main").await.len(), 3, "nothing deleted");
}

#[tokio::test]
async fn a_snapshot_another_ami_uses_is_skipped_and_kept() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 2, 0, 0.0).await;
    let snap = aws.snapshots_of(&amis[0]).await[0].clone();
    // Another AMI registered from the same snapshot (not of this branch).
    let other = aws
        .ec2()
        .register_image()
        .name("from-snapshot")
        .root_device_name("/dev/sda1")
        .block_device_mappings(
            BlockDeviceMapping::builder().device_name("/dev/sda1").ebs(EbsBlockDevice::builder().snapshot_id(&snap).build()).build(),
        )
        .send()
        .await
        .unwrap()
        .image_id
        .unwrap();
    let dir = workdir();
    aws.reset_calls();
    let v = aws.run("prune-amis", dir.path(), &["main", "1", "-o", "json"]).expect(0).json();
    let deletion = &v["deleted"][0];
    assert_eq!(deletion["image_id"], amis[0].as_str());
    assert_eq!(deletion["skipped_snapshots"][0]["snapshot_id"], snap.as_str());
    assert!(deletion["skipped_snapshots"][0]["reason"].as_str().unwrap().contains("skipped"));
    assert_eq!(v["deleted_gib"], 0, "nothing was freed");
    assert!(aws.snapshot_exists(&snap).await);
    assert_eq!(aws.snapshots_of(&other).await, vec![snap]);
    let calls = aws.calls();
    assert_eq!((calls.get("ec2:DeregisterImage"), calls.get("ec2:DeleteSnapshot")), (Some(&1), None), "{calls:?}");
}

#[tokio::test]
async fn a_snapshot_that_could_not_be_deleted_is_reported_and_a_rerun_finishes_it() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 2, 0, 0.0).await;
    let snap = aws.snapshots_of(&amis[0]).await[0].clone();
    let dir = workdir();
    aws.deny(&["ec2:DeleteSnapshot"]);
    let run = aws.run("prune-amis", dir.path(), &["main", "1"]).expect(1);
    assert!(run.error_line("prune-amis").contains(&amis[0]), "{}", run.stderr);
    assert!(run.stderr.contains("missing-permissions"), "{}", run.stderr);
    assert!(run.stderr.contains(&format!("run delete-ami {} again", amis[0])), "{}", run.stderr);
    assert!(!aws.branch_amis("main").await.contains(&amis[0]), "the AMI is deregistered");
    assert!(aws.snapshot_exists(&snap).await, "its snapshot is not");

    aws.deny(&[]);
    let run = aws.run("delete-ami", dir.path(), &[&amis[0]]).expect(0);
    assert!(run.stdout.contains("was already deregistered") && run.stdout.contains(&snap), "{}", run.stdout);
    assert!(!aws.snapshot_exists(&snap).await);
}

#[tokio::test]
async fn delete_ami_takes_several_ids_or_stdin_and_checks_them_all_first() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 6, 0, 0.0).await;
    let dir = workdir();

    // One malformed ID among good ones: usage error, nothing sent, nothing deleted.
    aws.reset_calls();
    let run = aws.tool("delete-ami", dir.path()).args([&amis[0], "ami-NOPE", &amis[1]]).expect(2);
    assert!(run.error_line("delete-ami").contains("ami-NOPE"), "{}", run.stderr);
    let input = format!("{}\nnot-an-ami\n{}\n", amis[0], amis[1]);
    let run = aws.tool("delete-ami", dir.path()).arg("-").stdin(&input).expect(2);
    assert!(run.error_line("delete-ami").contains("stdin line 2"), "{}", run.stderr);
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
    assert_eq!(aws.branch_amis("main").await.len(), 6);

    // Several IDs.
    let v = aws.tool("delete-ami", dir.path()).args([&amis[0], &amis[1], "-o", "json"]).expect(0).json();
    assert_eq!(v["deleted"].as_array().unwrap().len(), 2);
    assert!(v["deleted_gib"].as_i64().unwrap() > 0);

    // A pipeline: prune's dry-run plan, the deletes picked out, fed to delete-ami -.
    let plan = aws.run("prune-amis", dir.path(), &["main", "2", "--dry-run", "-o", "json"]).expect(0).json();
    let doomed: Vec<&str> =
        plan["plan"].as_array().unwrap().iter().filter(|d| d["action"] == "delete").map(|d| d["image_id"].as_str().unwrap()).collect();
    assert_eq!(doomed, [amis[2].as_str(), amis[3].as_str()]);
    let input = format!("# from prune-amis --dry-run\n{}\n\n", doomed.join("\n"));
    let run = aws.tool("delete-ami", dir.path()).arg("-").stdin(&input).expect(0);
    assert!(run.stdout.lines().last().unwrap().starts_with("Deleted 2 AMIs (2 snapshots,"), "{}", run.stdout);
    let mut left = amis[4..].to_vec();
    left.sort();
    assert_eq!(aws.branch_amis("main").await, left);

    // One that fails does not stop the rest; the exit status says so.
    let run = aws.tool("delete-ami", dir.path()).args([&amis[4], "ami-0123456789abcdef0"]).expect(1);
    assert!(run.error_line("delete-ami").contains("1 of 2 AMIs were not deleted: ami-0123456789abcdef0"), "{}", run.stderr);
    assert_eq!(aws.branch_amis("main").await, vec![amis[5].clone()]);
}

#[tokio::test]
async fn an_endpoint_without_snapshot_results_gets_them_deleted_one_by_one() {
    let aws = LocalAws::start().await;
    let amis = aged_amis(&aws, 3, 0, 0.0).await;
    let snaps = [aws.snapshots_of(&amis[0]).await[0].clone(), aws.snapshots_of(&amis[1]).await[0].clone()];
    aws.old_deregister();
    let dir = workdir();
    aws.reset_calls();
    aws.run("prune-amis", dir.path(), &["main", "1"]).expect(0);
    let calls = aws.calls();
    assert_eq!((calls.get("ec2:DeregisterImage"), calls.get("ec2:DeleteSnapshot")), (Some(&2), Some(&2)), "{calls:?}");
    for snap in &snaps {
        assert!(!aws.snapshot_exists(snap).await, "{snap}");
    }
}
