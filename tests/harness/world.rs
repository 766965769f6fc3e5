//! Building worlds in the local AWS and looking at them afterwards: AMIs baked as Packer bakes
//! them, launch templates and their versions, Auto Scaling groups, and a real account's world
//! ([`LocalAws::real_account_world`]): two applications baking the same branch, groups pinned
//! to template versions (one through a mixed instances policy), AMIs named by SSM parameters
//! and by a `resolve:ssm:` template, AMIs shared with another account, public, protected and
//! disabled.

use aws_sdk_autoscaling::types::{LaunchTemplate, LaunchTemplateSpecification, MixedInstancesPolicy};
use aws_sdk_ec2::types::{
    Filter, LaunchPermission, LaunchPermissionModifications, PermissionGroup, RequestLaunchTemplateData, ResourceType, Tag,
    TagSpecification,
};

use crate::LocalAws;

impl LocalAws {
    /// An instance to bake images from (the source AMI is registered, as Packer's would be: an
    /// x86_64 image with ENA, which the tools' t3 instances need).
    pub async fn builder_instance(&self) -> String {
        self.builder_instance_of(aws_sdk_ec2::types::ArchitectureValues::X8664).await
    }

    /// An instance to bake images of `architecture` from (a source AMI with ENA support).
    pub async fn builder_instance_of(&self, architecture: aws_sdk_ec2::types::ArchitectureValues) -> String {
        let source = self.register_image(&format!("source-{architecture}"), architecture, None, Some(true)).await;
        let run = self.ec2().run_instances().image_id(source).min_count(1).max_count(1).send().await.unwrap();
        run.instances()[0].instance_id().unwrap().to_owned()
    }

    /// A registered image (no snapshot, untagged) of `architecture`, with the boot mode and
    /// ENA support given (none: EC2's defaults).
    pub async fn register_image(
        &self,
        name: &str,
        architecture: aws_sdk_ec2::types::ArchitectureValues,
        boot_mode: Option<aws_sdk_ec2::types::BootModeValues>,
        ena: Option<bool>,
    ) -> String {
        let out = self
            .ec2()
            .register_image()
            .name(name)
            .architecture(architecture)
            .set_boot_mode(boot_mode)
            .set_ena_support(ena)
            .send()
            .await
            .unwrap();
        out.image_id.unwrap()
    }

