//! Rust types generated from `wire/proto` (Dapr's files) at build time. The module tree mirrors the
//! protobuf packages, which the generated code's relative paths rely on.

// Generated code: prost and tonic emit items without doc comments.
#![allow(clippy::all, missing_docs)]

/// `dapr.proto.*`
pub mod dapr {
    pub mod proto {
        pub mod common {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.common.v1");
            }
        }
        pub mod runtime {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.runtime.v1");
            }
        }
        pub mod actors {
            pub mod v1 {
                tonic::include_proto!("dapr.proto.actors.v1");
            }
        }
    }
}

pub use dapr::proto::actors::v1 as actors;
pub use dapr::proto::common::v1 as common;
pub use dapr::proto::runtime::v1 as runtime;
