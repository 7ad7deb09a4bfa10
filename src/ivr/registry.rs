//! The published version of each flow that new calls start with. A publish swaps it atomically; a call
//! holds the `Arc` of the version it started with until it ends.

use super::flow::Flow;
use super::prompts::PromptSet;
use std::sync::{Arc, RwLock};

/// One published, immutable version with its rendered prompts.
pub struct Published {
    pub flow: Arc<Flow>,
    pub version: i64,
    pub prompts: Arc<PromptSet>,
}

/// The flow new calls get. (koe serves one entry flow; more flows by called number can come later.)
#[derive(Default)]
pub struct Registry {
    active: RwLock<Option<Arc<Published>>>,
}

impl Registry {
    pub fn current(&self) -> Option<Arc<Published>> {
        self.active.read().expect("registry lock").clone()
    }

    pub fn set(&self, published: Published) {
        *self.active.write().expect("registry lock") = Some(Arc::new(published));
    }
}
