//! What changed between two versions of a flow, node by node.
