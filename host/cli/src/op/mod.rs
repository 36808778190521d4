//! `trace op …`: the operator author's commands.

pub mod run;
