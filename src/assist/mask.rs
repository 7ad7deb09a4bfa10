//! Payment card numbers in transcripts, as Whisper writes them: "4111 1111 1111 1111", "4111-1111-…",
//! "four one one one …" (with "double"/"triple"), full-width ４１１１ or 四一一一. A run of 13 or more
//! digits, Luhn-valid or not (a card number read out is sensitive either way), has its digits replaced by
//! `•` but for the last four, as PCI DSS allows. Order numbers (6–10 digits) and phone numbers (10–11,
//! 12 with a country code) are shorter and stay as they are.

use std::ops::Range;

/// The fewest digits of a card number (the shortest PANs have 13).
pub const CARD_MIN_DIGITS: usize = 13;
/// Digits in a run still open at the end of a partial transcript from which it may be a card number.
pub const CARD_START_DIGITS: usize = 6;
const KEEP_LAST: usize = 4;
const MASK: char = '•';

/// A run of digits with only separators between them; each digit with the text it was read from.
#[derive(Debug, Clone, PartialEq)]
struct DigitRun {
    digits: Vec<Range<usize>>,
    /// Whether only separators or a sentence's end follow the run to the end of the text.
    at_end: bool,
}

impl DigitRun {
    fn span(&self) -> Range<usize> {
        self.digits[0].start..self.digits[self.digits.len() - 1].end
    }
}

/// The text with every card number masked, and whether there was one.
pub fn mask_card_numbers(text: &str) -> (String, bool) {
    let runs: Vec<DigitRun> = digit_runs(text)
        .into_iter()
        .filter(|r| r.digits.len() >= CARD_MIN_DIGITS)
        .collect();
    if runs.is_empty() {
        return (text.to_string(), false);
    }
    (mask_runs(text, &runs), true)
}

/// Whether [`mask_card_numbers`] hid a card number in this text.
pub fn is_masked(text: &str) -> bool {
    text.contains(MASK)
}

/// Whether the text ends in a run of digits that may be the start of a card number being read out (at
/// least [`CARD_START_DIGITS`] so far), so that the recording can be paused before the rest is said.
pub fn looks_like_card_start(text: &str) -> bool {
    digit_runs(text)
        .iter()
        .any(|r| r.at_end && r.digits.len() >= CARD_START_DIGITS)
}

/// The first card number in `text`, masked: what an alert may show.
pub fn card_number_in(text: &str) -> Option<String> {
    let run = digit_runs(text)
        .into_iter()
        .find(|r| r.digits.len() >= CARD_MIN_DIGITS)?;
    let span = run.span();
    let shifted = DigitRun {
        digits: run
            .digits
            .iter()
            .map(|d| d.start - span.start..d.end - span.start)
            .collect(),
        at_end: run.at_end,
    };
    Some(mask_runs(&text[span], &[shifted]))
}

/// The digit run `text` ends with (separators after it allowed), if any: a card number read out over
/// two utterances is found by joining this to the next one.
pub fn trailing_digits(text: &str) -> Option<&str> {
    let run = digit_runs(text).into_iter().rfind(|r| r.at_end)?;
    Some(&text[run.span()])
}

