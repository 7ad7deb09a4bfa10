//! The sans-IO IVR engine one call runs.
