//! Every tool's --output json has the documented shape (README, "JSON output").

use std::collections::BTreeSet;

use deploy_tests::{refresh_config, workdir, LocalAws};

fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

const DELETION: &[&str] = &[
    "image_id",
    "deregistered",
    "already_deregistered",
    "deleted_snapshots",
    "skipped_snapshots",
    "failed_snapshots",
    "deleted_gib",
    "dry_run",
];

#[tokio::test]
async fn every_tool_has_its_documented_json_shape() {
    let aws = LocalAws::start().await;
    let (amis, lt) = aws.app_world(4, 3, "$Latest", 1).await;
    let dir = workdir();

    let v = aws.run("latest-ami", dir.path(), &["main", "-o", "json"]).expect(0).json();
    assert_eq!(keys(&v), set(&["image_id", "name", "creation_date", "branch", "tags"]));

    let v = aws.run("prune-amis", dir.path(), &["main", "2", "-o", "json"]).expect(0).json();
    assert_eq!(
        keys(&v),
        set(&[
            "branch",
            "tags",
            "max",
            "retire",
            "older_than",
            "unused_for",
            "dry_run",
            "plan",
            "deleted",
            "disabled",
            "deprecated",
            "failed",
            "deleted_gib"
        ])
    );
    assert_eq!(
        keys(&v["plan"][0]),
        set(&[
            "image_id",
            "name",
            "creation_date",
            "state",
            "snapshot_ids",
            "public",
            "deregistration_protection",
            "deprecation_time",
            "last_launched_time",
            "size_gib",
            "source_image_id",
            "source_image_region",
            "action",
            "reason"
        ])
    );
    assert_eq!(keys(&v["deleted"][0]), set(DELETION));

    // Across Regions (here the one Region, as a list): a report per Region, or one build.
    let v = aws.run("prune-amis", dir.path(), &["main", "2", "--regions", aws.region, "-o", "json"]).expect(0).json();
    assert_eq!(keys(&v), set(&["regions"]));
    assert_eq!(v["regions"][0]["region"], aws.region);
    assert!(keys(&v["regions"][0]).is_superset(&set(&["region", "branch", "plan", "deleted", "failed", "deleted_gib"])));
    let v = aws.run("latest-ami", dir.path(), &["main", "--regions", aws.region, "-o", "json"]).expect(0).json();
    assert_eq!(keys(&v), set(&["name", "creation_date", "branch", "tags", "images", "passed_over"]));
    assert_eq!(v["images"][aws.region], amis[3].as_str());
    let targets = dir.path().join("targets.json");
    std::fs::write(&targets, format!(r#"[{{"region": "{}", "launch_template_id": "{lt}", "auto_scaling_group": "web"}}]"#, aws.region))
        .unwrap();
    let v = aws.tool("deploy-tools", dir.path()).args(["targets", targets.to_str().unwrap(), "-o", "json"]).expect(0).json();
    assert_eq!(keys(&v), set(&["targets", "accounts"]));
    assert_eq!(v["accounts"], serde_json::json!([]), "the accounts of the targets' roles: none here");
    assert_eq!(keys(&v["targets"][0]), set(&["region", "launch_template_id", "auto_scaling_group"]));

    let v = aws.run("delete-ami", dir.path(), &[&amis[2], "-o", "json"]).expect(0).json();
    assert_eq!(keys(&v), set(DELETION));

    let v = aws.run("bump-launch-template", dir.path(), &[&lt, &amis[3], "2", "-o", "json"]).expect(0).json();
    assert_eq!(
        keys(&v),
        set(&[
            "launch_template_id",
            "image_id",
            "version",
            "source_version",
            "default_version",
            "kept_versions",
            "kept",
            "deleted_versions",
            "failed_versions",
            "not_checked",
            "dry_run"
        ])
    );

    let cfg = refresh_config(dir.path(), "{}");
    let v = aws.run("instance-refresh", dir.path(), &[&cfg, "web", "--interval", "0.1", "-o", "json"]).expect(0).json();
    assert_eq!(
        keys(&v),
        set(&[
            "instance_refresh_id",
            "auto_scaling_group_name",
            "status",
            "percentage_complete",
            "instances_to_update",
            "status_reason",
            "duration_seconds",
            "stopped",
            "activities",
            "polls",
            "alarms",
            "group_runs"
        ])
    );
    assert_eq!(v["stopped"], "finished");

    let v = aws.run("rollback", dir.path(), &[&lt, "web", "--to-version", "1", "--dry-run", "-o", "json"]).expect(0).json();
    assert_eq!(
        keys(&v),
        set(&[
            "how",
            "auto_scaling_group_name",
            "launch_template_id",
            "instance_refresh_id",
            "from_version",
            "to_version",
            "image_id",
            "status",
            "status_reason",
            "stopped",
            "duration_seconds",
            "dry_run"
        ])
    );
    assert_eq!((v["how"].as_str(), v["stopped"].as_str()), (Some("refresh-to-version"), Some("dry_run")));
}
