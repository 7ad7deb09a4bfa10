//! Spoken menu choices: which option's phrases a caller's words match best.
//!
//! A phrase matches when all its words occur in order in what was said, each said word starting with
//! the phrase's word ("deliver" matches "delivery", "order" matches "orders"); Japanese and other
//! scripts written without spaces match as substrings. The longest matching phrase wins, so "my bill
//! for the order" with phrases "order" and "bill for the order" picks the latter.

/// Lower case, punctuation to spaces, full-width forms folded (Whisper writes both).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match c {
            // Full-width ASCII (ｏｒｄｅｒ, ０１２) → ASCII.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        };
        if c.is_alphanumeric() || c == '\'' {
            out.extend(c.to_lowercase());
        } else if is_cjk_punct(c) || c.is_whitespace() || c.is_ascii_punctuation() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_cjk_punct(c: char) -> bool {
    matches!(c, '、' | '。' | '「' | '」' | '？' | '！' | '・' | '…' | '〜')
}

/// Whether the script is written without spaces between words.
fn unspaced(s: &str) -> bool {
    s.chars()
        .any(|c| matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF))
}

/// The length (in characters) of `phrase` if it matches `said`; both normalized.
fn phrase_match(said: &str, phrase: &str) -> Option<usize> {
    if phrase.is_empty() {
        return None;
    }
    if unspaced(phrase) {
        return said
            .replace(' ', "")
            .contains(&phrase.replace(' ', ""))
            .then(|| phrase.chars().count());
    }
    let words: Vec<&str> = said.split(' ').collect();
    let mut i = 0;
    for p in phrase.split(' ') {
        let found = words[i..].iter().position(|w| w.starts_with(p))?;
        i += found + 1;
    }
    Some(phrase.chars().count())
}

/// The best phrase of `candidates` (index of the candidate, the phrase) that `said` matches.
pub fn best<'a, I>(said: &str, candidates: I) -> Option<(usize, &'a str)>
where
    I: IntoIterator<Item = (usize, &'a str)>,
{
    let said = normalize(said);
    candidates
        .into_iter()
        .filter_map(|(i, p)| phrase_match(&said, &normalize(p)).map(|len| (len, i, p)))
        // Longest phrase first; on a tie, the earlier candidate.
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .map(|(_, i, p)| (i, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick<'a>(said: &str, phrases: &'a [(usize, &'a str)]) -> Option<(usize, &'a str)> {
        best(said, phrases.iter().copied())
    }

    #[test]
    fn words_in_order_with_prefixes() {
        let p = [(0, "order"), (1, "bill"), (2, "not working")];
        assert_eq!(pick("I want to check my orders, please.", &p), Some((0, "order")));
        assert_eq!(pick("My BILL is wrong!", &p), Some((1, "bill")));
        assert_eq!(
            pick("The app is not working at all", &p),
            Some((2, "not working"))
        );
        assert_eq!(pick("working, not really", &p), None, "order of words matters");
        assert_eq!(pick("Hello there", &p), None);
        assert_eq!(pick("", &p), None);
    }

    #[test]
    fn longest_phrase_wins() {
        let p = [(0, "order"), (1, "bill for the order")];
        assert_eq!(
            pick("a question about my bill for the order", &p),
            Some((1, "bill for the order"))
        );
    }

    #[test]
    fn japanese_as_substrings() {
        let p = [(0, "注文"), (1, "請求"), (2, "オペレーター")];
        assert_eq!(pick("注文した商品がまだ届きません。", &p), Some((0, "注文")));
        assert_eq!(pick("オペレーターと話したいです", &p), Some((2, "オペレーター")));
        assert_eq!(pick("こんにちは", &p), None);
    }

    #[test]
    fn normalizes_full_width_and_punctuation() {
        assert_eq!(normalize("  Ｏｒｄｅｒ、please!  "), "order please");
        assert_eq!(normalize("What's up?"), "what's up");
    }
}
