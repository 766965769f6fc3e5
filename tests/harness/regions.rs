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
    let home = &regions[0];
    let tags = [("branch", branch), ("app", "app")];
    let builder = home.builder_instance().await;
    let originals = home.bake_tagged(&builder, branch, &tags[1..], n).await;
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
