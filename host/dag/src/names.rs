//! Name rules: dataset names are `^[a-z][a-z0-9_]{0,127}$` (seed 004); job,
//! pool and DAG names follow the same shape with at most 64 characters.

fn snake(name: &str, max: usize) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= max
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

/// `^[a-z][a-z0-9_]{0,127}$`
pub fn is_valid_dataset_name(name: &str) -> bool {
    snake(name, 128)
}

/// `^[a-z][a-z0-9_]{0,63}$` (also used for DAG and pool names)
pub fn is_valid_job_name(name: &str) -> bool {
    snake(name, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dataset_names_follow_the_registry_rule() {
        assert!(is_valid_dataset_name("erc20_transfers"));
        assert!(is_valid_dataset_name(&format!("a{}", "b".repeat(127))));
        assert!(!is_valid_dataset_name(&format!("a{}", "b".repeat(128))));
        for bad in ["", "1abc", "_x", "Transfers", "a-b", "a b", "ä"] {
            assert!(!is_valid_dataset_name(bad), "{bad:?}");
        }
    }
}
