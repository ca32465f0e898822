//! `gantry serve`: runs any set of services in this process until SIGTERM
//! or ctrl-c, then drains them; if one fails, the others are stopped too.

use crate::cli::ServeArgs;
use gantry_runtime::shutdown::wait_for_signal;
use gantry_runtime::telemetry::{self, TelemetrySettings};
use gantry_runtime::{Config, ShutdownTrigger};
use std::path::Path;
use tokio::task::JoinSet;

/// The services this build can run.
const AVAILABLE: &[&str] = &["intake"];
/// The services of the design that later builds add.
const PLANNED: &[&str] = &["provisioner", "ingest", "lineage", "rotation"];

fn resolve(requested: &[String]) -> anyhow::Result<Vec<&'static str>> {
    let mut services = Vec::new();
    for name in requested {
        if name == "all" {
            services.extend_from_slice(AVAILABLE);
        } else if let Some(service) = AVAILABLE.iter().find(|service| *service == name) {
            services.push(*service);
        } else if PLANNED.contains(&name.as_str()) {
            anyhow::bail!("service {name} is not part of this build yet");
        } else {
            anyhow::bail!("unknown service {name}; one of {} or all", AVAILABLE.join(", "));
        }
    }
    services.sort_unstable();
    services.dedup();
    Ok(services)
}

pub(crate) async fn run(config_path: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let services = resolve(&args.services)?;
    let config = Config::load(config_path)?;
    let _telemetry = telemetry::init(&config.section::<TelemetrySettings>("telemetry")?)?;
    let (trigger, shutdown) = ShutdownTrigger::new();
    let mut tasks = JoinSet::new();
    for service in services {
        let (config, shutdown) = (config.clone(), shutdown.clone());
        tasks.spawn(async move {
            let result = match service {
                "intake" => gantry_intake::run(&config, shutdown).await,
                other => Err(anyhow::anyhow!("no runner for {other}")),
            };
            (service, result)
        });
    }
    let mut failure = None;
    let signal = wait_for_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            _ = &mut signal, if !shutdown.is_triggered() => {
                tracing::info!("shutdown signal received; draining");
                trigger.trigger();
            }
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((service, Ok(())))) => tracing::info!(service, "service stopped"),
                Some(Ok((service, Err(error)))) => {
                    tracing::error!(service, error = format!("{error:#}"), "service failed; stopping the others");
                    trigger.trigger();
                    failure.get_or_insert(error.context(format!("service {service} failed")));
                }
                Some(Err(panic)) => {
                    trigger.trigger();
                    failure.get_or_insert(anyhow::anyhow!("a service panicked: {panic}"));
                }
            },
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_and_unknown_names_are_refused() {
        assert_eq!(resolve(&["all".into(), "intake".into()]).unwrap(), vec!["intake"]);
        assert!(resolve(&["rotation".into()]).unwrap_err().to_string().contains("not part of this build"));
        assert!(resolve(&["bogus".into()]).is_err());
    }
}