fn mask_runs(text: &str, runs: &[DigitRun]) -> String {
    // Spans to mask, with how many digits each stands for ("double one" is two digits in one span).
    let mut masked: Vec<(Range<usize>, usize)> = Vec::new();
    for run in runs {
        let hide = run.digits.len().saturating_sub(KEEP_LAST);
        let mut i = 0;
        while i < run.digits.len() {
            let span = &run.digits[i];
            let n = run.digits[i..].iter().take_while(|d| *d == span).count();
            // A span holding a hidden digit is hidden whole.
            if i < hide {
                masked.push((span.clone(), n));
            }
            i += n;
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    let mut at = 0;
    for (span, n) in masked {
        out.push_str(&text[at..span.start]);
        out.extend(std::iter::repeat_n(MASK, n));
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

fn digit_value(c: char) -> bool {
    c.is_ascii_digit()
        || ('０'..='９').contains(&c)
        || matches!(
            c,
            '〇' | '零' | '一' | '二' | '三' | '四' | '五' | '六' | '七' | '八' | '九'
        )
}

fn ends_sentence(c: char) -> bool {
    matches!(c, '。' | '?' | '!' | '？' | '！' | '…')
}

fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '‐' | '–' | '—' | '.' | ',' | '、' | '，' | '・' | 'ー' | '－' | '．'
        )
}

/// English words for one digit; "oh" is how a zero is read.
fn is_digit_word(w: &str) -> bool {
    matches!(
        w,
        "zero" | "oh" | "one" | "two" | "three" | "four" | "five" | "six" | "seven" | "eight" | "nine"
    )
}

fn repeat_word(w: &str) -> Option<usize> {
    match w {
        "double" => Some(2),
        "triple" => Some(3),
        _ => None,
    }
}

fn digit_runs(text: &str) -> Vec<DigitRun> {
    let mut runs = Vec::new();
    let mut run: Vec<Range<usize>> = Vec::new();
    // "double"/"triple" seen: where it started and how many digits the next one stands for.
    let mut repeat: Option<(usize, usize)> = None;
    let close = |run: &mut Vec<Range<usize>>, runs: &mut Vec<DigitRun>| {
        if let Some(last) = run.last() {
            let at_end = text[last.end..]
                .chars()
                .all(|c| is_separator(c) || ends_sentence(c));
            runs.push(DigitRun {
                digits: std::mem::take(run),
                at_end,
            });
        }
    };
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let item = if digit_value(c) {
            Some(i..i + c.len_utf8())
        } else if c.is_ascii_alphabetic() {
            let mut end = i + 1;
            while let Some(&(j, d)) = chars.peek().filter(|(_, d)| d.is_ascii_alphanumeric()) {
                end = j + d.len_utf8();
                chars.next();
            }
            let word = text[i..end].to_ascii_lowercase();
            if let Some(n) = repeat_word(&word) {
                repeat = Some((i, n));
                continue;
            }
            is_digit_word(&word).then_some(i..end)
        } else if is_separator(c) {
            continue;
        } else {
            None
        };
        match item {
            Some(span) => {
                let (span, n) = match repeat.take() {
                    Some((start, n)) => (start..span.end, n),
                    None => (span, 1),
                };
                run.extend(std::iter::repeat_n(span, n));
            }
            None => {
                repeat = None;
                close(&mut run, &mut runs);
            }
        }
    }
    close(&mut run, &mut runs);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        let (out, found) = mask_card_numbers(text);
        assert_eq!(found, out != text, "{text:?} → {out:?}");
        out
    }

    #[test]
    fn card_numbers_as_whisper_writes_them_keep_the_last_four() {
        for (text, want) in [
            (
                "my card is 4111 1111 1111 1111.",
                "my card is •••• •••• •••• 1111.",
            ),
            ("4111-1111-1111-1234 expires", "••••-••••-••••-1234 expires"),
            ("It's 4111111111111111", "It's ••••••••••••1111"),
            ("378282246310005", "•••••••••••0005"),
            (
                "カードは４１１１　１１１１　１１１１　１１１１です",
                "カードは••••　••••　••••　１１１１です",
            ),
            (
                "四一一一、一一一一、一一一一、一一一一",
                "••••、••••、••••、一一一一",
            ),
        ] {
            assert_eq!(masked(text), want, "{text:?}");
        }
    }

    #[test]
    fn spoken_digits_and_repeats_count() {
        let text = "four one one one, one one one one, one one one one, one two three four";
        assert_eq!(masked(text), "• • • •, • • • •, • • • •, one two three four");
        // "double two" is two digits; when the last four start inside it, it is hidden whole.
        let text = "one two three four five six seven eight nine one double two three four five";
        let out = masked(text);
        assert_eq!(out, "• • • • • • • • • • •• three four five");
        assert!(looks_like_card_start("four one one one double one"));
    }

    #[test]
    fn order_and_phone_numbers_stay() {
        for text in [
            "my order number is 12345678",
            "order 1234567890 please",
            "call me on 090-1234-5678",
            "it's 03 1234 5678",
            "+81 90 1234 5678",
            "I paid 1,000 yen on 2024-05-01",
            "one of the two items, and one more",
            "注文番号は１２３４５６７８です",
        ] {
            assert_eq!(masked(text), text);
        }
    }

    #[test]
    fn a_card_number_being_read_out_is_seen_early() {
        assert!(looks_like_card_start("it's four one one one one one"));
        assert!(looks_like_card_start("the number is 4111 11"));
        assert!(looks_like_card_start("4111 1111, "));
        assert!(looks_like_card_start("４１１１、１１１１。"));
        assert!(!looks_like_card_start("4111 1"));
        assert!(!looks_like_card_start("order 12345678 and then"));
        assert_eq!(trailing_digits("it's 4111 1111"), Some("4111 1111"));
        assert_eq!(trailing_digits("4111 1111 thanks"), None);
    }

    #[test]
    fn an_alert_shows_only_the_masked_number() {
        assert_eq!(
            card_number_in("ok 4111 1111 1111 1111 yes").as_deref(),
            Some("•••• •••• •••• 1111")
        );
        assert_eq!(card_number_in("order 12345678"), None);
    }
}
