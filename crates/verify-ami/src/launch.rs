//! Launching the instances that are checked, and terminating them: what a run reads first
//! (the AMI, the template version, the group), what an earlier killed run left (found by the
//! tags every instance gets), and the launch itself.

use anyhow::{bail, Context as _, Result};
use aws_sdk_ec2::types::{
    Filter, InstanceType, LaunchTemplateSpecification, ResourceType, ResponseLaunchTemplateData, Tag, TagSpecification,
};
use common::aws::consistency::CatchUp;
use common::aws::error::{aws_error, dry_run_ok, AwsError, Code};
use common::groups::launches::list_groups;
use common::groups::templates::Template;
use common::images::ami::describe_one;
use common::{Ami, Context};

use crate::plan::{interfaces_in, plan, Launch, Wanted};
use crate::report::Launched;
use crate::Verification;

/// The tag every instance the tool launches carries, with the tool's name: what its IAM policy
/// lets it terminate.
pub const CREATED_BY_TAG: &str = "created-by";
pub const CREATED_BY: &str = "verify-ami";
/// The AMI an instance verifies: how a later run finds what a killed one left.
pub const IMAGE_TAG: &str = "verify-ami:image";
/// The run that launched it.
pub const RUN_TAG: &str = "verify-ami:run";

/// What the run found before launching.
#[derive(Debug)]
pub struct Prepared {
    pub image: Ami,
    /// The template version launched, as asked (`1`, `$Latest`) and as its number.
    pub version: String,
    pub version_number: i64,
    pub launch: Launch,
}

pub struct Launcher<'a> {
    ctx: &'a Context,
    ec2: aws_sdk_ec2::Client,
    args: &'a Verification,
    run: &'a str,
}

impl<'a> Launcher<'a> {
    pub fn new(ctx: &'a Context, args: &'a Verification, run: &'a str) -> Self {
        Launcher { ctx, ec2: ctx.ec2(), args, run }
    }

    fn lt(&self) -> &str {
        self.args.launch_template_id.as_str()
    }

    fn ami(&self) -> &str {
        self.args.ami_id.as_str()
    }

    /// Reads the AMI, the template version and the group at the same time, and decides the
    /// launch; exits 1 (before anything is launched) when it cannot be made.
    pub async fn prepare(&self) -> Result<Prepared> {
        let asg = self.ctx.autoscaling();
        let names: Vec<String> = self.args.asg.iter().cloned().collect();
        let groups = async {
            if names.is_empty() {
                Ok(Vec::new())
            } else {
                list_groups(&asg, &names).await
            }
        };
        let (image, (name, number, data), groups) =
            futures::try_join!(describe_one(&self.ec2, self.ami()), self.template_version(), groups)?;
        let Some(image) = image else { bail!("{} does not exist (InvalidAMIID.NotFound): nothing launched", self.ami()) };
        if image.state != aws_sdk_ec2::types::ImageState::Available {
            bail!("{} is {}: only an available AMI can be launched; nothing launched", self.ami(), image.state);
        }
        let group = match (&self.args.asg, groups.first()) {
            (Some(asked), None) => bail!("no Auto Scaling group named {asked:?}: nothing launched"),
            (_, group) => group,
        };
        let template = Template { id: self.lt(), name: name.as_deref() };
        let wanted = Wanted {
            instance_type: self.args.instance_type.as_ref().map(|t| t.as_str()),
            subnet: self.args.subnet_id.as_ref().map(|s| s.as_str()),
            ssm_command: self.args.ssm_command.is_some(),
        };
        let version = self.args.source_version.to_string();
        let launch = plan(&template, &version, &data, &wanted, group).map_err(|why| anyhow::anyhow!("{why}; nothing launched"))?;
        Ok(Prepared { image, version, version_number: number, launch })
    }

