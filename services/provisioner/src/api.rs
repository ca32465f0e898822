//! The provisioner's gRPC service: reads of its view (databases, buckets),
//! the catalog and audit exports, and the drift check. Thin methods: parse,
//! read or run, answer.

use crate::reads::{self, Filter};

use crate::{audit, catalog};
use gantry_proto::provisioner::{self as pb, provisioner_service_server::ProvisionerService};
use gantry_proto::types::Principal;
use gantry_runtime::principal_of;
use gantry_service::api::{ApiError as Error, Checks, ViewReads, environment, next_page, page_size, page_token};
use tonic::{Request, Response, Status};

/// The group that may run a reconcile.
pub(crate) const ADMIN_GROUP: &str = "platform-team";

/// The provisioner API over its view.
#[derive(Debug, Clone)]
pub(crate) struct ProvisionerApi {
    pub(crate) reads: ViewReads,
    pub(crate) reconciler: crate::drift::Reconciler,
}

fn required_name(field: &str, value: &str) -> Result<String, (String, String)> {
    if value.is_empty() {
        Err((field.to_owned(), "required".into()))
    } else if value.len() > 63 || !value.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"_-".contains(&byte)) {
        Err((field.to_owned(), "a database or bucket name: letters, digits, _ and -, at most 63".into()))
    } else {
        Ok(value.to_owned())
    }
}

fn optional_owner(value: &str) -> Result<Option<String>, (String, String)> {
    if value.is_empty() {
        Ok(None)
    } else if value.len() > 63
        || !value.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    {
        Err(("owner".into(), "a team name: a-z, 0-9 and -, at most 63".into()))
    } else {
        Ok(Some(value.to_owned()))
    }
}

fn status_filter(value: i32) -> Result<Option<&'static str>, (String, String)> {
    pb::ResourceStatus::try_from(value).map(reads::status_word).map_err(|_| {
        ("status".to_owned(), format!("unknown value {value}; one of 1 (provisioning) to 5 (decommissioned)"))
    })
}

impl ProvisionerApi {
    async fn get_database_inner(&self, message: pb::GetDatabaseRequest) -> Result<pb::Database, Error> {
        let mut checks = Checks::default();
        let environment = checks.take(environment("environment", message.environment, true)).flatten();
        let name = checks.take(required_name("database_name", &message.database_name));
        checks.finish()?;
        let (environment, name) = (environment.expect("checked"), name.expect("checked"));
        self.reads.at(message.min_sequence).await?;
        let row = reads::database(&self.reads.pool, &environment, &name).await?;
        row.map(|row| row.message())
            .ok_or_else(|| Error::NotFound(format!("no database {name} in {environment} was provisioned")))
    }

    async fn list_databases_inner(
        &self,
        message: pb::ListDatabasesRequest,
    ) -> Result<pb::ListDatabasesResponse, Error> {
        let mut checks = Checks::default();
        let filter = Filter {
            environment: checks.take(environment("environment", message.environment, false)).flatten(),
            owner: checks.take(optional_owner(&message.owner)).flatten(),
            status: checks.take(status_filter(message.status)).flatten(),
            purpose: None,
            below: checks.take(page_token(&message.page_token)).flatten(),
            limit: checks.take(page_size(message.page_size)).unwrap_or_default(),
        };
        checks.finish()?;
        self.reads.at(message.min_sequence).await?;
        let mut rows = reads::databases(&self.reads.pool, &filter).await?;
        let next_page_token = next_page(&mut rows, filter.limit, |row| row.created_sequence);
        Ok(pb::ListDatabasesResponse { databases: rows.iter().map(|row| row.message()).collect(), next_page_token })
    }

    async fn get_bucket_inner(&self, message: pb::GetBucketRequest) -> Result<pb::Bucket, Error> {
        let mut checks = Checks::default();
        let name = checks.take(required_name("bucket_name", &message.bucket_name));
        checks.finish()?;
        let name = name.expect("checked");
        self.reads.at(message.min_sequence).await?;
        let row = reads::bucket(&self.reads.pool, &name).await?;
        row.map(|row| row.message()).ok_or_else(|| Error::NotFound(format!("no bucket {name} was provisioned")))
    }

    async fn list_buckets_inner(&self, message: pb::ListBucketsRequest) -> Result<pb::ListBucketsResponse, Error> {
        let mut checks = Checks::default();
        let purpose = match message.purpose {
            0 => None,
            value => match reads::purpose_filter(value) {
                Some(purpose) => Some(purpose),
                None => {
                    checks.0.push((
                        "purpose".into(),
                        format!("unknown value {value}; one of 1 (backend-state) to 4 (artifacts)"),
                    ));
                    None
                }
            },
        };
        let filter = Filter {
            environment: checks.take(environment("environment", message.environment, false)).flatten(),
            owner: checks.take(optional_owner(&message.owner)).flatten(),
            status: checks.take(status_filter(message.status)).flatten(),
            purpose,
            below: checks.take(page_token(&message.page_token)).flatten(),
            limit: checks.take(page_size(message.page_size)).unwrap_or_default(),
        };
        checks.finish()?;
        self.reads.at(message.min_sequence).await?;
        let mut rows = reads::buckets(&self.reads.pool, &filter).await?;
        let next_page_token = next_page(&mut rows, filter.limit, |row| row.created_sequence);
        Ok(pb::ListBucketsResponse { buckets: rows.iter().map(|row| row.message()).collect(), next_page_token })
    }

