//! `trace op …`: the operator author's commands.

pub mod inspect;
pub mod run;
