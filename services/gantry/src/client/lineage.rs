//! `gantry lineage ...`: walks, runs and impact asked of lineage and
//! printed as a table, JSON, Mermaid or DOT; OpenLineage export (one run
//! event a line); recording OpenLineage events from a file or stdin.

use super::lineage_client;
use crate::cli::{ClientArgs, Direction, ExportArgs, LineageCommand, ShowArgs, WalkArgs};
use crate::failure::Failure;
use crate::output::Printer;
use gantry_proto::lineage::{self as pb, export_open_lineage_request::Query};
use std::io::Read as _;
use std::path::Path;

/// Runs a `gantry lineage` command.
pub(crate) async fn lineage(args: &ClientArgs, command: LineageCommand) -> anyhow::Result<()> {
    let mut client = lineage_client(args).await?;
    let printer = Printer::new(args.output);
    match command {
        LineageCommand::Upstream(walk) => {
            let graph = client.upstream(traverse(&walk)).await?.into_inner();
            printer.graph(&graph, walk.format);
        }
        LineageCommand::Downstream(walk) => {
            let graph = client.downstream(traverse(&walk)).await?.into_inner();
            printer.graph(&graph, walk.format);
        }
        LineageCommand::Run(run) => {
            let message = pb::RunRequest {
                tenant: run.tenant,
                run_id: run.run_id,
                as_of: run.as_of,
                min_sequence: run.min_sequence.unwrap_or(0),
            };
            printer.graph(&client.run(message).await?.into_inner(), run.format);
        }
        LineageCommand::Impact(walk) => {
            let impact = client.impact(traverse(&walk)).await?.into_inner();
            printer.impact(&impact, walk.format);
        }
        LineageCommand::Export(export) => {
            let answer = client.export_open_lineage(export_message(export)).await?.into_inner();
            for event in &answer.run_events {
                println!("{event}");
            }
            if answer.truncated {
                eprintln!("note: the walk stopped at its node cap; raise --max-nodes or lower --depth for all of it");
            }
        }
        LineageCommand::Show(show) => {
            let format = show.format;
            let graph = walk_for_picture(&mut client, show).await?;
            printer.picture(&graph, format);
        }
        LineageCommand::Record { file, tenant } => {
            for event_json in read_events(&file)? {
                let message = pb::IngestOpenLineageRequest { tenant: tenant.clone(), event_json };
                printer.recorded(&client.ingest_open_lineage(message).await?.into_inner());
            }
        }
    }
    Ok(())
}

/// The walk request of a command's flags.
fn traverse(walk: &WalkArgs) -> pb::TraverseRequest {
    pb::TraverseRequest {
        node_id: walk.node_id.clone(),
        depth: walk.depth.unwrap_or(0),
        tenant: walk.tenant.clone().unwrap_or_default(),
        agent: walk.agent.clone().unwrap_or_default(),
        as_of: walk.as_of,
        max_nodes: walk.max_nodes.unwrap_or(0),
        min_sequence: walk.min_sequence.unwrap_or(0),
    }
}

fn export_message(export: ExportArgs) -> pb::ExportOpenLineageRequest {
    let query = match (export.run, export.node_id) {
        (Some(run_id), _) => Query::Run(pb::RunRequest {
            tenant: export.tenant.unwrap_or_default(),
            run_id,
            as_of: export.as_of,
            min_sequence: 0,
        }),
        (None, node_id) => {
            let walk = pb::TraverseRequest {
                node_id: node_id.unwrap_or_default(),
                depth: export.depth.unwrap_or(0),
                tenant: export.tenant.unwrap_or_default(),
                as_of: export.as_of,
                ..Default::default()
            };
            match export.direction {
                Direction::Upstream => Query::Upstream(walk),
                Direction::Downstream => Query::Downstream(walk),
            }
        }
    };
    pb::ExportOpenLineageRequest { query: Some(query) }
}

async fn walk_for_picture(client: &mut super::LineageClient, show: ShowArgs) -> anyhow::Result<pb::Graph> {
    let walk = pb::TraverseRequest {
        node_id: show.node_id,
        depth: show.depth.unwrap_or(0),
        as_of: show.as_of,
        ..Default::default()
    };
    Ok(match show.direction {
        Direction::Upstream => client.upstream(walk).await?.into_inner(),
        Direction::Downstream => client.downstream(walk).await?.into_inner(),
    })
}

/// The events of a file (`-`: stdin): one JSON object, or one a line.
fn read_events(file: &Path) -> anyhow::Result<Vec<String>> {
    let mut text = String::new();
    if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(file)
            .map_err(|error| Failure::new("INVALID_ARGUMENT", format!("cannot read {}: {error}", file.display())))?;
    }
    Ok(split_events(&text))
}

/// One JSON document is one event; otherwise every non-empty line is one.
fn split_events(text: &str) -> Vec<String> {
    if serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return vec![text.trim().to_owned()];
    }
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_holds_one_event_or_one_a_line() {
        assert_eq!(split_events("{\n  \"a\": 1\n}\n"), ["{\n  \"a\": 1\n}"]);
        assert_eq!(split_events("{\"a\":1}\n\n{\"b\":2}\n"), ["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn export_asks_for_a_run_or_a_walk() {
        use clap::Parser as _;
        let parse = |words: &[&str]| {
            let cli = crate::cli::Cli::try_parse_from(words).unwrap();
            let crate::cli::Command::Lineage(LineageCommand::Export(export)) = cli.command else { panic!("export") };
            export_message(export).query.unwrap()
        };
        let run = parse(&["gantry", "lineage", "export", "--run", "run-1", "--tenant", "acme"]);
        assert!(matches!(run, Query::Run(run) if run.run_id == "run-1" && run.tenant == "acme"));
        let down = parse(&["gantry", "lineage", "export", "abc", "--direction", "downstream", "--as-of", "7"]);
        assert!(matches!(down, Query::Downstream(walk) if walk.node_id == "abc" && walk.as_of.is_some()));
        assert!(crate::cli::Cli::try_parse_from(["gantry", "lineage", "export"]).is_err());
    }
}
