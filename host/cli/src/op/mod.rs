//! `trace op …`: the operator author's commands.

pub mod build;
pub mod inspect;
pub mod new;
pub mod run;
