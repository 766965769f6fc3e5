//! A real account's world, as the tools meet it outside the simple tests: two applications
//! baking the same branch, groups pinned to template versions (one through a mixed instances
//! policy), AMIs named by SSM parameters and by a `resolve:ssm:` template, AMIs shared with
//! another account, public, protected and disabled.

use aws_sdk_autoscaling::types::{LaunchTemplate, LaunchTemplateSpecification, MixedInstancesPolicy};
use aws_sdk_ec2::types::{LaunchPermission, LaunchPermissionModifications, PermissionGroup, RequestLaunchTemplateData, ResourceType, Tag, TagSpecification};

use crate::LocalAws;

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
        let all: Vec<Tag> = [("branch", branch), ("timestamp", "1")]
            .iter()
            .chain(tags)
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect();
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
        let script = "import sys,boto3;c=boto3.client('ssm',region_name=sys.argv[2],endpoint_url=sys.argv[1],aws_access_key_id='testing',aws_secret_access_key='testing');c.put_parameter(Name=sys.argv[3],Value=sys.argv[4],Type='String',DataType='aws:ec2:image')";
        let out = std::process::Command::new(crate::venv_python())
            .args(["-c", script, &self.url, self.region, name, ami])
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
            .mixed_instances_policy(MixedInstancesPolicy::builder().launch_template(LaunchTemplate::builder().launch_template_specification(spec).build()).build())
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
