//! `gantry artifact ...` and `gantry admin verify`: ingest's client side.
//! A push streams the file in chunks (never whole in memory) behind a
//! progress bar when stderr is a terminal; a pull writes a temporary file
//! next to the target and renames it only once every byte arrived and the
//! service found them whole, so a corrupted or cut download leaves nothing.

use super::{IngestClient, every_page, ingest_client};
use crate::cli::{ArtifactCommand, ClientArgs, LsArgs, Output, PullArgs, PushArgs, VerifyArgs};
use crate::failure::{EXIT_CORRUPTED, Failure};
use crate::output::Printer;
use gantry_proto::artifacts::{self as pb, download_response, upload_request};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal as _, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio_stream::StreamExt as _;
use tokio_util::io::ReaderStream;

/// Runs a `gantry artifact` command.
pub(crate) async fn artifact(args: &ClientArgs, command: ArtifactCommand) -> anyhow::Result<()> {
    let mut client = ingest_client(args).await?;
    let printer = Printer::new(args.output);
    match command {
        ArtifactCommand::Push(push_args) => {
            let answer = push(&mut client, push_args, args.output).await?;
            printer.pushed(&answer);
        }
        ArtifactCommand::Pull(pull_args) => pull(&mut client, pull_args).await?,
        ArtifactCommand::Stat { artifact_id, min_sequence } => {
            let message = pb::StatRequest { artifact_id, min_sequence: min_sequence.unwrap_or(0) };
            printer.stat(&client.stat(message).await?.into_inner());
        }
        ArtifactCommand::Manifest(run) => {
            let message = pb::WriteRunManifestRequest {
                tenant: run.tenant,
                run_id: run.run_id,
                min_sequence: run.min_sequence.unwrap_or(0),
            };
            let answer = client.write_run_manifest(message).await?.into_inner();
            printer.run_files(&answer.files, None);
        }
        ArtifactCommand::Complete(run) => {
            let message = pb::CompleteRunRequest {
                tenant: run.tenant,
                run_id: run.run_id,
                min_sequence: run.min_sequence.unwrap_or(0),
            };
            let answer = client.complete_run(message).await?.into_inner();
            printer.run_files(&answer.files, Some(&answer));
        }
        ArtifactCommand::Ls(ls) => printer.artifacts(&list(&client, ls).await?),
    }
    Ok(())
}

/// A bar of bytes, rate and time left on stderr, when it is a terminal and
/// the output is for people.
fn progress(total: u64, output: Output) -> ProgressBar {
    if output == Output::Json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar
}

async fn push(client: &mut IngestClient, args: PushArgs, output: Output) -> anyhow::Result<pb::UploadResponse> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(|error| Failure::new("INVALID_ARGUMENT", format!("cannot read {}: {error}", args.file.display())))?;
    let size = file.metadata().await?.len();
    let name = match args.name {
        Some(name) => name,
        None => args.file.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
    };
    let header = pb::UploadHeader {
        tenant: args.tenant,
        run_id: args.run_id,
        step_id: args.step_id,
        agent: args.agent,
        agent_version: args.agent_version,
        name,
        media_type: args.media_type.unwrap_or_default(),
        input_artifact_ids: args.inputs,
        retention: args.retention.map_or(0, |retention| gantry_proto::events::RetentionPolicy::from(retention) as i32),
        // The size is the file's: the service refuses anything else arriving.
        expected_size_bytes: Some(size),
        expected_sha256: String::new(),
        min_sequence: args.min_sequence.unwrap_or(0),
    };
    let bar = progress(size, output);
    // A failed read ends the stream (the service then refuses the short
    // upload); the read's own error is what the user is told.
    let read_error = Arc::new(Mutex::new(None));
    let chunks = ReaderStream::with_capacity(file, args.chunk_bytes as usize).map_while({
        let (bar, read_error) = (bar.clone(), read_error.clone());
        move |read| match read {
            Ok(chunk) => {
                bar.inc(chunk.len() as u64);
                Some(pb::UploadRequest { message: Some(upload_request::Message::Chunk(chunk)) })
            }
            Err(error) => {
                *read_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error);
                None
            }
        }
    });
    let first = pb::UploadRequest { message: Some(upload_request::Message::Header(header)) };
    let answer = client.upload(tokio_stream::iter([first]).chain(chunks)).await;
    bar.finish_and_clear();
    if let Some(error) = read_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
        return Err(Failure::new("INVALID_ARGUMENT", format!("reading {} failed: {error}", args.file.display())).into());
    }
    Ok(answer?.into_inner())
}

async fn pull(client: &mut IngestClient, args: PullArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.out_file
        && path.exists()
        && !args.force
    {
        return Err(Failure::new("ALREADY_EXISTS", format!("{} exists", path.display()))
            .with_hint("pass --force to replace it")
            .into());
    }
    let (offset, length) = args.range.map_or((0, 0), |range| (range.offset, range.length.unwrap_or(0)));
    let message = pb::DownloadRequest { artifact_id: args.artifact_id, offset, length, min_sequence: 0 };
    let mut stream = client.download(message).await?.into_inner();
    match &args.out_file {
        Some(path) => {
            let temporary = temporary_beside(path);
            let written = async {
                let mut file = std::fs::File::create(&temporary)?;
                while let Some(message) = stream.message().await? {
                    if let Some(download_response::Message::Chunk(chunk)) = message.message {
                        file.write_all(&chunk)?;
                    }
                }
                file.sync_all()?;
                std::fs::rename(&temporary, path)?;
                Ok::<_, anyhow::Error>(())
            }
            .await;
            if written.is_err() {
                let _ = std::fs::remove_file(&temporary);
            }
            written
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            while let Some(message) = stream.message().await? {
                if let Some(download_response::Message::Chunk(chunk)) = message.message {
                    stdout.write_all(&chunk)?;
                }
            }
            stdout.flush()?;
            Ok(())
        }
    }
}

/// `<dir>/.<name>.part`: beside the target, so the rename stays on one filesystem.
fn temporary_beside(path: &Path) -> std::path::PathBuf {
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.part"))
}

async fn list(client: &IngestClient, args: LsArgs) -> anyhow::Result<Vec<pb::Artifact>> {
    let message = pb::ListRequest {
        tenant: args.tenant,
        run_id: args.run_id.unwrap_or_default(),
        name: args.name.unwrap_or_default(),
        include_expired: args.include_expired,
        page_size: 500,
        page_token: String::new(),
        min_sequence: args.min_sequence.unwrap_or(0),
    };
    every_page(|page_token| {
        let (mut client, message) = (client.clone(), pb::ListRequest { page_token, ..message.clone() });
        async move {
            let page = client.list(message).await?.into_inner();
            Ok((page.artifacts, page.next_page_token))
        }
    })
    .await
}

/// Runs `gantry admin verify`: exit 7 when a blob was corrupted or missing.
pub(crate) async fn verify(args: &ClientArgs, verify: VerifyArgs) -> anyhow::Result<()> {
    let message = pb::VerifyRequest { backend: verify.backend.unwrap_or_default(), min_sequence: 0 };
    let answer = ingest_client(args).await?.verify(message).await?.into_inner();
    Printer::new(args.output).verified(&answer);
    match answer.corrupted {
        0 => Ok(()),
        corrupted => {
            let message = format!("{corrupted} blobs were corrupted or missing");
            let hint = "their downloads fail with DATA_LOSS; push the same bytes again to repair a blob";
            Err(Failure { exit: EXIT_CORRUPTED, ..Failure::new("DATA_LOSS", message) }.with_hint(hint).into())
        }
    }
}
