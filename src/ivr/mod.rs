//! The IVR: the flow format, its validation, the sans-IO engine a call runs, the published versions and
//! their rendered prompts.

pub mod cli;
pub mod diff;
pub mod engine;
pub mod flow;
pub mod lookup;
pub mod matcher;
pub mod prompts;
pub mod publish;
pub mod registry;
pub mod schedule;
pub mod simulate;
pub mod validate;

pub use flow::{Flow, Node, NodeId};
