//! The operator's logic as plain Rust, tested with `cargo test`.

/// Indexes of the rows whose value is at least `min`.
pub fn rows_at_least(values: &[f64], min: f64) -> Vec<u32> {
    (0..values.len() as u32).filter(|&i| values[i as usize] >= min).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_rows_at_or_above_the_minimum() {
        assert_eq!(super::rows_at_least(&[5.0, 10.0, 15.0, 10.0], 10.0), vec![1, 2, 3]);
        assert!(super::rows_at_least(&[1.0, 2.0], 3.0).is_empty());
    }
}
