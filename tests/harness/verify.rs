//! What verify-ami's tests build and look at: a template whose instances have an instance
//! profile (as SSM needs), a target group a load balancer forwards to, and the instances the
//! tool launched (found by its tags, as a person would).

use aws_sdk_ec2::types::{
    Filter, InstanceStateName, InstanceType, LaunchTemplateIamInstanceProfileSpecificationRequest, RequestLaunchTemplateData,
};

use crate::LocalAws;

impl LocalAws {
    /// A template "NAME" launching `ami` on t3.micro with the instance profile "app-ssm".
    pub async fn profiled_template(&self, name: &str, ami: &str) -> String {
        let data = RequestLaunchTemplateData::builder()
            .image_id(ami)
            .instance_type(InstanceType::T3Micro)
            .iam_instance_profile(LaunchTemplateIamInstanceProfileSpecificationRequest::builder().name("app-ssm").build())
            .build();
        let out = self.ec2().create_launch_template().launch_template_name(name).launch_template_data(data).send().await.unwrap();
        out.launch_template().unwrap().launch_template_id().unwrap().to_owned()
    }

    /// A target group in the default VPC that an application load balancer forwards to; its ARN.
    pub async fn target_group(&self, name: &str) -> String {
        let ec2 = self.ec2();
        let vpcs = ec2.describe_vpcs().filters(Filter::builder().name("is-default").values("true").build()).send().await.unwrap();
        let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_owned();
        let subnets = ec2.describe_subnets().filters(Filter::builder().name("vpc-id").values(&vpc).build()).send().await.unwrap();
        let subnets: Vec<String> = subnets.subnets().iter().take(2).map(|s| s.subnet_id().unwrap().to_owned()).collect();
        let elb = self.elbv2();
        let tg = elb
            .create_target_group()
            .name(name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .send()
            .await
            .unwrap();
        let arn = tg.target_groups()[0].target_group_arn().unwrap().to_owned();
        let lb = elb.create_load_balancer().name(name).set_subnets(Some(subnets)).send().await.unwrap();
        let lb = lb.load_balancers()[0].load_balancer_arn().unwrap().to_owned();
        let action = aws_sdk_elasticloadbalancingv2::types::Action::builder()
            .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
            .target_group_arn(&arn)
            .build();
        elb.create_listener()
            .load_balancer_arn(lb)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .default_actions(action)
            .send()
            .await
            .unwrap();
        arn
    }

    /// The instances verify-ami launched for `ami` (by its tags), with their states.
    pub async fn verify_instances(&self, ami: &str) -> Vec<(String, InstanceStateName)> {
        let out = self
            .ec2()
            .describe_instances()
            .filters(Filter::builder().name("tag:verify-ami:image").values(ami).build())
            .send()
            .await
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| (i.instance_id().unwrap().to_owned(), i.state().unwrap().name().unwrap().clone()))
            .collect()
    }

    /// The instances verify-ami launched for `ami` that still run (or could run again).
    pub async fn live_verify_instances(&self, ami: &str) -> Vec<String> {
        self.verify_instances(ami)
            .await
            .into_iter()
            .filter(|(_, s)| !matches!(s, InstanceStateName::ShuttingDown | InstanceStateName::Terminated))
            .map(|(id, _)| id)
            .collect()
    }

    /// The image's tags, as a map.
    pub async fn image_tags(&self, ami: &str) -> std::collections::BTreeMap<String, String> {
        let out = self.ec2().describe_images().image_ids(ami).include_disabled(true).include_deprecated(true).send().await.unwrap();
        out.images()
            .first()
            .map(|i| i.tags().iter().map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned())).collect())
            .unwrap_or_default()
    }

    /// Who is registered in the target group.
    pub async fn targets(&self, arn: &str) -> Vec<String> {
        let out = self.elbv2().describe_target_health().target_group_arn(arn).send().await.unwrap();
        out.target_health_descriptions().iter().filter_map(|d| d.target().and_then(|t| t.id()).map(str::to_owned)).collect()
    }
}
