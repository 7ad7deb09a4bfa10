//! Word error rate, the accuracy figure for tests and benchmarks: (substitutions + deletions +
//! insertions) / reference words, after `guard::normalize`.

use super::guard::normalize;

/// Edit distance between two token sequences.
fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diag + usize::from(x != y)).min(row[j] + 1).min(above + 1);
            diag = above;
        }
    }
    row[b.len()]
}

/// Errors and reference length, so that rates over a corpus are summed, not averaged.
pub fn word_errors(reference: &str, hypothesis: &str) -> (usize, usize) {
    let r = normalize(reference);
    let h = normalize(hypothesis);
    let r: Vec<&str> = r.split_whitespace().collect();
    let h: Vec<&str> = h.split_whitespace().collect();
    (edit_distance(&r, &h), r.len())
}

pub fn word_error_rate(reference: &str, hypothesis: &str) -> f64 {
    let (e, n) = word_errors(reference, hypothesis);
    e as f64 / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_substitutions_insertions_and_deletions() {
        assert_eq!(
            word_errors("ask not what your country", "Ask not, what your country!"),
            (0, 5)
        );
        assert_eq!(word_errors("a b c d", "a x c d e"), (2, 4));
        assert_eq!(word_errors("a b c d", "b c"), (2, 4));
        assert!((word_error_rate("one two three four", "one two tree four") - 0.25).abs() < 1e-12);
    }
}
