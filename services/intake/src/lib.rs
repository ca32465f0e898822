//! temp
pub mod domain;
