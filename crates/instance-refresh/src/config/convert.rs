//! The config's shapes turned into the SDK's, for StartInstanceRefresh.

use aws_sdk_autoscaling::types as asg;

use super::*;

/// A list of the SDK's enum values from their names.
fn list<T>(v: &Option<Vec<String>>) -> Option<Vec<T>>
where
    T: for<'a> From<&'a str>,
{
    v.as_ref().map(|v| v.iter().map(|s| T::from(s.as_str())).collect())
}

/// The SDK's shape of instance requirements: every field AWS takes.
fn instance_requirements(r: &InstanceRequirements) -> asg::InstanceRequirements {
    macro_rules! range {
        ($field:expr, $ty:ident) => {
            $field.map(|v| asg::$ty::builder().set_min(v.min).set_max(v.max).build())
        };
    }
    asg::InstanceRequirements::builder()
        .set_v_cpu_count(range!(r.v_cpu_count, VCpuCountRequest))
        .set_memory_mib(range!(r.memory_mib, MemoryMiBRequest))
        .set_cpu_manufacturers(list(&r.cpu_manufacturers))
        .set_memory_gib_per_v_cpu(range!(r.memory_gib_per_v_cpu, MemoryGiBPerVCpuRequest))
        .set_excluded_instance_types(r.excluded_instance_types.clone())
        .set_instance_generations(list(&r.instance_generations))
        .set_spot_max_price_percentage_over_lowest_price(r.spot_max_price_percentage_over_lowest_price)
        .set_max_spot_price_as_percentage_of_optimal_on_demand_price(r.max_spot_price_as_percentage_of_optimal_on_demand_price)
        .set_on_demand_max_price_percentage_over_lowest_price(r.on_demand_max_price_percentage_over_lowest_price)
        .set_bare_metal(r.bare_metal.as_deref().map(asg::BareMetal::from))
        .set_burstable_performance(r.burstable_performance.as_deref().map(asg::BurstablePerformance::from))
        .set_require_hibernate_support(r.require_hibernate_support)
        .set_network_interface_count(range!(r.network_interface_count, NetworkInterfaceCountRequest))
        .set_local_storage(r.local_storage.as_deref().map(asg::LocalStorage::from))
        .set_local_storage_types(list(&r.local_storage_types))
        .set_total_local_storage_gb(range!(r.total_local_storage_gb, TotalLocalStorageGbRequest))
        .set_baseline_ebs_bandwidth_mbps(range!(r.baseline_ebs_bandwidth_mbps, BaselineEbsBandwidthMbpsRequest))
        .set_accelerator_types(list(&r.accelerator_types))
        .set_accelerator_count(range!(r.accelerator_count, AcceleratorCountRequest))
        .set_accelerator_manufacturers(list(&r.accelerator_manufacturers))
        .set_accelerator_names(list(&r.accelerator_names))
        .set_accelerator_total_memory_mib(range!(r.accelerator_total_memory_mib, AcceleratorTotalMemoryMiBRequest))
        .set_network_bandwidth_gbps(range!(r.network_bandwidth_gbps, NetworkBandwidthGbpsRequest))
        .set_allowed_instance_types(r.allowed_instance_types.clone())
        .set_baseline_performance_factors(r.baseline_performance_factors.as_ref().map(|b| {
            asg::BaselinePerformanceFactorsRequest::builder()
                .set_cpu(b.cpu.as_ref().map(|c| {
                    asg::CpuPerformanceFactorRequest::builder()
                        .set_references(c.references.as_ref().map(|refs| {
                            refs.iter()
                                .map(|r| {
                                    asg::PerformanceFactorReferenceRequest::builder().set_instance_family(r.instance_family.clone()).build()
                                })
                                .collect()
                        }))
                        .build()
                }))
                .build()
        }))
        .build()
}