    /// The template's name, and the number and data of the version that is launched.
    async fn template_version(&self) -> Result<(Option<String>, i64, ResponseLaunchTemplateData)> {
        let version = self.args.source_version.to_string();
        let out = match self.ec2.describe_launch_template_versions().launch_template_id(self.lt()).versions(&version).send().await {
            Ok(out) => out,
            Err(e) if Code::of(&e).is_some_and(Code::template_missing) => {
                let code = AwsError::from_sdk("", &e).code.unwrap_or_default();
                bail!("launch template {} has no version {version} ({code}): nothing launched", self.lt())
            }
            Err(e) => return Err(aws_error(format!("describing version {version} of launch template {}", self.lt()), e)),
        };
        let found = out
            .launch_template_versions()
            .first()
            .with_context(|| format!("launch template {} has no version {version}: nothing launched", self.lt()))?;
        let data = found.launch_template_data().cloned().unwrap_or_else(|| ResponseLaunchTemplateData::builder().build());
        Ok((found.launch_template_name().map(str::to_owned), found.version_number().unwrap_or_default(), data))
    }

    /// Asks EC2 whether the launch would be allowed; launches nothing.
    pub async fn dry_run(&self, prepared: &Prepared) -> Result<()> {
        let subnet = prepared.launch.subnets.first().map(String::as_str);
        dry_run_ok(self.request(prepared, subnet, "dry-run").dry_run(true).send().await)
            .map_err(|e| aws_error(self.launching(prepared), e))?;
        tracing::info!(
            "would launch {} {} from launch template {} version {} with {}",
            self.args.count,
            prepared.launch.instance_type_shown,
            self.lt(),
            prepared.version,
            self.ami()
        );
        Ok(())
    }

    fn launching(&self, prepared: &Prepared) -> String {
        format!(
            "launching {} from launch template {} version {} with {}",
            prepared.launch.instance_type_shown,
            self.lt(),
            prepared.version,
            self.ami()
        )
    }