    async fn export_catalog_inner(&self, message: pb::ExportCatalogRequest) -> Result<String, Error> {
        let mut checks = Checks::default();
        let environment = checks.take(environment("environment", message.environment, false)).flatten();
        let format = pb::CatalogFormat::try_from(message.format).unwrap_or(pb::CatalogFormat::Unspecified);
        if format == pb::CatalogFormat::Unspecified {
            checks.0.push(("format".into(), "required; one of 1 (platform), 2 (backstage)".into()));
        }
        checks.finish()?;
        self.reads.at(message.min_sequence).await?;
        let (databases, buckets) = reads::all_in_status(&self.reads.pool, environment.as_deref(), "ready").await?;
        let rendered = match format {
            pb::CatalogFormat::Backstage => catalog::backstage(&databases, &buckets),
            _ => catalog::platform(&databases, &buckets),
        };
        Ok(rendered?)
    }

    async fn export_audit_inner(&self, message: pb::ExportAuditRequest) -> Result<pb::ExportAuditResponse, Error> {
        let mut checks = Checks::default();
        let environment = checks.take(environment("environment", message.environment, true)).flatten();
        match pb::AuditFormat::try_from(message.format) {
            Ok(pb::AuditFormat::Unspecified | pb::AuditFormat::Csv) => {}
            Err(_) => checks.0.push(("format".into(), format!("unknown value {}; one of 1 (csv)", message.format))),
        }
        checks.finish()?;
        self.reads.at(message.min_sequence).await?;
        let rows = reads::audit_rows(&self.reads.pool, &environment.expect("checked")).await?;
        Ok(pb::ExportAuditResponse { content: audit::csv(&rows)?, rows: rows.len() as u32 })
    }

    async fn reconcile_inner(
        &self,
        principal: Principal,
        message: pb::ReconcileRequest,
    ) -> Result<pb::ReconcileResponse, Error> {
        if !principal.groups.iter().any(|group| group == ADMIN_GROUP) {
            return Err(Error::PermissionDenied(format!("a reconcile needs a member of {ADMIN_GROUP}")));
        }
        let mut checks = Checks::default();
        let environment = checks.take(environment("environment", message.environment, false)).flatten();
        checks.finish()?;
        if !self.reads.readiness.is_ready() {
            return Err(Error::ViewUnavailable);
        }
        self.reconciler.reconcile(environment.as_deref(), message.repair, &principal).await
    }
}

#[tonic::async_trait]
impl ProvisionerService for ProvisionerApi {
    async fn get_database(
        &self,
        request: Request<pb::GetDatabaseRequest>,
    ) -> Result<Response<pb::GetDatabaseResponse>, Status> {
        principal_of(&request)?;
        let database = self.reads.bounded(self.get_database_inner(request.into_inner())).await?;
        Ok(Response::new(pb::GetDatabaseResponse { database: Some(database) }))
    }

    async fn list_databases(
        &self,
        request: Request<pb::ListDatabasesRequest>,
    ) -> Result<Response<pb::ListDatabasesResponse>, Status> {
        principal_of(&request)?;
        Ok(Response::new(self.reads.bounded(self.list_databases_inner(request.into_inner())).await?))
    }

    async fn get_bucket(
        &self,
        request: Request<pb::GetBucketRequest>,
    ) -> Result<Response<pb::GetBucketResponse>, Status> {
        principal_of(&request)?;
        let bucket = self.reads.bounded(self.get_bucket_inner(request.into_inner())).await?;
        Ok(Response::new(pb::GetBucketResponse { bucket: Some(bucket) }))
    }

    async fn list_buckets(
        &self,
        request: Request<pb::ListBucketsRequest>,
    ) -> Result<Response<pb::ListBucketsResponse>, Status> {
        principal_of(&request)?;
        Ok(Response::new(self.reads.bounded(self.list_buckets_inner(request.into_inner())).await?))
    }

    async fn export_catalog(
        &self,
        request: Request<pb::ExportCatalogRequest>,
    ) -> Result<Response<pb::ExportCatalogResponse>, Status> {
        principal_of(&request)?;
        let content = self.reads.bounded(self.export_catalog_inner(request.into_inner())).await?;
        Ok(Response::new(pb::ExportCatalogResponse { content }))
    }

    async fn export_audit(
        &self,
        request: Request<pb::ExportAuditRequest>,
    ) -> Result<Response<pb::ExportAuditResponse>, Status> {
        principal_of(&request)?;
        Ok(Response::new(self.reads.bounded(self.export_audit_inner(request.into_inner())).await?))
    }

    async fn reconcile(
        &self,
        request: Request<pb::ReconcileRequest>,
    ) -> Result<Response<pb::ReconcileResponse>, Status> {
        let principal = principal_of(&request)?;
        Ok(Response::new(self.reconcile_inner(principal, request.into_inner()).await?))
    }
}