fn lt_spec(s: &LaunchTemplateSpec) -> asg::LaunchTemplateSpecification {
    asg::LaunchTemplateSpecification::builder()
        .set_launch_template_id(s.launch_template_id.clone())
        .set_launch_template_name(s.launch_template_name.clone())
        .set_version(s.version.clone())
        .build()
}

/// The SDK's shapes for the config's DesiredConfiguration and Preferences. Every value was
/// checked when the config was read, so this cannot fail.
pub fn to_sdk(config: &RefreshConfig) -> (Option<asg::DesiredConfiguration>, Option<asg::RefreshPreferences>) {
    (config.desired_configuration.as_ref().map(desired), config.preferences.as_ref().map(preferences))
}

fn desired(d: &DesiredConfiguration) -> asg::DesiredConfiguration {
    asg::DesiredConfiguration::builder()
        .set_launch_template(d.launch_template.as_ref().map(lt_spec))
        .set_mixed_instances_policy(d.mixed_instances_policy.as_ref().map(mixed))
        .build()
}

fn mixed(m: &MixedInstancesPolicy) -> asg::MixedInstancesPolicy {
    asg::MixedInstancesPolicy::builder()
        .set_launch_template(m.launch_template.as_ref().map(mixed_template))
        .set_instances_distribution(m.instances_distribution.as_ref().map(distribution))
        .build()
}

fn mixed_template(lt: &MixedLaunchTemplate) -> asg::LaunchTemplate {
    let overrides = lt.overrides.as_ref().map(|list| {
        list.iter()
            .map(|o| {
                asg::LaunchTemplateOverrides::builder()
                    .set_instance_type(o.instance_type.clone())
                    .set_weighted_capacity(o.weighted_capacity.clone())
                    .set_launch_template_specification(o.launch_template_specification.as_ref().map(lt_spec))
                    .set_instance_requirements(o.instance_requirements.as_ref().map(instance_requirements))
                    .set_image_id(o.image_id.clone())
                    .build()
            })
            .collect()
    });
    asg::LaunchTemplate::builder()
        .set_launch_template_specification(lt.launch_template_specification.as_ref().map(lt_spec))
        .set_overrides(overrides)
        .build()
}

fn distribution(d: &InstancesDistribution) -> asg::InstancesDistribution {
    let segments = d.distribution_segments.as_ref().map(|segments| {
        segments
            .iter()
            .map(|s| asg::DistributionSegment::builder().set_target_capacity_types(list(&s.target_capacity_types)).build())
            .collect()
    });
    asg::InstancesDistribution::builder()
        .set_on_demand_allocation_strategy(d.on_demand_allocation_strategy.clone())
        .set_on_demand_base_capacity(d.on_demand_base_capacity)
        .set_on_demand_percentage_above_base_capacity(d.on_demand_percentage_above_base_capacity)
        .set_spot_allocation_strategy(d.spot_allocation_strategy.clone())
        .set_spot_instance_pools(d.spot_instance_pools)
        .set_spot_max_price(d.spot_max_price.clone())
        .set_distribution_segments(segments)
        .build()
}

fn preferences(p: &Preferences) -> asg::RefreshPreferences {
    asg::RefreshPreferences::builder()
        .set_min_healthy_percentage(p.min_healthy_percentage)
        .set_max_healthy_percentage(p.max_healthy_percentage)
        .set_instance_warmup(p.instance_warmup)
        .set_checkpoint_percentages(p.checkpoint_percentages.clone())
        .set_checkpoint_delay(p.checkpoint_delay)
        .set_skip_matching(p.skip_matching)
        .set_auto_rollback(p.auto_rollback)
        .set_scale_in_protected_instances(p.scale_in_protected_instances.as_deref().map(asg::ScaleInProtectedInstances::from))
        .set_standby_instances(p.standby_instances.as_deref().map(asg::StandbyInstances::from))
        .set_alarm_specification(
            p.alarm_specification.as_ref().map(|a| asg::AlarmSpecification::builder().set_alarms(a.alarms.clone()).build()),
        )
        .set_bake_time(p.bake_time)
        .build()
}
