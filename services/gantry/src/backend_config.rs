//! `gantry bucket backend-config`: one Terraform S3 backend file per layer
//! (`<layer>.hcl`, for `terraform init -backend-config=<file>`) keeping the
//! layer's state in a ready backend-state bucket at
//! `regions/<region>/layers/<layer>/<env>/terraform.tfstate`, encrypted and
//! locked with S3's own lock file. What a file says is pure (and tested);
//! writing never replaces a file unless asked to.

use crate::failure::Failure;
use crate::output::{environment_word, purpose_word, resource_status_word};
use gantry_proto::provisioner as pb;
use gantry_proto::types::BucketPurpose;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A Terraform layer's name: lower case letters, digits, `-` and `_`,
/// starting with a letter or digit, so it is safe as a file name and as a
/// segment of the state's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layer(String);

/// The longest layer name.
const LAYER_MAX: usize = 63;

/// Parses `--layer`.
pub(crate) fn parse_layer(text: &str) -> Result<Layer, String> {
    let mut characters = text.chars();
    let first_is_legal = characters.next().is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit());
    let rest_is_legal = characters
        .all(|character| character.is_ascii_lowercase() || character.is_ascii_digit() || "-_".contains(character));
    match first_is_legal && rest_is_legal && text.len() <= LAYER_MAX {
        true => Ok(Layer(text.to_owned())),
        false => Err(format!(
            "{text:?} is not a layer name: up to {LAYER_MAX} lower case letters, digits, '-' and '_', \
             starting with a letter or digit"
        )),
    }
}

/// One backend file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BackendFile {
    /// The layer it is for.
    pub(crate) layer: String,
    /// Where it goes: `<out-dir>/<layer>.hcl`.
    pub(crate) path: PathBuf,
    /// The state's key in the bucket.
    pub(crate) key: String,
    /// What it says.
    pub(crate) content: String,
}

/// A value of a backend setting.
enum Setting {
    Text(String),
    Flag(bool),
}

/// Returns the files for these layers (each once, in the order given); the
/// bucket must be a ready backend-state bucket.
pub(crate) fn backend_files(
    bucket: &pb::Bucket,
    layers: &[Layer],
    out_dir: &Path,
    dynamodb_table: Option<&str>,
) -> anyhow::Result<Vec<BackendFile>> {
    ensure_backend_state(bucket)?;
    let mut files: Vec<BackendFile> = Vec::new();
    for Layer(layer) in layers {
        if files.iter().any(|file| &file.layer == layer) {
            continue;
        }
        let key = format!(
            "regions/{}/layers/{layer}/{}/terraform.tfstate",
            bucket.region,
            environment_word(bucket.environment)
        );
        let content = render(bucket, layer, &key, dynamodb_table);
        files.push(BackendFile { layer: layer.clone(), path: out_dir.join(format!("{layer}.hcl")), key, content });
    }
    Ok(files)
}

/// Refuses a bucket that is not ready or not for Terraform state.
fn ensure_backend_state(bucket: &pb::Bucket) -> anyhow::Result<()> {
    let name = &bucket.bucket_name;
    if bucket.purpose != BucketPurpose::BackendState as i32 {
        let purpose = purpose_word(bucket.purpose);
        return Err(Failure::new("FAILED_PRECONDITION", format!("bucket {name} is for {purpose}, not backend-state"))
            .with_hint("`gantry bucket list --purpose backend-state` lists the buckets for Terraform state")
            .into());
    }
    if bucket.status != pb::ResourceStatus::Ready as i32 {
        let status = resource_status_word(bucket.status);
        return Err(Failure::new("FAILED_PRECONDITION", format!("bucket {name} is {status}, not ready"))
            .with_hint(format!("follow it with `gantry request watch {}`", bucket.request_id))
            .into());
    }
    Ok(())
}

/// Returns a backend file: a header saying what it is, then one aligned
/// `name = value` line per setting.
fn render(bucket: &pb::Bucket, layer: &str, key: &str, dynamodb_table: Option<&str>) -> String {
    let mut settings = vec![
        ("bucket", Setting::Text(bucket.bucket_name.clone())),
        ("key", Setting::Text(key.to_owned())),
        ("region", Setting::Text(bucket.region.clone())),
        ("encrypt", Setting::Flag(true)),
        ("use_lockfile", Setting::Flag(true)),
    ];
    if bucket.encryption == "aws:kms" && !bucket.kms_key_id.is_empty() {
        settings.push(("kms_key_id", Setting::Text(bucket.kms_key_id.clone())));
    }
    if let Some(table) = dynamodb_table {
        settings.push(("dynamodb_table", Setting::Text(table.to_owned())));
    }
    let width = settings.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut text = format!(
        "# Terraform S3 backend of layer {layer}: terraform init -backend-config={layer}.hcl\n\
         # Written by `gantry bucket backend-config` for bucket {} (request {}).\n",
        bucket.bucket_name, bucket.request_id
    );
    for (name, setting) in settings {
        let value = match setting {
            Setting::Text(text) => hcl_string(&text),
            Setting::Flag(flag) => flag.to_string(),
        };
        text.push_str(&format!("{name:<width$} = {value}\n"));
    }
    text
}

/// Returns an HCL string literal: quoted, with quotes, backslashes, control
/// characters and template openers (`${`, `%{`) escaped.
fn hcl_string(text: &str) -> String {
    let mut literal = String::from('"');
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '"' => literal.push_str("\\\""),
            '\\' => literal.push_str("\\\\"),
            '\n' => literal.push_str("\\n"),
            '\r' => literal.push_str("\\r"),
            '\t' => literal.push_str("\\t"),
            '$' | '%' if characters.peek() == Some(&'{') => {
                literal.push(character);
                literal.push(character);
            }
            control if control.is_control() => literal.push_str(&format!("\\u{:04x}", control as u32)),
            other => literal.push(other),
        }
    }
    literal.push('"');
    literal
}

/// Writes the files, creating the directory; without `force`, nothing is
/// written when any of them exists.
pub(crate) fn write(files: &[BackendFile], force: bool) -> anyhow::Result<()> {
    if !force {
        let existing: Vec<String> =
            files.iter().filter(|file| file.path.exists()).map(|file| file.path.display().to_string()).collect();
        if !existing.is_empty() {
            return Err(Failure::new("ALREADY_EXISTS", format!("{} exists; nothing written", existing.join(", ")))
                .with_hint("pass --force to replace it, or choose another --out-dir")
                .into());
        }
    }
    for file in files {
        if let Some(directory) = file.path.parent().filter(|directory| !directory.as_os_str().is_empty()) {
            std::fs::create_dir_all(directory).map_err(|error| cannot_write(directory, &error))?;
        }
        let mut options = std::fs::OpenOptions::new();
        // Without --force, a file made since the check above is not replaced either.
        options.write(true).create_new(!force).create(force).truncate(force);
        let mut handle = options.open(&file.path).map_err(|error| cannot_write(&file.path, &error))?;
        handle.write_all(file.content.as_bytes()).map_err(|error| cannot_write(&file.path, &error))?;
    }
    Ok(())
}

fn cannot_write(path: &Path, error: &std::io::Error) -> Failure {
    let code = match error.kind() {
        std::io::ErrorKind::AlreadyExists => "ALREADY_EXISTS",
        std::io::ErrorKind::PermissionDenied => "PERMISSION_DENIED",
        _ => "UNKNOWN",
    };
    Failure::new(code, format!("cannot write {}: {error}", path.display()))
}

#[cfg(test)]
mod tests;
