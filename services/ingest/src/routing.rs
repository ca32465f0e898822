//! Which backend an upload goes to (pure): a tenant pinned to a backend
//! (data residency) goes there and nowhere else; otherwise the first
//! route whose tenants, retention classes and agents all match picks it;
//! otherwise the default backend. The choice is made from the header,
//! before any byte is received, so the staged bytes are already where the
//! blob will live.

use crate::settings::{IngestSettings, RouteSettings};
use gantry_proto::events::RetentionPolicy;
use std::collections::{BTreeMap, BTreeSet};

/// What routing looks at: the producer of an upload.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Producer<'a> {
    pub(crate) tenant: &'a str,
    pub(crate) retention: RetentionPolicy,
    pub(crate) agent: &'a str,
}

/// One rule, checked.
#[derive(Debug, Clone)]
struct Route {
    tenants: BTreeSet<String>,
    retention: BTreeSet<RetentionPolicy>,
    agents: BTreeSet<String>,
    backend: String,
}

impl Route {
    fn matches(&self, producer: &Producer<'_>) -> bool {
        (self.tenants.is_empty() || self.tenants.contains(producer.tenant))
            && (self.retention.is_empty() || self.retention.contains(&producer.retention))
            && (self.agents.is_empty() || self.agents.contains(producer.agent))
    }
}

/// The routing rules of a configuration.
#[derive(Debug, Clone)]
pub(crate) struct Router {
    residency: BTreeMap<String, String>,
    routes: Vec<Route>,
    default: String,
}

/// Returns the retention class of a configured word.
fn retention_class(word: &str) -> Option<RetentionPolicy> {
    match word {
        "days_30" => Some(RetentionPolicy::Days30),
        "days_90" => Some(RetentionPolicy::Days90),
        "days_365" => Some(RetentionPolicy::Days365),
        "keep" => Some(RetentionPolicy::Keep),
        _ => None,
    }
}

fn route(index: usize, settings: &RouteSettings, known: &dyn Fn(&str) -> bool) -> Result<Route, String> {
    if !known(&settings.backend) {
        return Err(format!("ingest.routes[{index}].backend {:?} is not a configured backend", settings.backend));
    }
    let retention = settings
        .retention
        .iter()
        .map(|word| {
            retention_class(word).ok_or_else(|| {
                format!("ingest.routes[{index}].retention {word:?}: one of days_30, days_90, days_365, keep")
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Route {
        tenants: settings.tenants.iter().cloned().collect(),
        retention,
        agents: settings.agents.iter().cloned().collect(),
        backend: settings.backend.clone(),
    })
}

impl Router {
    /// Checks the rules of `settings` against the backends that exist
    /// (`known`) and the default backend's name.
    pub(crate) fn new(
        settings: &IngestSettings,
        default: String,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<Self, String> {
        if !known(&default) {
            return Err(format!("ingest.default_backend {default:?} is not a configured backend"));
        }
        let routes: Vec<Route> = settings
            .routes
            .iter()
            .enumerate()
            .map(|(index, rule)| route(index, rule, known))
            .collect::<Result<_, _>>()?;
        for (tenant, backend) in &settings.residency {
            if !known(backend) {
                return Err(format!("ingest.residency.{tenant} {backend:?} is not a configured backend"));
            }
            // A rule that names a pinned tenant and another backend says two things at once.
            if let Some(index) =
                routes.iter().position(|rule| rule.tenants.contains(tenant) && rule.backend != *backend)
            {
                return Err(format!(
                    "ingest.routes[{index}] sends tenant {tenant} to {:?}, but ingest.residency pins it to {backend:?}",
                    routes[index].backend
                ));
            }
        }
        Ok(Self { residency: settings.residency.clone(), routes, default })
    }

    /// Returns the backend a tenant is pinned to, if it is.
    pub(crate) fn pinned(&self, tenant: &str) -> Option<&str> {
        self.residency.get(tenant).map(String::as_str)
    }

    /// Returns the default backend's name.
    pub(crate) fn default_backend(&self) -> &str {
        &self.default
    }

    /// Returns the name of the backend `producer`'s upload goes to.
    pub(crate) fn pick(&self, producer: &Producer<'_>) -> &str {
        if let Some(pinned) = self.residency.get(producer.tenant) {
            return pinned;
        }
        self.routes.iter().find(|rule| rule.matches(producer)).map_or(&self.default, |rule| &rule.backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(value: serde_json::Value) -> IngestSettings {
        serde_json::from_value(value).unwrap()
    }

    fn known(name: &str) -> bool {
        ["home", "eu", "cold"].contains(&name)
    }

    fn producer<'a>(tenant: &'a str, retention: RetentionPolicy, agent: &'a str) -> Producer<'a> {
        Producer { tenant, retention, agent }
    }

    #[test]
    fn the_first_matching_route_wins_and_pins_come_first() {
        let router = Router::new(
            &settings(serde_json::json!({
                "residency": {"acme": "eu"},
                "routes": [
                    {"retention": ["keep", "days_365"], "backend": "cold"},
                    {"tenants": ["globex"], "agents": ["archiver"], "backend": "eu"},
                    {"tenants": ["globex"], "backend": "home"},
                ],
            })),
            "home".into(),
            &known,
        )
        .unwrap();
        let days = RetentionPolicy::Days90;
        assert_eq!(router.pick(&producer("acme", RetentionPolicy::Keep, "trainer")), "eu", "pinned over the rules");
        assert_eq!(router.pick(&producer("globex", RetentionPolicy::Keep, "archiver")), "cold", "first rule first");
        assert_eq!(router.pick(&producer("globex", days, "archiver")), "eu");
        assert_eq!(router.pick(&producer("globex", days, "trainer")), "home");
        assert_eq!(router.pick(&producer("initech", days, "trainer")), "home", "the default");
        assert_eq!((router.pinned("acme"), router.pinned("globex")), (Some("eu"), None));
        assert_eq!(router.default_backend(), "home");
    }

    #[test]
    fn rules_that_cannot_hold_are_refused() {
        let check = |value| Router::new(&settings(value), "home".into(), &known).map(|_| ()).unwrap_err();
        assert!(check(serde_json::json!({"routes": [{"backend": "mars"}]})).contains("routes[0].backend"));
        assert!(
            check(serde_json::json!({"routes": [{"retention": ["forever"], "backend": "eu"}]})).contains("forever")
        );
        assert!(check(serde_json::json!({"residency": {"acme": "mars"}})).contains("residency.acme"));
        let contradiction = serde_json::json!({
            "residency": {"acme": "eu"},
            "routes": [{"tenants": ["acme"], "backend": "home"}],
        });
        assert!(check(contradiction).contains("pins it"));
        assert!(Router::new(&IngestSettings::default(), "mars".into(), &known).is_err());
    }
}
