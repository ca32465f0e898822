//! Who may see and store which tenant's artifacts: the tenant rule every
//! service shares ([`gantry_service::tenancy`]). For artifacts: a tenant's
//! members upload, read and list its artifacts; `platform-team` reads and
//! lists every tenant's but uploads only for tenants it is a member of;
//! anyone else gets NOT_FOUND, as if the artifact did not exist, and an
//! input id of another tenant is reported missing.

pub use gantry_service::tenancy::{PLATFORM_TEAM, TENANT_GROUP_PREFIX};
pub(crate) use gantry_service::tenancy::{may_read, may_write};