    /// The instances an earlier run for this AMI left (it was killed before it could
    /// terminate them).
    pub async fn earlier(&self) -> Result<Vec<String>> {
        let filters = [
            Filter::builder().name(format!("tag:{CREATED_BY_TAG}")).values(CREATED_BY).build(),
            Filter::builder().name(format!("tag:{IMAGE_TAG}")).values(self.ami()).build(),
            Filter::builder()
                .name("instance-state-name")
                .set_values(Some(["pending", "running", "stopping", "stopped"].map(String::from).to_vec()))
                .build(),
        ];
        let mut pages = self.ec2.describe_instances().set_filters(Some(filters.to_vec())).max_results(1000).into_paginator().send();
        let mut left = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error(format!("looking for instances an earlier run left for {}", self.ami()), e))?;
            left.extend(page.reservations().iter().flat_map(|r| r.instances()).filter_map(|i| i.instance_id()).map(str::to_owned));
        }
        Ok(left)
    }

    /// Terminates `left`, the instances an earlier run left ([`Launcher::earlier`]); returns them.
    pub async fn clean_up(&self, left: Vec<String>) -> Result<Vec<String>> {
        if !left.is_empty() {
            tracing::warn!("terminating {} left by an earlier run for {}", left.join(", "), self.ami());
            // A killed run may have left them in the target group too.
            let registered = self.args.target_group_arn.as_ref().map(|tg| (tg.as_str(), left.as_slice()));
            self.terminate(&left, registered).await?;
        }
        Ok(left)
    }

    fn request(
        &self,
        prepared: &Prepared,
        subnet: Option<&str>,
        attempt: &str,
    ) -> aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder {
        let tags = [
            ("Name", format!("verify-ami {}", self.ami())),
            (CREATED_BY_TAG, CREATED_BY.to_owned()),
            (IMAGE_TAG, self.ami().to_owned()),
            (RUN_TAG, self.run.to_owned()),
        ];
        let tags: Vec<Tag> = tags.iter().map(|(k, v)| Tag::builder().key(*k).value(v).build()).collect();
        let spec = |kind| TagSpecification::builder().resource_type(kind).set_tags(Some(tags.clone())).build();
        let count = i32::try_from(self.args.count).unwrap_or(1);
        let launch = &prepared.launch;
        let mut req = self
            .ec2
            .run_instances()
            .launch_template(LaunchTemplateSpecification::builder().launch_template_id(self.lt()).version(&prepared.version).build())
            .image_id(self.ami())
            .min_count(count)
            .max_count(count)
            .tag_specifications(spec(ResourceType::Instance))
            .tag_specifications(spec(ResourceType::Volume))
            .client_token(format!("{}-{attempt}", self.run))
            .set_instance_type(launch.instance_type.as_deref().map(InstanceType::from));
        match (subnet, &launch.interfaces) {
            (Some(subnet), Some(interfaces)) => req = req.set_network_interfaces(Some(interfaces_in(interfaces, subnet))),
            (Some(subnet), None) => req = req.subnet_id(subnet),
            (None, _) => {}
        }
        req
    }

    /// Launches the instances, trying the next subnet when one lacks capacity.
    pub async fn launch(&self, prepared: &Prepared) -> Result<Vec<Launched>> {
        let subnets: Vec<Option<&str>> = if prepared.launch.subnets.is_empty() {
            vec![None]
        } else {
            prepared.launch.subnets.iter().map(|s| Some(s.as_str())).collect()
        };
        for (i, subnet) in subnets.iter().enumerate() {
            match self.request(prepared, *subnet, &i.to_string()).send().await {
                Ok(out) => {
                    let launched: Vec<Launched> = out
                        .instances()
                        .iter()
                        .map(|i| Launched {
                            instance_id: i.instance_id().unwrap_or_default().to_owned(),
                            instance_type: i
                                .instance_type()
                                .map_or_else(|| prepared.launch.instance_type_shown.clone(), |t| t.as_str().to_owned()),
                            subnet_id: i.subnet_id().map(str::to_owned),
                            terminated: false,
                        })
                        .collect();
                    let ids: Vec<&str> = launched.iter().map(|l| l.instance_id.as_str()).collect();
                    tracing::info!(
                        "launched {} ({}) from launch template {} version {} with {}",
                        ids.join(", "),
                        prepared.launch.instance_type_shown,
                        self.lt(),
                        prepared.version,
                        self.ami()
                    );
                    return Ok(launched);
                }
                Err(e) if i + 1 < subnets.len() && Code::of(&e).is_some_and(Code::another_subnet_may_help) => {
                    tracing::warn!(
                        "{}; trying the next subnet",
                        common::aws::error::AwsError::from_sdk(format!("launching in {}", subnet.unwrap_or("?")), &e)
                    );
                }
                Err(e) => return Err(aws_error(self.launching(prepared), e)),
            }
        }
        bail!("{}: no subnet to launch in", self.launching(prepared))
    }

    /// Takes the instances out of the target group they were put in, then terminates them.
    pub async fn terminate(&self, ids: &[String], registered: Option<(&str, &[String])>) -> Result<()> {
        if let Some((tg, targets)) = registered.filter(|(_, t)| !t.is_empty()) {
            crate::checks::deregister(self.ctx, tg, targets).await;
        }
        if ids.is_empty() {
            return Ok(());
        }
        // EC2 may not know instances it has just launched: a terminate refused as NotFound has
        // terminated nothing, so it is asked again until EC2 takes it (a terminated instance's
        // terminate succeeds too).
        let what = ids.join(", ");
        let mut catch_up = CatchUp::default();
        loop {
            match self.ec2.terminate_instances().set_instance_ids(Some(ids.to_vec())).send().await {
                Ok(_) => break,
                Err(e) if Code::of(&e) == Some(Code::InstanceNotFound) && catch_up.again(&what, "InvalidInstanceID.NotFound").await => {}
                Err(e) => {
                    let late = if Code::of(&e) == Some(Code::InstanceNotFound) {
                        format!(" (EC2 did not know them after {:.0} s: they may be running)", catch_up.waited().as_secs_f64())
                    } else {
                        String::new()
                    };
                    return Err(aws_error(
                        format!("terminating {what}{late}; terminate them by hand: they are tagged {CREATED_BY_TAG}={CREATED_BY}"),
                        e,
                    ));
                }
            }
        }
        tracing::info!("terminated {what}");
        Ok(())
    }
}
