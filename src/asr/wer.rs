//! Word error rate, the accuracy figure for tests and benchmarks: (substitutions + deletions +
//! insertions) / reference words, after `guard::normalize`.

use super::guard::normalize;

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Whisper writes small numbers as digits ("10 of clubs"), references spell them ("ten of clubs"):
/// spell 0–99 so that both count as the same words.
fn spell_numbers(text: &str) -> Vec<String> {
    text.split_whitespace()
        .flat_map(|w| match w.parse::<usize>() {
            Ok(n) if n < 20 => vec![UNITS[n].to_string()],
            Ok(n) if n < 100 && n % 10 == 0 => vec![TENS[n / 10].to_string()],
            Ok(n) if n < 100 => vec![TENS[n / 10].to_string(), UNITS[n % 10].to_string()],
            _ => vec![w.to_string()],
        })
        .collect()
}

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
    let r = spell_numbers(&normalize(reference));
    let h = spell_numbers(&normalize(hypothesis));
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
        assert_eq!(word_errors("ten of clubs", "10 of clubs."), (0, 3));
        assert_eq!(word_errors("twenty five", "25"), (0, 2));
    }
}
