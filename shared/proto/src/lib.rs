//! Generated code for every closeloop gRPC API, and the file descriptor set that server
//! reflection serves. The `.proto` files under `proto/` are the contract; this crate only
//! compiles them.

#![forbid(unsafe_code)]
#![allow(clippy::doc_lazy_continuation, clippy::large_enum_variant)]

pub mod codec;

/// Encoded `FileDescriptorSet` of all closeloop packages, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("closeloop_descriptor");

/// `closeloop.common.v1`: money, dates, contacts, parties.
pub mod common {
    pub mod v1 {
        tonic::include_proto!("closeloop.common.v1");
    }
}

/// `closeloop.opportunities.v1`: the opportunities service.
pub mod opportunities {
    pub mod v1 {
        tonic::include_proto!("closeloop.opportunities.v1");
    }
}

/// `closeloop.contracts.v1`: contracts, orders, invoices, payments.
pub mod contracts {
    pub mod v1 {
        tonic::include_proto!("closeloop.contracts.v1");
    }
}

/// `closeloop.handoff.v1`: the handoff from sales to the account team.
pub mod handoff {
    pub mod v1 {
        tonic::include_proto!("closeloop.handoff.v1");
    }
}

/// `closeloop.accounts.v1`: account management.
pub mod accounts {
    pub mod v1 {
        tonic::include_proto!("closeloop.accounts.v1");
    }
}
