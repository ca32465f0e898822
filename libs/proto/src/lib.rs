//! Generated code of every Gantry contract under `proto/`: messages (prost),
//! gRPC clients and servers (tonic), and the encoded descriptor set that
//! server reflection serves. Nothing here is written by hand.
//!
//! Layout: one module per protobuf package, `gantry::<area>::v1`.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#![allow(clippy::all)]

/// Encoded `FileDescriptorSet` of every Gantry proto file, the imports they
/// need and `google/rpc/error_details.proto` (what errors carry), for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/gantry_descriptor.bin"));

pub mod gantry {
    pub mod types {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.types.v1.rs"));
        }
    }
    pub mod events {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.events.v1.rs"));
        }
    }
    pub mod intake {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.intake.v1.rs"));
        }
    }
    pub mod provisioner {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.provisioner.v1.rs"));
        }
    }
    pub mod rotation {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.rotation.v1.rs"));
        }
    }
    pub mod artifacts {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.artifacts.v1.rs"));
        }
    }
    pub mod lineage {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/gantry.lineage.v1.rs"));
        }
    }
}

pub use gantry::{
    artifacts::v1 as artifacts, events::v1 as events, intake::v1 as intake, lineage::v1 as lineage,
    provisioner::v1 as provisioner, rotation::v1 as rotation, types::v1 as types,
};
