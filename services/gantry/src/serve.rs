//! `gantry serve`: runs any set of services in this process until SIGTERM
//! or ctrl-c, then drains them; if one fails, the others are stopped too.

use crate::cli::ServeArgs;
use futures::future::BoxFuture;
use gantry_runtime::shutdown::wait_for_signal;
use gantry_runtime::telemetry::{self, TelemetrySettings};
use gantry_runtime::{Config, Shutdown, ShutdownTrigger};
use gantry_service::Service;
use gantry_service::run::Rebuilt;
use std::path::Path;
use tokio::task::JoinSet;

/// A service this build can run, from its declaration on the skeleton.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Runnable {
    /// Its name (`gantry serve <name>`, its config section).
    pub(crate) name: &'static str,
    run: fn(Config, Shutdown) -> BoxFuture<'static, anyhow::Result<()>>,
    /// Drops its views and replays them from the log.
    pub(crate) rebuild: fn(Config) -> BoxFuture<'static, anyhow::Result<Vec<Rebuilt>>>,
}

fn runnable<S: Service>() -> Runnable {
    Runnable {
        name: S::NAME,
        run: |config, shutdown| Box::pin(async move { gantry_service::run::<S>(&config, shutdown).await }),
        rebuild: |config| Box::pin(async move { gantry_service::rebuild::<S>(&config).await }),
    }
}

/// Console: the skeleton's service plus its HTTP side (SSE and the page).
fn console() -> Runnable {
    Runnable {
        run: |config, shutdown| Box::pin(async move { gantry_console::run(&config, shutdown).await }),
        ..runnable::<gantry_console::Console>()
    }
}

/// The services this build can run.
pub(crate) fn available() -> Vec<Runnable> {
    vec![
        console(),
        runnable::<gantry_intake::Intake>(),
        runnable::<gantry_ingest::Ingest>(),
        runnable::<gantry_lineage::Lineage>(),
        runnable::<gantry_provisioner::Provisioner>(),
        runnable::<gantry_rotation::Rotation>(),
    ]
}

/// Returns the services named (`all`: every one), each once.
pub(crate) fn resolve(requested: &[String]) -> anyhow::Result<Vec<Runnable>> {
    let available = available();
    let mut services: Vec<Runnable> = Vec::new();
    for name in requested {
        let found: Vec<Runnable> = if name == "all" {
            available.clone()
        } else if let Some(service) = available.iter().find(|service| service.name == name) {
            vec![*service]
        } else {
            let names: Vec<&str> = available.iter().map(|service| service.name).collect();
            anyhow::bail!("unknown service {name}; one of {} or all", names.join(", "));
        };
        for service in found {
            if !services.iter().any(|known| known.name == service.name) {
                services.push(service);
            }
        }
    }
    services.sort_unstable_by_key(|service| service.name);
    Ok(services)
}

pub(crate) async fn run(config_path: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let services = resolve(&args.services)?;
    let config = Config::load(config_path)?;
    let _telemetry = telemetry::init(&config.section::<TelemetrySettings>("telemetry")?)?;
    telemetry::record_build_info(env!("CARGO_PKG_VERSION"), env!("GANTRY_COMMIT"));
    let (trigger, shutdown) = ShutdownTrigger::new();
    let mut tasks = JoinSet::new();
    for service in services {
        let running = (service.run)(config.clone(), shutdown.clone());
        tasks.spawn(async move { (service.name, running.await) });
    }
    let mut failure = None;
    let mut signal = Box::pin(wait_for_signal());
    // Armed when the stop begins: a drain that outlasts it (a client that
    // stopped reading, an effect that hangs) ends the process anyway.
    let drain = tokio::time::sleep(std::time::Duration::MAX / 4);
    tokio::pin!(drain);
    let drain_timeout = std::time::Duration::from_secs(args.drain_timeout);
    loop {
        tokio::select! {
            _ = &mut signal => {
                if shutdown.is_triggered() {
                    anyhow::bail!("a second stop signal: exiting without finishing the drain");
                }
                tracing::info!("shutdown signal received; draining");
                trigger.trigger();
                signal = Box::pin(wait_for_signal());
                drain.as_mut().reset(tokio::time::Instant::now() + drain_timeout);
            }
            _ = &mut drain => {
                anyhow::bail!("the drain did not finish within {drain_timeout:?}; exiting");
            }
            joined = tasks.join_next() => match joined {
                None => break,
                Some(Ok((service, Ok(())))) => tracing::info!(service, "service stopped"),
                Some(Ok((service, Err(error)))) => {
                    tracing::error!(service, error = format!("{error:#}"), "service failed; stopping the others");
                    if !shutdown.is_triggered() {
                        drain.as_mut().reset(tokio::time::Instant::now() + drain_timeout);
                    }
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
        let names = |services: Vec<Runnable>| services.into_iter().map(|service| service.name).collect::<Vec<_>>();
        assert_eq!(
            names(resolve(&["all".into(), "intake".into()]).unwrap()),
            vec!["console", "ingest", "intake", "lineage", "provisioner", "rotation"]
        );
        assert_eq!(names(resolve(&["provisioner".into()]).unwrap()), vec!["provisioner"]);
        assert_eq!(names(resolve(&["lineage".into()]).unwrap()), vec!["lineage"]);
        assert!(resolve(&["bogus".into()]).is_err());
    }
}
