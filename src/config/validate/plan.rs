//! `[[usage_plan]]` → [`UsagePlan`]s: the secrets a plan lists, its limits, and the service
//! stages it is bound to (recorded on each [`Service`] too), with Tencent's rule that two plans
//! sharing a key cannot be bound to the same service stage.

use std::path::Path;

use super::service::parse_stage;
use super::{ConfigError, Site};
use crate::config::file;
use crate::config::{PlanIndex, Secret, SecretIndex, Service, ServiceIndex, UsagePlan};

pub(super) fn build_usage_plans(
    plans: Vec<file::UsagePlan>,
    services: &mut [Service],
    secrets: &[Secret],
    source: &Path,
) -> Result<Vec<UsagePlan>, ConfigError> {
    let mut built: Vec<UsagePlan> = Vec::with_capacity(plans.len());
    for (index, plan) in plans.into_iter().enumerate() {
        let site = Site::new(
            source,
            match &plan.name {
                Some(name) if !name.is_empty() => format!("usage_plan `{name}`"),
                _ => format!("usage_plan #{}", index + 1),
            },
        );
        let name = site.required_text("name", plan.name)?;
        if built.iter().any(|other| other.name == name) {
            return Err(site.error("name", "another [[usage_plan]] has the same name"));
        }
        let mut keys = Vec::with_capacity(plan.secret_ids.len());
        for id in &plan.secret_ids {
            let secret = secrets
                .binary_search_by(|secret| secret.id.as_str().cmp(id))
                .map(SecretIndex::new)
                .map_err(|_| site.error("secret_ids", format!("no [[secret]] has id `{id}`")))?;
            if keys.contains(&secret) {
                return Err(site.error("secret_ids", format!("`{id}` is listed twice")));
            }
            keys.push(secret);
        }
        for (field, value) in
            [("max_requests_per_second", plan.max_requests_per_second), ("quota_per_day", plan.quota_per_day)]
        {
            if value == Some(0) {
                return Err(site.error(field, "must be at least 1; leave it out for no limit"));
            }
        }
        if plan.environments.is_empty() {
            return Err(site.error(
                "environments",
                "bind the plan to at least one service stage, e.g. `environments = [{ service = \"service-abc\", stage = \"release\" }]`",
            ));
        }
        let mut environments = Vec::with_capacity(plan.environments.len());
        for environment in plan.environments {
            let service_id = site.required_text("environments.service", environment.service)?;
            let stage_name = site.required_text("environments.stage", environment.stage)?;
            let first =
                services.iter().position(|service| service.id == service_id).map(ServiceIndex::new).ok_or_else(
                    || site.error("environments.service", format!("no [[service]] has id `{service_id}`")),
                )?;
            let stage = parse_stage(&stage_name).map_err(|message| site.error("environments.stage", message))?;
            // The table of this id that serves the stage (several may share an id on disjoint stages).
            let service = services
                .iter()
                .position(|service| service.id == service_id && service.stages.contains(&stage))
                .map(ServiceIndex::new)
                .unwrap_or(first);
            if !services[service].stages.contains(&stage) {
                return Err(site.error(
                    "environments.stage",
                    format!("service `{}` is not published to stage `{stage_name}`", services[service].name),
                ));
            }
            if environments.contains(&(service, stage)) {
                return Err(site.error("environments", format!("`{service_id}` stage `{stage_name}` is listed twice")));
            }
            // Tencent: two plans that share a key cannot be bound to the same service stage.
            for &other in &services[service].usage_plans[stage.index()] {
                let other: &UsagePlan = &built[other];
                if let Some(&shared) = keys.iter().find(|key| other.secrets.contains(key)) {
                    return Err(site.error(
                        "environments",
                        format!(
                            "usage_plan `{}` is also bound to `{service_id}` stage `{stage_name}` with key `{}`; a key may be in one plan per stage",
                            other.name, secrets[shared].id
                        ),
                    ));
                }
            }
            environments.push((service, stage));
        }
        for &(service, stage) in &environments {
            services[service].usage_plans[stage.index()].push(PlanIndex::new(built.len()));
        }
        built.push(UsagePlan {
            name,
            secrets: keys,
            max_requests_per_second: plan.max_requests_per_second,
            quota_per_day: plan.quota_per_day,
            environments,
        });
    }
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::super::parse_str;
    use super::super::test_support::{check_errors_in, Scratch, POLICY};
    use crate::config::{Overrides, PlanIndex, SecretIndex, ServiceIndex, Stage};

    #[test]
    fn usage_plans_parse_and_bind_their_stages() {
        let scratch = Scratch::new("plans");
        let config = parse_str(POLICY, &scratch.source(), &Overrides::default()).unwrap();
        let shop = ServiceIndex::new(0);
        let plans: Vec<_> = config
            .usage_plans
            .iter()
            .map(|plan| {
                (
                    plan.name.as_str(),
                    plan.secrets.clone(),
                    plan.max_requests_per_second,
                    plan.quota_per_day,
                    plan.environments.clone(),
                )
            })
            .collect();
        assert_eq!(
            plans,
            vec![
                ("gold", vec![SecretIndex::new(0)], Some(100), Some(10_000), vec![(shop, Stage::Release)]),
                ("stage-wide", vec![], Some(1000), None, vec![(shop, Stage::Release), (shop, Stage::Test)]),
            ]
        );
        let (gold, stage_wide) = (PlanIndex::new(0), PlanIndex::new(1));
        assert_eq!(config.services[shop].usage_plans, [vec![gold, stage_wide], vec![stage_wide], vec![]]);
    }

    #[test]
    fn usage_plan_errors() {
        #[rustfmt::skip]
        let cases: &[(&str, &str, &str)] = &[
            ("name = \"gold\"", "name = \"stage-wide\"", ": usage_plan `stage-wide`: field `name`: another [[usage_plan]] has the same name"),
            ("secret_ids = [\"AKIDgold\"]", "secret_ids = [\"AKIDgone\"]", ": usage_plan `gold`: field `secret_ids`: no [[secret]] has id `AKIDgone`"),
            ("secret_ids = [\"AKIDgold\"]", "secret_ids = [\"AKIDgold\", \"AKIDgold\"]", ": usage_plan `gold`: field `secret_ids`: `AKIDgold` is listed twice"),
            ("max_requests_per_second = 100\n", "max_requests_per_second = 0\n", ": usage_plan `gold`: field `max_requests_per_second`: must be at least 1; leave it out for no limit"),
            ("quota_per_day = 10000", "quota_per_day = 0", ": usage_plan `gold`: field `quota_per_day`: must be at least 1; leave it out for no limit"),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "", ": usage_plan `gold`: field `environments`: bind the plan to at least one service stage, e.g. `environments = [{ service = \"service-abc\", stage = \"release\" }]`"),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "environments = [{ service = \"shop\", stage = \"release\" }]\n", ": usage_plan `gold`: field `environments.service`: no [[service]] has id `shop`"),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "environments = [{ service = \"service-shop01\", stage = \"prepub\" }]\n", ": usage_plan `gold`: field `environments.stage`: service `shop` is not published to stage `prepub`"),
            ("environments = [{ service = \"service-shop01\", stage = \"release\" }]\n", "environments = [{ service = \"service-shop01\" }]\n", ": usage_plan `gold`: field `environments.stage`: required but missing"),
            ("{ service = \"service-shop01\", stage = \"test\" }]", "{ service = \"service-shop01\", stage = \"release\" }]", ": usage_plan `stage-wide`: field `environments`: `service-shop01` stage `release` is listed twice"),
            // Tencent: two plans sharing a key cannot bind the same service stage.
            ("max_requests_per_second = 1000\n", "max_requests_per_second = 1000\nsecret_ids = [\"AKIDgold\"]\n", ": usage_plan `stage-wide`: field `environments`: usage_plan `gold` is also bound to `service-shop01` stage `release` with key `AKIDgold`; a key may be in one plan per stage"),
        ];
        check_errors_in(POLICY, "plans", cases);
    }
}