    /// Bakes `n` AMIs of `branch` from `instance`, oldest first, tagged as Packer tags them
    /// (image and snapshots). Each has one snapshot.
    pub async fn bake(&self, instance: &str, branch: &str, n: usize) -> Vec<String> {
        let ec2 = self.ec2();
        let tags = || vec![Tag::builder().key("branch").value(branch).build(), Tag::builder().key("timestamp").value("1").build()];
        let mut ids = Vec::new();
        for i in 0..n {
            let out = ec2
                .create_image()
                .instance_id(instance)
                .name(format!("{branch}-{i}-{}", ids.len()))
                .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Image).set_tags(Some(tags())).build())
                .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Snapshot).set_tags(Some(tags())).build())
                .send()
                .await
                .unwrap();
            ids.push(out.image_id.unwrap());
        }
        ids
    }

    /// The IDs of the registered AMIs of `branch`, disabled ones included.
    pub async fn branch_amis(&self, branch: &str) -> Vec<String> {
        let out = self
            .ec2()
            .describe_images()
            .owners("self")
            .include_disabled(true)
            .filters(Filter::builder().name("tag:branch").values(branch).build())
            .send()
            .await
            .unwrap();
        let mut ids: Vec<String> = out.images().iter().filter_map(|i| i.image_id().map(str::to_owned)).collect();
        ids.sort();
        ids
    }

    /// The snapshot IDs of an AMI, read from its block device mappings.
    pub async fn snapshots_of(&self, ami: &str) -> Vec<String> {
        let out = self.ec2().describe_images().image_ids(ami).include_disabled(true).send().await.unwrap();
        out.images()
            .iter()
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()).map(str::to_owned))
            .collect()
    }

    pub async fn snapshot_exists(&self, snap: &str) -> bool {
        match self.ec2().describe_snapshots().snapshot_ids(snap).send().await {
            Ok(out) => !out.snapshots().is_empty(),
            Err(e) => {
                let code = aws_sdk_ec2::error::ProvideErrorMetadata::code(&e).map(str::to_owned);
                assert_eq!(code.as_deref(), Some("InvalidSnapshot.NotFound"), "{e:?}");
                false
            }
        }
    }

    pub async fn launch_template(&self, name: &str, ami: &str) -> String {
        let out = self
            .ec2()
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(
                aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                    .image_id(ami)
                    .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.launch_template().unwrap().launch_template_id().unwrap().to_owned()
    }

    /// Adds versions to a template (each launching `ami`) and returns their numbers.
    pub async fn add_versions(&self, lt: &str, ami: &str, n: usize) -> Vec<i64> {
        let mut numbers = Vec::new();
        for _ in 0..n {
            let out = self
                .ec2()
                .create_launch_template_version()
                .launch_template_id(lt)
                .source_version("1")
                .launch_template_data(aws_sdk_ec2::types::RequestLaunchTemplateData::builder().image_id(ami).build())
                .send()
                .await
                .unwrap();
            numbers.push(out.launch_template_version().unwrap().version_number().unwrap());
        }
        numbers
    }

    /// The template's version numbers, ascending, and its default version.
    pub async fn versions(&self, lt: &str) -> (Vec<i64>, i64) {
        let mut pages = self.ec2().describe_launch_template_versions().launch_template_id(lt).max_results(200).into_paginator().send();
        let mut numbers = Vec::new();
        let mut default = 0;
        while let Some(page) = pages.next().await {
            for v in page.unwrap().launch_template_versions() {
                let n = v.version_number().unwrap();
                if v.default_version() == Some(true) {
                    default = n;
                }
                numbers.push(n);
            }
        }
        numbers.sort();
        (numbers, default)
    }

    /// A group of `size` instances on the template's `version`.
    pub async fn group(&self, name: &str, lt: &str, version: &str, size: i32) {
        self.new_group(name, size)
            .launch_template(LaunchTemplateSpecification::builder().launch_template_id(lt).version(version).build())
            .send()
            .await
            .unwrap();
    }

    /// A CreateAutoScalingGroup of `size` instances in this Region, to be given what it launches.
    pub fn new_group(
        &self,
        name: &str,
        size: i32,
    ) -> aws_sdk_autoscaling::operation::create_auto_scaling_group::builders::CreateAutoScalingGroupFluentBuilder {
        self.asg()
            .create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .min_size(size)
            .max_size(size * 2)
            .desired_capacity(size)
            .availability_zones(format!("{}a", self.region))
    }

    /// The common world: `n` AMIs of branch "main" (oldest first), a template "app" on
    /// `amis[on]`, and a group "web" of `size` on its version `version`. Returns the AMIs and
    /// the template's id.
    pub async fn app_world(&self, n: usize, on: usize, version: &str, size: i32) -> (Vec<String>, String) {
        let w = self.world("main", n).template_on("app", on).group("web", version, size).build().await;
        (w.amis, w.template)
    }

    /// A refresh's world: a template `<group>-lt` with two versions (1: an old AMI, 2: a new
    /// one) and a group of 2 on launch template version `version`, made before version 2, so
    /// its instances run the old AMI. Returns (template id, old AMI, new AMI).
    pub async fn refresh_world(&self, group: &str, version: &str) -> (String, String, String) {
        let w = self.world("main", 2).template(&format!("{group}-lt")).group(group, version, 2).build().await;
        self.add_versions(&w.template, &w.amis[1], 1).await;
        (w.template, w.amis[0].clone(), w.amis[1].clone())
    }

    /// The AMI each in-service instance of the group runs, sorted.
    pub async fn group_amis(&self, group: &str) -> Vec<String> {
        let out = self.asg().describe_auto_scaling_groups().auto_scaling_group_names(group).send().await.unwrap();
        let ids: Vec<String> = out.auto_scaling_groups()[0].instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let described = self.ec2().describe_instances().set_instance_ids(Some(ids)).send().await.unwrap();
        let mut amis: Vec<String> = described
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running"))
            .filter_map(|i| i.image_id().map(str::to_owned))
            .collect();
        amis.sort();
        amis
    }
}

/// Another account the world shares an AMI with.
pub const OTHER_ACCOUNT: &str = "111122223333";

/// What [`LocalAws::real_account_world`] made. `web[i]` are application "web"'s AMIs of branch
/// "main", oldest first; `api` are application "api"'s, all newer than web's.
pub struct RealWorld {
    pub web: Vec<String>,
    pub api: Vec<String>,
    /// "web-lt": v1 (default) web[10], v2 web[6] (group "pinned"), v3 web[7] (group "mixed",
    /// through its mixed instances policy), v4 web[10], v5 web[10], v6 web[11].
    pub web_lt: String,
    /// "alias-lt": one version whose ImageId is `resolve:ssm:/alias/web` (-> web[1]).
    pub alias_lt: String,
}

