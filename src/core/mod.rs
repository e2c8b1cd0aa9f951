//! The core library: everything but the user interface. Nothing here depends on egui.

pub mod archive;
pub mod audit_report;
pub mod case;
pub mod catalog;
pub mod chain;
pub mod checkpoint;
pub mod digest;
pub mod export;
pub mod filter;
pub mod ingest;
pub mod job;
pub mod json;
pub mod merkle;
pub mod model;
pub mod note;
pub mod patterns;
pub mod proof;
pub mod record_view;
pub mod sample;
pub mod siem;
pub mod source;
pub mod time;
pub mod verify;
