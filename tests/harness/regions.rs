//! Worlds across Regions, as Packer's `ami_regions` leaves them: each build baked in the first
//! Region and copied, under its own name, to the others.

use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::{eventually, LocalAws};

/// One build's AMI in each Region, in the Regions' order.
pub type Build = Vec<String>;

/// Bakes `n` builds of `branch` (application "app") in `regions[0]`, oldest first, and copies
/// each to the other Regions with CopyImage, tagging each copy and its snapshot as Packer does.
/// Returns once every copy is available.
pub async fn bake_copied(regions: &[LocalAws], branch: &str, n: usize) -> Vec<Build> {
    let builder = regions[0].builder_instance().await;
    let originals = regions[0].bake_tagged(&builder, branch, &[("app", "app")], n).await;
    copy_builds(regions, branch, &[("app", "app")], originals).await
}

/// Bakes one AMI of `branch` (application "app") for each of `builds` in `regions[0]`, tagged
/// `build` as CodeBuild's build ID, oldest first, and copies each to the other Regions.
pub async fn bake_builds(regions: &[LocalAws], branch: &str, builds: &[&str]) -> Vec<Build> {
    let builder = regions[0].builder_instance().await;
    let mut all = Vec::new();
    for b in builds {
        let tags = [("build", *b), ("app", "app")];
        let originals = regions[0].bake_tagged(&builder, branch, &tags, 1).await;
        all.extend(copy_builds(regions, branch, &tags, originals).await);
    }
    all
}

/// Copies each of `originals` (in `regions[0]`) to the other Regions under its own name,
/// tagging each copy and its snapshot with `branch` and `extra`, and waits until all are
/// available.
async fn copy_builds(regions: &[LocalAws], branch: &str, extra: &[(&str, &str)], originals: Vec<String>) -> Vec<Build> {
    let home = &regions[0];
    let tags: Vec<(&str, &str)> = [("branch", branch)].into_iter().chain(extra.iter().copied()).collect();
    let tag_spec = |kind: ResourceType| {
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
        TagSpecification::builder().resource_type(kind).set_tags(Some(tags)).build()
    };
    let mut builds = Vec::new();
    for original in originals {
        let name = home.ec2().describe_images().image_ids(&original).send().await.unwrap().images()[0].name().unwrap().to_owned();
        let mut build = vec![original.clone()];
        for region in &regions[1..] {
            let copy = region
                .ec2()
                .copy_image()
                .source_image_id(&original)
                .source_region(home.region)
                .name(&name)
                .tag_specifications(tag_spec(ResourceType::Image))
                .tag_specifications(tag_spec(ResourceType::Snapshot))
                .send()
                .await
                .unwrap();
            build.push(copy.image_id.unwrap());
        }
        builds.push(build);
    }
    for (i, region) in regions.iter().enumerate() {
        for build in &builds {
            let id = build[i].clone();
            eventually(&format!("copy {id} available"), || {
                let (ec2, id) = (region.ec2(), id.clone());
                async move {
                    let out = ec2.describe_images().image_ids(id).send().await.unwrap();
                    out.images()[0].state().map(|s| s.as_str()) == Some("available")
                }
            })
            .await;
        }
    }
    builds
}

/// `r1,r2,...` for --regions.
pub fn names(regions: &[LocalAws]) -> String {
    regions.iter().map(|r| r.region).collect::<Vec<_>>().join(",")
}

/// A deploy's world: builds "b1" and "b2" of branch "main" copied to every Region, and in each
/// Region a template "app-lt" on b1's copy (which passed verification, as the build deployed
/// before) with a group "app" of 2 on its version 1. Returns the builds and each Region's
/// template.
pub async fn deploy_world(regions: &[LocalAws]) -> (Vec<Build>, Vec<String>) {
    let builds = bake_builds(regions, "main", &["b1", "b2"]).await;
    let mut templates = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        let passed = Tag::builder().key("verification").value("passed").build();
        r.ec2().create_tags().resources(&builds[0][i]).tags(passed).send().await.unwrap();
        let lt = r.launch_template("app-lt", &builds[0][i]).await;
        r.group("app", &lt, "1", 2).await;
        templates.push(lt);
    }
    (builds, templates)
}

/// A targets file in `dir`: Region i's template and group "app", in wave `waves[i]` (none
/// when `waves` is empty), with `alarms[i]` if given.
pub fn targets_file(dir: &std::path::Path, regions: &[LocalAws], templates: &[String], waves: &[u32], alarms: &[&[&str]]) -> String {
    let entries: Vec<serde_json::Value> = regions
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut e = serde_json::json!({"region": r.region, "launch_template_id": templates[i], "auto_scaling_group": "app"});
            if let Some(w) = waves.get(i) {
                e["wave"] = (*w).into();
            }
            if let Some(a) = alarms.get(i).filter(|a| !a.is_empty()) {
                e["alarms"] = serde_json::json!(a);
            }
            e
        })
        .collect();
    let path = dir.join("targets.json");
    std::fs::write(&path, serde_json::to_string_pretty(&entries).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}