impl RealWorld {
    /// The AMIs of "web" that `prune-amis main 2 --tag app=web` must delete: web[5] (disabled),
    /// web[8] and web[9]; every other one is kept for a reason.
    pub fn web_doomed(&self) -> Vec<String> {
        [5, 8, 9].iter().map(|&i| self.web[i].clone()).collect()
    }
}

impl LocalAws {
    /// Bakes `n` AMIs of `branch` carrying `tags` too (image and snapshots), oldest first.
    pub async fn bake_tagged(&self, instance: &str, branch: &str, tags: &[(&str, &str)], n: usize) -> Vec<String> {
        let ec2 = self.ec2();
        let all: Vec<Tag> =
            [("branch", branch), ("timestamp", "1")].iter().chain(tags).map(|(k, v)| Tag::builder().key(*k).value(*v).build()).collect();
        let mut ids = Vec::new();
        for i in 0..n {
            let out = ec2
                .create_image()
                .instance_id(instance)
                .name(format!("{branch}-{}-{i}", tags.first().map_or("", |t| t.1)))
                .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Image).set_tags(Some(all.clone())).build())
                .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Snapshot).set_tags(Some(all.clone())).build())
                .send()
                .await
                .unwrap();
            ids.push(out.image_id.unwrap());
        }
        ids
    }

    /// An SSM parameter of data type `aws:ec2:image` holding `ami` (through boto3: the tests
    /// build no SSM client of their own).
    pub fn ssm_image_parameter(&self, name: &str, ami: &str) {
        let script = "import sys,boto3;c=boto3.client('ssm',region_name=sys.argv[2],endpoint_url=sys.argv[1],aws_access_key_id=sys.argv[5],aws_secret_access_key=sys.argv[6]);c.put_parameter(Name=sys.argv[3],Value=sys.argv[4],Type='String',DataType='aws:ec2:image')";
        let out = std::process::Command::new(crate::venv_python())
            .args(["-c", script, &self.url, self.region, name, ami, &self.keys.0, &self.keys.1])
            .output()
            .expect("running boto3");
        assert!(out.status.success(), "put_parameter: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub async fn share_image(&self, ami: &str, permission: LaunchPermission) {
        self.ec2()
            .modify_image_attribute()
            .image_id(ami)
            .launch_permission(LaunchPermissionModifications::builder().add(permission).build())
            .send()
            .await
            .unwrap();
    }

    /// A template whose one version launches `image` (an AMI ID or `resolve:ssm:NAME`).
    pub async fn template_on(&self, name: &str, image: &str) -> String {
        let out = self
            .ec2()
            .create_launch_template()
            .launch_template_name(name)
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(image).build())
            .send()
            .await
            .unwrap();
        out.launch_template().unwrap().launch_template_id().unwrap().to_owned()
    }

    /// A group of `size` launching the template's `version` through a mixed instances policy.
    pub async fn mixed_group(&self, name: &str, lt: &str, version: &str, size: i32) {
        let spec = LaunchTemplateSpecification::builder().launch_template_id(lt).version(version).build();
        self.new_group(name, size)
            .mixed_instances_policy(
                MixedInstancesPolicy::builder()
                    .launch_template(LaunchTemplate::builder().launch_template_specification(spec).build())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    pub async fn real_account_world(&self) -> RealWorld {
        let ec2 = self.ec2();
        let builder = self.builder_instance().await;
        let web = self.bake_tagged(&builder, "main", &[("app", "web")], 12).await;
        let api = self.bake_tagged(&builder, "main", &[("app", "api")], 3).await;

        self.ssm_image_parameter("/golden/web", &web[0]);
        self.ssm_image_parameter("/alias/web", &web[1]);
        let alias_lt = self.template_on("alias-lt", "resolve:ssm:/alias/web").await;
        self.share_image(&web[2], LaunchPermission::builder().user_id(OTHER_ACCOUNT).build()).await;
        self.share_image(&web[3], LaunchPermission::builder().group(PermissionGroup::All).build()).await;
        ec2.enable_image_deregistration_protection().image_id(&web[4]).send().await.unwrap();
        ec2.disable_image().image_id(&web[5]).send().await.unwrap();

        let web_lt = self.template_on("web-lt", &web[10]).await;
        for ami in [&web[6], &web[7], &web[10], &web[10], &web[11]] {
            self.add_versions(&web_lt, ami, 1).await;
        }
        self.group("pinned", &web_lt, "2", 2).await;
        self.mixed_group("mixed", &web_lt, "3", 1).await;
        RealWorld { web, api, web_lt, alias_lt }
    }
}
